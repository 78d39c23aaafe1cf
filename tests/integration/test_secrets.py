"""No secret leaks: the password appears in no output, error, --cypher printout or log (issues 8 and 16).

A password written into the URI (``neo4j://user:password@host``) is refused, and shown
as ``***`` in the error and in every log line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import run
from tests.support.servers import free_port

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


@pytest.mark.parametrize(
    "secret",
    ["Zq8-SECRET-in-the-uri", "p@ss/w0rd-SECRET"],
    ids=["plain", "with-at-and-slash"],
)
def test_a_password_in_the_uri_is_never_printed_or_logged(
    neo4j_settings: ConnectionSettings, tmp_path: Path, reliability: ReliabilityCounts, secret: str
) -> None:
    bolt = int(neo4j_settings.uri.rpartition(":")[2]) if neo4j_settings.managed else free_port()
    closed = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[neo4j]\nuri = "neo4j://neo4j:{secret}@127.0.0.1:{closed}"\npassword = "wrong"\n')
    log_file = tmp_path / "provgraph.log"
    logging = ["--log-level", "DEBUG", "--log-level", "neo4j=DEBUG", "--log-file", str(log_file)]
    tries = [
        {"NEO4J_URI": f"neo4j://neo4j:{secret}@127.0.0.1:{closed}", "NEO4J_PASSWORD": "wrong"},
        {"NEO4J_URI": f"bolt://neo4j:{secret}@127.0.0.1:{closed}", "NEO4J_PASSWORD": "wrong"},
        {"NEO4J_URI": f"neo4j://neo4j:{secret}@127.0.0.1:{bolt}", "NEO4J_PASSWORD": "wrong"},
        {"NEO4J_URI": f"neo4j+s://neo4j:{secret}@127.0.0.1:{bolt}", "NEO4J_PASSWORD": "wrong"},
        {"PROVGRAPH_CONFIG": str(config)},
    ]
    texts = []
    for env in tries:
        done = run([*logging, "plans", "list"], neo4j_settings, **env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "holds a password" in done.stderr and "neo4j:***@127.0.0.1" in done.stderr, done.stderr
        texts += [done.stdout, done.stderr]
    texts.append(log_file.read_text())
    leaks = [t for t in texts if "SECRET" in t]  # nor any part of it
    reliability.count("secrets: outputs and logs searched", len(texts))
    reliability.count("secrets: leaks found", len(leaks))
    assert leaks == []
