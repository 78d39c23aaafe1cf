"""The suite never touches the user's own graph: it runs a server of its own.

Without ``NEO4J_URI`` the session's server lives under ``.pytest-neo4j/`` (or
``PROVGRAPH_TEST_HOME``) on ports of its own, and every ``provgraph`` the tests run
resolves to it. ``.ci/run`` also compares the plans of the user's default server, when it
runs, before and after the whole suite.
"""

from __future__ import annotations

import os

import pytest

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from tests.conftest import test_home
from tests.integration.test_cli import run
from tests.support.servers import default_user_server


def test_the_suite_uses_a_server_of_its_own_not_the_users(neo4j_settings: ConnectionSettings) -> None:
    if not neo4j_settings.managed:
        pytest.skip("NEO4J_URI names the server the tests use")
    ours = ManagedServer()
    user = default_user_server()
    assert ours.home.is_relative_to(test_home())
    assert not ours.home.is_relative_to(user.home) and not user.home.is_relative_to(ours.home)
    assert {ours.settings.bolt_port, ours.settings.http_port}.isdisjoint(
        {user.settings.bolt_port, user.settings.http_port}
    )
    assert neo4j_settings.uri == ours.bolt_uri != user.bolt_uri
    # The user's config file is not read either: the suite has an empty one of its own.
    assert os.environ["PROVGRAPH_CONFIG"] == str(test_home() / "config.toml")

    status = run(["server", "status"], neo4j_settings)
    assert status.returncode == 0, status.stderr
    assert f"home:    {ours.home}" in status.stdout
    assert f"bolt:    {ours.bolt_uri}" in status.stdout
