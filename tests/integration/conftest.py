"""Integration tests: marked ``integration``; fixtures: clusterings cleaned up, a small demo repository, the server restarted."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance_graph.demo import make_demo_repo
from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from provenance_graph.store.clustering import delete_clustering, list_clusterings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def plans(store: GraphStore, namespace: str) -> Iterator[list[str]]:
    """Plan ids this test stores; their clusterings are deleted before the namespace's plans."""
    made: list[str] = []
    yield made
    for plan_id in made:
        for c in list_clusterings(store, plan_id):
            delete_clustering(store, plan_id, c.name)


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo repository of 1 visit x 2 detectors (a plan of 37 quanta), one per test module."""
    path = tmp_path_factory.mktemp("demo") / "repo"
    make_demo_repo(path, visits=1, detectors=2).close()
    return path


@pytest.fixture
def own_server(neo4j_settings: ConnectionSettings) -> Iterator[ManagedServer]:
    """The suite's managed server, for a test that stops or kills it; running again afterwards.

    Skips the test when ``NEO4J_URI`` points at another server.
    """
    if not neo4j_settings.managed:
        pytest.skip("stops the managed server; NEO4J_URI points at another one")
    server = ManagedServer()
    yield server
    if not server.status().running:
        server.start()
