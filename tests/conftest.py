"""Shared fixtures: one real Neo4j for the whole session, and isolated plan namespaces.

The database is chosen like this, once per session:

1. ``NEO4J_URI`` (with ``NEO4J_PASSWORD``...) set: that server. The tests write and delete
   plans of their own there, and ``test_database_restart`` is skipped.
2. Else a Docker engine answers: a throwaway Neo4j 5.26 container (testcontainers).
3. Else a managed server of the suite's own, never the user's: its home is
   ``.pytest-neo4j/`` in the checkout (``PROVGRAPH_TEST_HOME`` moves it), on loopback ports
   of its own, with a config file of its own, so a user's default server, its plans and
   their ``config.toml`` are never touched. The suite sets ``PROVGRAPH_HOME``,
   ``PROVGRAPH_*_PORT`` and ``PROVGRAPH_CONFIG`` for itself and for every ``provgraph``
   it runs. A session that started that server stops it at the end, unless
   ``PROVGRAPH_TEST_KEEP_SERVER=1`` (handy while developing: the next session reuses it).

``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``). Each
worker has a managed server of its own, under ``.pytest-neo4j/gw0``, ``gw1`` ..., with jars
hard-linked from one assembled once by the controller. The tests of a module stay on one
worker (they share module fixtures), and every test that submits to the tests' Slurm
(marked ``slurm``) runs on the same worker, since the cluster is one per machine.

Integration tests never share names: each gets its own plan ids and runs, and
deletes its plans afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from provenance_graph.settings import ConnectionSettings, connection_from_env
from provenance_graph.store import GraphStore, delete_plan, ensure_schema
from provenance_graph.store.status_counts import differences

NEO4J_IMAGE = "neo4j:5.26-community"
ROOT = Path(__file__).resolve().parents[1]
#: The managed server's settings that the suite sets for itself (and its subprocesses).
_SERVER_VARS = (
    "PROVGRAPH_HOME",
    "PROVGRAPH_BOLT_PORT",
    "PROVGRAPH_HTTP_PORT",
    "PROVGRAPH_NEO4J_HEAP",
    "PROVGRAPH_NEO4J_PAGECACHE",
    "PROVGRAPH_BOLT_TLS",
    "PROVGRAPH_CONFIG",
)


def _suite_home() -> Path:
    """The directory of the suite's managed servers: ``.pytest-neo4j`` or ``PROVGRAPH_TEST_HOME``."""
    return Path(os.environ.get("PROVGRAPH_TEST_HOME") or ROOT / ".pytest-neo4j").resolve()


def test_home() -> Path:
    """Where this process keeps its own managed server: never the user's default home.

    The suite's home itself, or a directory of its per pytest-xdist worker (``gw0``...).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _suite_home() / worker if worker else _suite_home()


def _test_server_ports(home: Path) -> tuple[int, int]:
    """The suite server's Bolt and HTTP ports: kept in ``ports.json`` while they stay usable.

    A server of an earlier session that is still running keeps its ports; otherwise ports
    another program has taken since are replaced by free ones.
    """
    from provenance_graph.server import ManagedServer
    from provenance_graph.settings import ServerSettings
    from tests.support.servers import free_port, port_free

    record = home / "ports.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        ports = json.loads(record.read_text())
        bolt, http = int(ports["bolt"]), int(ports["http"])
        server = ManagedServer(ServerSettings(home=home / "neo4j", bolt_port=bolt, http_port=http))
        if server.status().running or (port_free(bolt) and port_free(http)):
            return bolt, http
    bolt, http = free_port(), free_port()
    while http == bolt:
        http = free_port()
    home.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"bolt": bolt, "http": http}) + "\n")
    return bolt, http


def pytest_configure(config: pytest.Config) -> None:
    """Point the managed server at the suite's own home and ports, unless NEO4J_URI is set.

    Done before any test runs, so fixtures, in-process commands and ``provgraph``
    subprocesses all see the suite's server, never the user's default one. QuantumGraphs
    that ``provgraph plan`` keeps by default go to a directory of the session's, never
    the user's data directory.
    """
    os.environ["PROVGRAPH_QGRAPH_DIR"] = tempfile.mkdtemp(prefix="provgraph-test-qgraphs-")
    if os.environ.get("NEO4J_URI"):
        return
    home = test_home()
    bolt, http = _test_server_ports(home)
    for var in _SERVER_VARS:
        os.environ.pop(var, None)
    config_file = home / "config.toml"
    config_file.write_text(
        "# The test suite's own (empty) provenance-graph config: no [neo4j], no [server].\n"
    )
    os.environ |= {
        "PROVGRAPH_HOME": str(home / "neo4j"),
        "PROVGRAPH_BOLT_PORT": str(bolt),
        "PROVGRAPH_HTTP_PORT": str(http),
        "PROVGRAPH_NEO4J_HEAP": "1g",
        "PROVGRAPH_NEO4J_PAGECACHE": "1g",
        "PROVGRAPH_CONFIG": str(config_file),
    }


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With ``-n``, assemble the managed server's jars once, before the workers start.

    Each worker's server then hard-links them rather than running Maven, several at once,
    into one local repository.
    """
    config = session.config
    if os.environ.get("NEO4J_URI") or hasattr(config, "workerinput"):
        return
    if not config.pluginmanager.hasplugin("xdist") or not config.getoption("numprocesses", None):
        return
    if _docker_answers():
        return
    from provenance_graph.server import ManagedServer
    from provenance_graph.settings import ServerSettings
    from tests.support.servers import default_user_server, reuse_assembled_jars

    shared = ManagedServer(ServerSettings(home=_suite_home() / "jars"))
    reuse_assembled_jars(
        shared.home, ManagedServer(ServerSettings(home=_suite_home() / "neo4j")), default_user_server()
    )
    shared.assemble()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group the tests for ``--dist loadgroup``: a module's tests together, Slurm's on one worker.

    A test may name its own ``xdist_group`` (a long module split in parts); one marked
    ``slurm`` always joins the ``slurm`` group.
    """
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(item.path.name))


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def neo4j_settings() -> Iterator[ConnectionSettings]:
    """Connection settings of the session's real Neo4j server."""
    configured = connection_from_env() if os.environ.get("NEO4J_URI") else None
    if configured is not None:
        yield configured
        return
    if _docker_answers():
        from testcontainers.neo4j import Neo4jContainer

        password = uuid.uuid4().hex
        container = Neo4jContainer(NEO4J_IMAGE, password=password).with_env("NEO4J_PLUGINS", '["apoc"]')
        with container:
            yield ConnectionSettings(
                uri=container.get_connection_url(), password=SecretStr(password), database="neo4j"
            )
        return
    from provenance_graph.server import ManagedServer
    from provenance_graph.settings import ServerSettings, server_settings

    server = ManagedServer(server_settings(create_home=True))  # as `provgraph server start` does
    assert server.home.is_relative_to(test_home()), f"the suite would use {server.home}, not its own server"
    started = not server.status().running
    if started:
        from tests.support.servers import default_user_server, reuse_assembled_jars

        shared_jars = ManagedServer(ServerSettings(home=_suite_home() / "jars"))
        reuse_assembled_jars(server.home, shared_jars, default_user_server())
    server.start()
    yield server.connection()
    if started and os.environ.get("PROVGRAPH_TEST_KEEP_SERVER") != "1":
        server.stop()


@pytest.fixture(scope="session")
def store(neo4j_settings: ConnectionSettings) -> Iterator[GraphStore]:
    """A `GraphStore` on the session's database, with the schema in place."""
    graph_store = GraphStore(neo4j_settings)
    graph_store.verify()
    ensure_schema(graph_store)
    yield graph_store
    graph_store.close()


@pytest.fixture
def namespace(store: GraphStore) -> Iterator[str]:
    """A unique prefix for this test's plan ids and runs; its plans are deleted afterwards.

    Before they are, the status counts written for each complete plan (schema v14) are
    checked against its quanta: whatever the test ran, they must agree.
    """
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    rows = [r for r in store.read("plan_list", include_incomplete=True) if r["id"].startswith(prefix)]
    wrong = {r["id"]: differences(store, r["id"]) for r in rows if r["status"] == "complete"}
    # Delete dependants first: plans are listed newest first.
    for row in rows:
        with contextlib.suppress(Exception):
            delete_plan(store, row["id"])
    store.autocommit("datasets_delete_orphans", run_prefix=prefix)
    wrong = {plan: found for plan, found in wrong.items() if found}
    assert not wrong, f"written status counts disagree with the quanta: {wrong}"


# --- reliability counts ------------------------------------------------------------------
# Tests marked ``reliability`` add what they tried and what they found to these counters
# (``reliability.count("inputs fuzzed", n)``); the totals close the pytest report.

_RELIABILITY: dict[str, int] = {}
_RELIABILITY_LOCK = threading.Lock()


class ReliabilityCounts:
    """What the reliability tests tried and found, summed over the session (from any thread)."""

    def count(self, what: str, n: int = 1) -> None:
        with _RELIABILITY_LOCK:
            _RELIABILITY[what] = _RELIABILITY.get(what, 0) + n

    def count_all(self, counts: dict[str, int]) -> None:
        for what, n in counts.items():
            self.count(what, n)


@pytest.fixture
def reliability() -> ReliabilityCounts:
    return ReliabilityCounts()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand this worker's reliability counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["reliability"] = dict(_RELIABILITY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On the pytest-xdist controller: add up the counts of a worker that finished."""
    counts: dict[str, int] = getattr(node, "workeroutput", {}).get("reliability", {})
    ReliabilityCounts().count_all(counts)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _RELIABILITY:
        terminalreporter.section("reliability counts")
        for what, n in sorted(_RELIABILITY.items()):
            terminalreporter.write_line(f"{what}: {n:,}")
