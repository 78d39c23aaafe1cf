"""The one lease policy holds for each kind of long write: plans, executions, clusterings.

Each test plays another holder in the graph (a live process of this host, a killed one,
or a silent one on another host) and shows that a live holder is never taken over, that
a contender doing the same work waits for it, and that a dead holder's lease is taken over.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from provenance_graph.clustering import QuantumDag, cluster_quanta, load_clustering
from provenance_graph.errors import ClusteringError, DatabaseError, PlanBusyError
from provenance_graph.model import QuantumStatus
from provenance_graph.store import GraphStore, read_plan, write_plan
from provenance_graph.store.clustering import clustering_id, read_job_graph, write_clustering
from provenance_graph.store.execution import ExecutionRecord
from provenance_graph.store.status_counts import differences, write_counted
from tests.integration.test_batch_jobs import DEMO_RULES, stored_drp
from tests.integration.test_plan_store import small_plan
from tests.support.graph_checks import rows


@contextmanager
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """Another process of this host, alive until the block ends (or it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def kill_after(proc: subprocess.Popen[bytes], seconds: float, killed_at: list[float]) -> threading.Thread:
    def kill() -> None:
        time.sleep(seconds)
        killed_at.append(time.monotonic())
        proc.kill()
        proc.wait()

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def test_plan_write_a_silent_writer_on_another_host_is_busy_until_stale_then_taken_over(
    store: GraphStore, namespace: str
) -> None:
    graph = small_plan(namespace)
    store.write(
        "plan_claim", plan_id=graph.plan.id, digest="other", token="far-away", host="other-host", pid=1
    )
    with pytest.raises(PlanBusyError, match="being written by pid 1 on other-host"):
        write_plan(store, graph)
    rows(
        store,
        "MATCH (p:Plan {id: $p}) SET p.heartbeat = datetime() - duration({seconds: 30})",
        p=graph.plan.id,
    )
    assert write_plan(store, graph, stale_after=20).outcome == "resumed"
    assert read_plan(store, graph.plan.id) == graph


def test_executions_quanta_of_a_live_execution_are_kept_those_of_a_dead_one_given_back(
    store: GraphStore, namespace: str
) -> None:
    graph = small_plan(namespace)
    write_plan(store, graph)
    quanta = sorted(graph.quanta)[:4]
    with live_process() as other:
        other_id = str(uuid.uuid4())
        store.write(
            "execution_start",
            plan_id=graph.plan.id,
            execution_id=other_id,
            activator="test",
            host=socket.gethostname(),
            pid=other.pid,
            user="test",
            jobs=1,
            options_json="{}",
            software_json="{}",
            tasks_json="{}",
        )
        claimed = write_counted(
            store, "execution_claim", ids=quanta, execution_id=other_id, plan_id=graph.plan.id, retry=[]
        )
        assert len(claimed) == len(quanta)
        me = ExecutionRecord(store, graph.plan.id, "test", 1)
        assert me.repair() == 0, "a live execution's quanta were taken"
        other.kill()
        other.wait()
        assert me.repair() == len(quanta)
    statuses = {
        r["id"]: r["s"]
        for r in rows(
            store, "MATCH (q:Quantum) WHERE q.id IN $ids RETURN q.id AS id, q.status AS s", ids=quanta
        )
    }
    assert set(statuses.values()) <= {"pending", "failed", None}


def test_a_status_change_run_without_its_counts_is_refused_and_changes_nothing(
    store: GraphStore, namespace: str
) -> None:
    graph = small_plan(namespace)
    write_plan(store, graph)
    me = ExecutionRecord(store, graph.plan.id, "test", 1)
    me.start()
    try:
        some = sorted(graph.quanta)[:2]
        with pytest.raises(DatabaseError, match="execution_claim changes quanta's statuses"):
            store.write("execution_claim", ids=some, execution_id=me.id, plan_id=graph.plan.id, retry=[])
        assert me.statuses(some) == {q: (QuantumStatus.PENDING, None) for q in some}
        assert me.claim(some) == set(some)  # through ExecutionRecord: counted
        assert differences(store, graph.plan.id) == []
    finally:
        me.release_all("test over")
        me.close("interrupted", {})


def _claim_as(store: GraphStore, plan_id: str, name: str, digest: str, pid: int) -> None:
    store.write(
        "clustering_claim",
        plan_id=plan_id,
        clustering_id=clustering_id(plan_id, name),
        clustering_name=name,
        digest=digest,
        token=uuid.uuid4().hex,
        host=socket.gethostname(),
        pid=pid,
    )


def test_clustering_a_live_writer_of_other_jobs_is_not_taken_over(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans)
    jobs = cluster_quanta(QuantumDag.from_plan(graph), load_clustering(DEMO_RULES))
    with live_process() as other:
        _claim_as(store, graph.plan.id, jobs.name, "other-jobs", other.pid)
        with pytest.raises(
            ClusteringError, match=f"is being written with other batch jobs by pid {other.pid}"
        ):
            write_clustering(store, jobs)
    # Once that writer is gone, its clustering is taken over.
    assert write_clustering(store, jobs).outcome == "resumed"
    assert read_job_graph(store, graph.plan.id, jobs.name).jobs == jobs.jobs


def test_clustering_a_write_of_the_same_jobs_waits_for_its_live_writer(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans)
    jobs = cluster_quanta(QuantumDag.from_plan(graph), load_clustering(DEMO_RULES))
    with live_process() as other:
        _claim_as(store, graph.plan.id, jobs.name, jobs.digest(), other.pid)
        killed_at: list[float] = []
        killer = kill_after(other, 1.5, killed_at)
        written = write_clustering(store, jobs)
        finished = time.monotonic()
        killer.join()
    assert killed_at and finished > killed_at[0], "the write did not wait for the live writer"
    assert written.outcome == "resumed"
    assert read_job_graph(store, graph.plan.id, jobs.name).jobs == jobs.jobs
