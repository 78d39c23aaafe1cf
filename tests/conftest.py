"""Shared fixtures: one real Neo4j for the whole session, and isolated plan namespaces.

The database is chosen like this, once per session:

1. ``NEO4J_URI`` (with ``NEO4J_PASSWORD``...) set: that server.
2. Else a Docker engine answers: a throwaway Neo4j 5.26 container (testcontainers).
3. Else the managed local server, started if needed (the default on our machines).

Integration tests never share names: each gets its own plan ids and runs, and
deletes its plans afterwards.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from provenance_graph.settings import ConnectionSettings, connection_from_env
from provenance_graph.store import GraphStore, delete_plan, ensure_schema

NEO4J_IMAGE = "neo4j:5.26-community"


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

    server = ManagedServer()
    server.start()
    yield server.connection()


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
    """A unique prefix for this test's plan ids and runs; its plans are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield prefix
    rows = store.read("plan_list", include_incomplete=True)
    # Delete dependants first: plans are listed newest first.
    for row in rows:
        if row["id"].startswith(prefix):
            with contextlib.suppress(Exception):
                delete_plan(store, row["id"])
    store.autocommit("datasets_delete_orphans", run_prefix=prefix)


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


@pytest.fixture
def reliability() -> ReliabilityCounts:
    return ReliabilityCounts()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _RELIABILITY:
        terminalreporter.section("reliability counts")
        for what, n in sorted(_RELIABILITY.items()):
            terminalreporter.write_line(f"{what}: {n:,}")
