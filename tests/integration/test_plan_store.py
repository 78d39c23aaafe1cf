"""Storing plans in a real Neo4j: round trips, idempotence, conflicts, sharing, subgraphs."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from provenance_graph.errors import (
    DatasetTypeConflictError,
    PlanBusyError,
    PlanConflictError,
    PlanExistsError,
    PlanNotFoundError,
)
from provenance_graph.model import DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.store import (
    SCHEMA_VERSION,
    GraphStore,
    delete_plan,
    list_plans,
    plan_summary,
    read_plan,
    schema_version,
    write_plan,
)
from provenance_graph.synthetic import drp_plan


def small_plan(ns: str, name: str = "p", visits: int = 2, detectors: int = 3, **kw: object) -> PlanGraph:
    return drp_plan(
        visits,
        detectors,
        plan_id=f"{ns}-{name}",
        output_run=f"{ns}/{name}",
        raw_run=f"{ns}/raw",
        calib_run=f"{ns}/calib",
        **kw,  # type: ignore[arg-type]
    )


def reader_of_calexp(upstream: PlanGraph, ns: str) -> PlanGraph:
    """A one-quantum plan that reads one calexp the upstream plan produces."""
    calexp = next(r for r in upstream.datasets.values() if r.dataset_type.name == "calexp")
    out_type = DatasetType(name="calexpSummary", dimensions=list(calexp.dataset_type.dimensions))
    out = DatasetRef(dataset_type=out_type, data_id=calexp.data_id, run=f"{ns}/down")
    quantum = Quantum(
        task_label="summarize", data_id=calexp.data_id, run=f"{ns}/down", inputs=[calexp], outputs=[out]
    )
    return PlanGraph(Plan(id=f"{ns}-down", output_run=f"{ns}/down"), [quantum])


@contextlib.contextmanager
def held_by_live_process(store: GraphStore, plan_id: str) -> Iterator[int]:
    """Claim ``plan_id`` as if another live process on this host were writing it."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        store.write(
            "plan_claim",
            plan_id=plan_id,
            digest="other",
            token="someone-else",
            host=socket.gethostname(),
            pid=holder.pid,
        )
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def graph_counts(store: GraphStore, plan_id: str) -> tuple[int, int, int]:
    [row] = store.read("plan_element_counts", plan_id=plan_id)
    return int(row["quanta"]), int(row["datasets"]), int(row["edges"])


def test_schema_is_versioned_and_constrained(store: GraphStore) -> None:
    assert schema_version(store) == SCHEMA_VERSION
    with store.session() as session:
        constraints = {r["name"] for r in session.run("SHOW CONSTRAINTS YIELD name")}
        indexes = {r["name"] for r in session.run("SHOW INDEXES YIELD name")}
    assert {"plan_id", "quantum_id", "dataset_id", "dataset_type_key"} <= constraints
    assert "dataset_type_name" not in constraints, "dropped by v7: names are unique per repository"
    assert {
        "quantum_task",
        "dataset_type",
        "quantum_plan",
        "dataset_visit",
        "quantum_tract",
    } <= indexes


def test_round_trip_gives_back_an_equal_plan(store: GraphStore, namespace: str) -> None:
    graph = small_plan(namespace)
    result = write_plan(store, graph)
    assert result.outcome == "written"
    back = read_plan(store, graph.plan.id)
    assert back == graph
    assert back.digest() == graph.digest()
    assert graph_counts(store, graph.plan.id) == (len(graph), len(graph.datasets), graph.edge_count)
    summary = plan_summary(store, graph.plan.id)
    assert summary.task_counts == graph.task_counts()
    assert summary.initial_inputs == len(graph.initial_inputs())
    assert summary.final_outputs == len(graph.final_outputs())


def test_writing_the_same_plan_twice_is_idempotent(store: GraphStore, namespace: str) -> None:
    graph = small_plan(namespace)
    write_plan(store, graph)
    before = graph_counts(store, graph.plan.id)
    again = write_plan(store, graph)
    assert again.outcome == "unchanged"
    assert graph_counts(store, graph.plan.id) == before
    assert [p.id for p in list_plans(store, include_incomplete=True)].count(graph.plan.id) == 1


def test_a_different_plan_under_the_same_id_needs_replace(store: GraphStore, namespace: str) -> None:
    smaller = small_plan(namespace, detectors=2)
    write_plan(store, smaller)
    bigger = small_plan(namespace, detectors=4)
    with pytest.raises(PlanExistsError, match="already stored with different content: the stored") as refused:
        write_plan(store, bigger)
    assert (
        refused.value.differences[0] == f"the stored plan has {len(smaller)} quanta, this one {len(bigger)}"
    )
    assert refused.value.hint is not None and "replace=True" in refused.value.hint  # a Python caller's words
    assert write_plan(store, bigger, replace=True).outcome == "replaced"
    assert read_plan(store, bigger.plan.id) == bigger
    assert graph_counts(store, bigger.plan.id) == (
        len(bigger),
        len(bigger.datasets),
        bigger.edge_count,
    )


def test_pre_existing_datasets_shared_by_plans_are_stored_once(store: GraphStore, namespace: str) -> None:
    first, second = small_plan(namespace, "one"), small_plan(namespace, "two")
    write_plan(store, first)
    write_plan(store, second)
    shared = {r.id for r in first.initial_inputs()} & {r.id for r in second.initial_inputs()}
    assert shared, "both plans read the same raws and biases"
    rows = store.read("datasets_by_id", ids=sorted(shared))
    assert len(rows) == len(shared)
    with store.session() as session:
        readers = session.run(
            "UNWIND $ids AS i MATCH (d:Dataset {id: i})<-[:CONSUMES]-(q:Quantum) "
            "RETURN count(DISTINCT d) AS datasets, count(DISTINCT q.plan_id) AS plans",
            ids=sorted(shared),
        ).single()
    assert readers is not None
    assert readers["datasets"] == len(shared)
    assert readers["plans"] == 2


def test_a_dataset_has_at_most_one_producer(store: GraphStore, namespace: str) -> None:
    first = small_plan(namespace, "one")
    write_plan(store, first)
    rival = drp_plan(
        2,
        3,
        plan_id=f"{namespace}-rival",
        output_run=first.plan.output_run,
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    with pytest.raises(PlanConflictError, match="already exist.*produced by plan"):
        write_plan(store, rival)
    assert rival.plan.id not in [p.id for p in list_plans(store, include_incomplete=True)]
    assert graph_counts(store, rival.plan.id) == (0, 0, 0)
    with store.session() as session:
        worst = session.run(
            "MATCH (d:Dataset) WHERE d.run = $run "
            "RETURN max(COUNT { (d)<-[:PRODUCES]-(:Quantum) }) AS producers",
            run=first.plan.output_run,
        ).single()
    assert worst is not None
    assert worst["producers"] == 1


def test_conflicting_dataset_type_definition_is_refused(store: GraphStore, namespace: str) -> None:
    name = f"{namespace}Type"
    original = DatasetType(name=name, dimensions=["visit"], storage_class="A")
    changed = DatasetType(name=name, dimensions=["visit", "detector"], storage_class="A")

    def plan_with(t: DatasetType, suffix: str) -> PlanGraph:
        data_id = {d: 1 for d in t.dimensions}
        out = DatasetRef(dataset_type=t, data_id=data_id, run=f"{namespace}/{suffix}")
        quantum = Quantum(task_label="make", data_id=data_id, run=f"{namespace}/{suffix}", outputs=[out])
        return PlanGraph(Plan(id=f"{namespace}-{suffix}", output_run=f"{namespace}/{suffix}"), [quantum])

    write_plan(store, plan_with(original, "a"))
    with pytest.raises(DatasetTypeConflictError, match=f"'{name}' is registered in the database"):
        write_plan(store, plan_with(changed, "b"))
    # The refused plan left nothing, not even its claim.
    assert f"{namespace}-b" not in [p.id for p in list_plans(store, include_incomplete=True)]
    with store.session() as session:
        session.run("MATCH (t:DatasetType {name: $name}) DELETE t", name=name).consume()


def test_subgraph_by_task_and_data_id(store: GraphStore, namespace: str) -> None:
    graph = small_plan(namespace, visits=3, detectors=4)
    write_plan(store, graph)
    # Another plan over the same visits: quanta found through the visit index are still this plan's.
    write_plan(store, small_plan(namespace, "again", visits=3, detectors=4))
    sub = read_plan(
        store,
        graph.plan.id,
        tasks=["characterizeImage", "calibrate"],
        where={"visit": [1, 2], "detector": [0]},
    )
    expected = {
        q.id
        for q in graph.quanta.values()
        if q.task_label in ("characterizeImage", "calibrate")
        and q.data_id["visit"] in (1, 2)
        and q.data_id["detector"] == 0
    }
    assert set(sub.quanta) == expected
    assert len(expected) == 4
    for qid, quantum in sub.quanta.items():
        assert quantum == graph.quanta[qid]
    coadds = read_plan(store, graph.plan.id, tasks=["assembleCoadd"], where={"visit": [1]})
    assert len(coadds) == graph.task_counts()["assembleCoadd"], "a visit constraint does not apply to coadds"
    everything = read_plan(store, graph.plan.id, where={"visit": [1]})
    assert set(everything.quanta) == {
        q.id for q in graph.quanta.values() if q.data_id.to_dict().get("visit", 1) == 1
    }


def test_unknown_plan_gets_a_suggestion(store: GraphStore, namespace: str) -> None:
    graph = small_plan(namespace, "stored")
    write_plan(store, graph)
    with pytest.raises(PlanNotFoundError, match=f"did you mean '{namespace}-stored'"):
        read_plan(store, f"{namespace}-stroed")


def test_a_plan_being_written_by_a_live_process_is_busy(store: GraphStore, namespace: str) -> None:
    graph = small_plan(namespace)
    with held_by_live_process(store, graph.plan.id) as pid:
        with pytest.raises(PlanBusyError, match=f"being written by pid {pid}"):
            write_plan(store, graph)
        with pytest.raises(PlanNotFoundError, match="incomplete"):
            read_plan(store, graph.plan.id)
    result = write_plan(store, graph)
    assert result.outcome == "resumed"
    assert read_plan(store, graph.plan.id) == graph


def test_a_write_of_the_same_plan_waits_for_its_live_writer_and_takes_over_when_it_dies(
    store: GraphStore, namespace: str
) -> None:
    import threading

    graph = small_plan(namespace)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    store.write(
        "plan_claim",
        plan_id=graph.plan.id,
        digest=graph.digest(),  # the same plan: the write waits instead of refusing
        token="someone-else",
        host=socket.gethostname(),
        pid=holder.pid,
    )
    killed_at: list[float] = []

    def kill_holder() -> None:
        time.sleep(1.5)
        killed_at.append(time.monotonic())
        holder.kill()
        holder.wait()

    killer = threading.Thread(target=kill_holder)
    killer.start()
    result = write_plan(store, graph)
    finished = time.monotonic()
    killer.join()
    assert killed_at and finished > killed_at[0], "the write did not wait for the live writer"
    assert result.outcome == "resumed"
    assert read_plan(store, graph.plan.id) == graph


def test_delete_refuses_while_another_plan_reads_its_outputs(store: GraphStore, namespace: str) -> None:
    upstream = small_plan(namespace, "up")
    write_plan(store, upstream)
    downstream = reader_of_calexp(upstream, namespace)
    write_plan(store, downstream)
    with pytest.raises(PlanConflictError, match=f"plan\\(s\\) '{namespace}-down' read datasets"):
        delete_plan(store, upstream.plan.id)
    assert delete_plan(store, downstream.plan.id)
    assert delete_plan(store, upstream.plan.id)
    assert graph_counts(store, upstream.plan.id) == (0, 0, 0)


def test_values_with_quotes_and_keywords_are_stored_verbatim(store: GraphStore, namespace: str) -> None:
    nasty = 'HSC\'}) MATCH (n) DETACH DELETE n // `{x}` "RETURN"'
    graph = small_plan(namespace, instrument=nasty, skymap="map`; DROP")
    write_plan(store, graph)
    back = read_plan(store, graph.plan.id)
    assert back == graph
    assert {
        q.data_id["instrument"] for q in back.quanta.values() if "instrument" in q.data_id.dimensions
    } == {nasty}


def test_two_threads_racing_on_one_plan_store_it_once(store: GraphStore, namespace: str) -> None:
    import threading

    graph = small_plan(namespace, visits=6, detectors=10)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write() -> None:
        barrier.wait()
        try:
            outcomes.append(write_plan(store, graph).outcome)
        except PlanBusyError:
            outcomes.append("busy")

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The loser waits for the winner's write of the same plan, then finds it stored.
    assert sorted(outcomes) == ["unchanged", "written"]
    assert read_plan(store, graph.plan.id) == graph
    assert graph_counts(store, graph.plan.id) == (len(graph), len(graph.datasets), graph.edge_count)


def test_a_plan_may_not_read_outputs_of_an_unfinished_plan(store: GraphStore, namespace: str) -> None:
    upstream = small_plan(namespace, "up")
    write_plan(store, upstream)
    with store.session() as session:  # as if a replace of the upstream plan were under way
        session.run("MATCH (p:Plan {id: $id}) SET p.status = 'writing'", id=upstream.plan.id).consume()
    downstream = reader_of_calexp(upstream, namespace)
    with pytest.raises(
        PlanConflictError, match=f"produces but has not completed: calexp .*plan {upstream.plan.id}"
    ):
        write_plan(store, downstream)
    assert downstream.plan.id not in [p.id for p in list_plans(store, include_incomplete=True)]
    with store.session() as session:
        session.run("MATCH (p:Plan {id: $id}) SET p.status = 'complete'", id=upstream.plan.id).consume()
    assert write_plan(store, downstream).outcome == "written"


def test_delete_refuses_a_plan_a_live_process_is_writing(store: GraphStore, namespace: str) -> None:
    graph = small_plan(namespace)
    with (
        held_by_live_process(store, graph.plan.id),
        pytest.raises(PlanBusyError, match="wait for that write"),
    ):
        delete_plan(store, graph.plan.id)
    assert delete_plan(store, graph.plan.id)
    assert graph.plan.id not in [p.id for p in list_plans(store, include_incomplete=True)]


def test_a_newer_schema_version_is_refused_on_connect(store: GraphStore) -> None:
    from provenance_graph.errors import SchemaVersionError
    from provenance_graph.store import ensure_schema

    store.write("schema_version_set", version=SCHEMA_VERSION + 1, writer="a future provenance-graph")
    try:
        with pytest.raises(
            SchemaVersionError,
            match=f"schema version {SCHEMA_VERSION + 1}, newer than version {SCHEMA_VERSION}",
        ):
            ensure_schema(store)
    finally:
        store.write("schema_version_set", version=SCHEMA_VERSION, writer="tests")
    assert ensure_schema(store) == SCHEMA_VERSION


def test_an_older_schema_version_is_upgraded(store: GraphStore) -> None:
    from provenance_graph.store import ensure_schema

    # Version 6, not 0: rerunning step 1 over a version-7 database's data would try to
    # restore dataset_type_name, which v7 dropped (one name may have a definition per repository).
    with store.session() as session:
        session.run("DROP INDEX plan_repository").consume()
    store.write("schema_version_set", version=6, writer="an older provenance-graph")
    assert ensure_schema(store) == SCHEMA_VERSION
    assert schema_version(store) == SCHEMA_VERSION
    with store.session() as session:
        indexes = {r["name"] for r in session.run("SHOW INDEXES YIELD name")}
    assert "plan_repository" in indexes


def test_a_plan_deleted_while_it_is_read_is_reported(
    store: GraphStore, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = small_plan(namespace)
    write_plan(store, graph)
    original = store.read

    def read_then_delete(name: str, **params: object) -> list[dict[str, object]]:
        rows = original(name, **params)
        if name == "plan_quanta":  # another process deletes the plan between our reads
            monkeypatch.setattr(store, "read", original)
            delete_plan(store, graph.plan.id)
        return rows

    monkeypatch.setattr(store, "read", read_then_delete)
    with pytest.raises(PlanBusyError, match="replaced or deleted while it was being read"):
        read_plan(store, graph.plan.id)
