"""No secret leaks (issue 8, item 6): the password appears in no output, error, --cypher printout or log."""

from __future__ import annotations

import pytest

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import run

pytestmark = pytest.mark.reliability


def test_the_password_is_never_printed_or_logged(
    store: GraphStore, neo4j_settings: ConnectionSettings, reliability: ReliabilityCounts
) -> None:
    secret = neo4j_settings.password.get_secret_value()
    assert len(secret) >= 8
    commands = [
        ["plans", "list"],
        ["query", "overview", "no-such-plan", "--cypher"],
        ["query", "overview", "no-such-plan"],  # an error
        ["query", "history", "visit=1", "--cypher"],
        ["query", "lineage", "no-such-dataset", "--json", "--cypher"],
        ["server", "status"],
        ["browse", "--no-open"],
    ]
    outputs = [run(args, neo4j_settings) for args in commands]
    wrong = run(["plans", "list"], neo4j_settings, NEO4J_PASSWORD=secret[::-1], NEO4J_URI=neo4j_settings.uri)
    outputs.append(wrong)
    assert wrong.returncode == 1 and "wrong user name or password" in wrong.stderr
    texts = [o.stdout + o.stderr for o in outputs]
    if neo4j_settings.managed:
        server = ManagedServer()
        texts += [server.log_tail(10_000, name) for name in ("neo4j.log", "debug.log", "console.log")]
    leaks = [t for t in texts if secret in t or secret[::-1] in t]
    reliability.count("secrets: outputs and logs searched", len(texts))
    reliability.count("secrets: leaks found", len(leaks))
    assert leaks == []
