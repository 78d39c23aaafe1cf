"""The in-memory plan graph: producers, consumers, derived dependencies, and the checks made when it is built."""

from __future__ import annotations

import datetime as dt

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance_graph.errors import (
    DatasetTypeConflictError,
    DuplicateProducerError,
    PlanCycleError,
    PlanError,
)
from provenance_graph.model import DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.synthetic import DRP_TASKS, drp_plan, drp_quantum_count

A = DatasetType(name="a", dimensions=["visit"])
B = DatasetType(name="b", dimensions=["visit"])
C = DatasetType(name="c", dimensions=["visit"])


def ref(t: DatasetType, visit: int, run: str = "out") -> DatasetRef:
    return DatasetRef(dataset_type=t, data_id={"visit": visit}, run=run)


def q(label: str, visit: int, inputs: list[DatasetRef], outputs: list[DatasetRef]) -> Quantum:
    return Quantum(task_label=label, data_id={"visit": visit}, run="out", inputs=inputs, outputs=outputs)


def test_producers_consumers_inputs_and_outputs() -> None:
    a, b, c = ref(A, 1, "in"), ref(B, 1), ref(C, 1)
    first, second = q("first", 1, [a], [b]), q("second", 1, [b], [c])
    graph = PlanGraph(Plan(output_run="out"), [second, first])
    assert graph.producer(a.id) is None
    assert graph.producer(b.id) == first
    assert graph.consumers(b.id) == [second]
    assert graph.initial_inputs() == [a]
    assert graph.final_outputs() == [c]
    assert graph.parents(second.id) == {first.id}
    assert graph.children(first.id) == {second.id}
    assert [x.task_label for x in graph.in_order()] == ["first", "second"]
    assert graph.edge_count == 4


def test_two_producers_of_one_dataset_are_named() -> None:
    b = ref(B, 1)
    with pytest.raises(DuplicateProducerError) as info:
        PlanGraph(Plan(output_run="out"), [q("one", 1, [], [b]), q("two", 1, [], [b])])
    assert "b (visit=1)" in str(info.value)
    assert "one (visit=1)" in str(info.value)
    assert "two (visit=1)" in str(info.value)


def test_a_cycle_is_named() -> None:
    a, b = ref(A, 1), ref(B, 1)
    with pytest.raises(PlanCycleError, match="cycle: .*(first|second).*->"):
        PlanGraph(Plan(output_run="out"), [q("first", 1, [a], [b]), q("second", 1, [b], [a])])


def test_one_dataset_type_with_two_definitions_is_rejected() -> None:
    other_a = DatasetType(name="a", dimensions=["visit"], storage_class="Other")
    with pytest.raises(DatasetTypeConflictError, match="'a' has two definitions"):
        PlanGraph(
            Plan(output_run="out"),
            [
                q("one", 1, [ref(A, 1, "in")], [ref(B, 1)]),
                q("two", 1, [ref(other_a, 1, "in")], [ref(C, 1)]),
            ],
        )


def test_quanta_must_write_to_the_plan_run() -> None:
    with pytest.raises(PlanError, match="not the plan's output run"):
        PlanGraph(Plan(output_run="elsewhere"), [q("one", 1, [], [ref(B, 1)])])
    with pytest.raises(PlanError, match="appears twice"):
        PlanGraph(Plan(output_run="out"), [q("one", 1, [], [ref(B, 1)]), q("one", 1, [], [ref(B, 1)])])


def _independent_quantum_dag(graph: PlanGraph) -> nx.DiGraph:
    """Quantum dependencies computed from scratch with networkx: a bipartite graph, then projected."""
    bipartite = nx.DiGraph()
    for quantum in graph.quanta.values():
        for r in quantum.inputs:
            bipartite.add_edge(("d", r.id), ("q", quantum.id))
        for r in quantum.outputs:
            bipartite.add_edge(("q", quantum.id), ("d", r.id))
    dag = nx.DiGraph()
    dag.add_nodes_from(graph.quanta)
    for kind, dataset in list(bipartite.nodes):
        if kind != "d":
            continue
        for producer in bipartite.predecessors((kind, dataset)):
            for consumer in bipartite.successors((kind, dataset)):
                dag.add_edge(producer[1], consumer[1])
    return dag


@settings(max_examples=15, deadline=None)
@given(
    visits=st.integers(1, 5),
    detectors=st.integers(1, 6),
    tracts=st.integers(1, 3),
    patches=st.integers(1, 5),
    bands=st.integers(1, 3),
)
def test_synthetic_drp_plan_matches_an_independent_computation(
    visits: int, detectors: int, tracts: int, patches: int, bands: int
) -> None:
    graph = drp_plan(visits, detectors, tracts=tracts, patches=patches, bands=bands)
    assert len(graph) == drp_quantum_count(visits, detectors, tracts=tracts, patches=patches, bands=bands)
    counts = graph.task_counts()
    for per_detector in ("isr", "characterizeImage", "calibrate", "transformSourceTable"):
        assert counts[per_detector] == visits * detectors
    assert set(counts) <= set(DRP_TASKS)
    dag = _independent_quantum_dag(graph)
    assert nx.is_directed_acyclic_graph(dag)
    for qid in graph.quanta:
        assert graph.parents(qid) == set(dag.predecessors(qid))
        assert graph.children(qid) == set(dag.successors(qid))
    position = {qid: i for i, qid in enumerate(x.id for x in graph.in_order())}
    assert all(position[u] < position[v] for u, v in dag.edges)
    read = {r.id for x in graph.quanta.values() for r in x.inputs}
    written = {r.id for x in graph.quanta.values() for r in x.outputs}
    assert {r.id for r in graph.initial_inputs()} == read - written
    assert {r.id for r in graph.final_outputs()} == written - read
    assert {r.dataset_type.name for r in graph.initial_inputs()} == {"raw", "bias"}


def test_digest_changes_with_content_only() -> None:
    one = drp_plan(2, 3, plan_id="p")
    same = PlanGraph(one.plan, list(one.quanta.values())[::-1])
    assert one.digest() == same.digest()
    assert one == same
    other = drp_plan(2, 4, plan_id="p")
    assert one.digest() != other.digest()
    # Planned again later: the same content, so the same digest (created is not content).
    later = PlanGraph(one.plan.model_copy(update={"created": one.plan.created + dt.timedelta(hours=1)}),
                      list(one.quanta.values()))  # fmt: skip
    assert later.digest() == one.digest()


def test_a_plans_execution_state_comes_from_its_quanta_and_live_executions() -> None:
    from provenance_graph.store.plan_read import execution_state

    assert execution_state(quanta=10, failed=0, done=0, running=0) == "pending"
    assert execution_state(quanta=10, failed=0, done=4, running=0) == "pending"  # stopped part-way
    assert execution_state(quanta=10, failed=0, done=4, running=1) == "running"
    assert execution_state(quanta=10, failed=2, done=8, running=1) == "running"
    assert execution_state(quanta=10, failed=1, done=5, running=0) == "failed"
    assert execution_state(quanta=10, failed=0, done=10, running=0) == "succeeded"
    assert execution_state(quanta=0, failed=0, done=0, running=0) == "pending"
