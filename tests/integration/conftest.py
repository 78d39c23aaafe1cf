"""Integration tests: marked ``integration``; fixtures: clusterings cleaned up, a small demo repository,
a demo run with failures, the server restarted, the tests' Slurm cluster."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance_graph.demo import make_demo_repo
from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from provenance_graph.store.clustering import delete_clustering, list_clusterings
from tests.support.bad_bias import run_with_bad_bias
from tests.support.slurm import SlurmCluster, SlurmError


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


@pytest.fixture(scope="session")
def bad_bias_plan(
    neo4j_settings: ConnectionSettings, store: GraphStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A demo plan run by ``provgraph run``, the isr quanta of one detector failed (a corrupt bias).

    One per session (about a minute to run): the API's tests and the explorer page's read it.
    """
    plan = run_with_bad_bias(tmp_path_factory.mktemp("bad-bias"), neo4j_settings, "bad-bias")
    try:
        yield plan
    finally:
        with contextlib.suppress(Exception):
            delete_plan(store, plan)
        store.autocommit("datasets_delete_orphans", run_prefix=plan)


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


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """The tests' single-node Slurm on this machine (``tests/support/slurm.py``), taking jobs.

    Started when it is not running, and then stopped at the end of the session (unless
    ``PROVGRAPH_TEST_KEEP_SLURM=1``); one already running (``python -m tests.support.slurm
    start``) is used and left running. ``SLURM_CONF`` points every Slurm command of the
    session, and of its subprocesses, at it. Without Slurm installed the tests fail: they
    are part of the suite (``make test`` installs it, as root).
    """
    cluster = SlurmCluster()
    try:
        started = cluster.start(timeout=180)
    except SlurmError as err:
        pytest.fail(f"the tests' Slurm cluster did not start: {err}", pytrace=False)
    saved = {var: os.environ.get(var) for var in cluster.env()}
    os.environ.update(cluster.env())
    yield cluster
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    if started and os.environ.get("PROVGRAPH_TEST_KEEP_SLURM") != "1":
        cluster.stop()
