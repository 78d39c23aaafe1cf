"""The reads behind the pictures of `provenance_graph.viz`: the queries of ``cypher/viz.cypher``, typed.

Roll-ups are counted in the server (`plan_flow`, `plan_dataset_types`,
`lineage_flow`), so a picture of a 10^5-quantum plan costs one row per (task,
relationship, dataset type), not a transfer of the plan. Quantum-level pictures
read the relationships (`quantum_edges`) and the statuses (`quantum_states`) of what
they draw. Each function returns frozen dataclasses; how a picture looks is
`provenance_graph.viz`'s business, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from provenance_graph.store.connection import GraphStore

__all__ = [
    "Flow",
    "QuantumEdge",
    "QuantumState",
    "Relation",
    "TypeCount",
    "lineage_flow",
    "plan_dataset_types",
    "plan_flow",
    "quantum_edges",
    "quantum_states",
]

Relation = Literal["PRODUCES", "CONSUMES"]
"""A relationship between a quantum and a dataset, as the graph names it."""


@dataclass(frozen=True)
class Flow:
    """How many relationships of one kind join the quanta of one task label to datasets of one type."""

    task: str
    """The task label."""
    rel: Relation
    """``PRODUCES`` (quanta to datasets) or ``CONSUMES`` (datasets read by quanta)."""
    dataset_type: str
    """The dataset type's name."""
    edges: int
    """How many such relationships."""


@dataclass(frozen=True)
class TypeCount:
    """The datasets of one type in a picture, and how many of them exist."""

    dataset_type: str
    """The dataset type's name."""
    datasets: int
    """How many distinct datasets of that type."""
    existing: int
    """How many of them exist (were produced, or found in a repository)."""


@dataclass(frozen=True)
class QuantumEdge:
    """One relationship between a quantum and a dataset."""

    quantum: str
    """The quantum's id."""
    rel: Relation
    """``PRODUCES`` or ``CONSUMES``; either way it points from the quantum to the dataset."""
    dataset: str
    """The dataset's id."""


@dataclass(frozen=True)
class QuantumState:
    """A quantum as a picture captions and colours it."""

    id: str
    """The quantum's id."""
    task: str
    """Its task label."""
    data_id: str
    """Its data ID, canonical JSON."""
    status: str
    """Its status; ``pending`` when none is recorded."""


def _flows(rows: list[dict[str, Any]]) -> list[Flow]:
    return [Flow(r["task"], r["rel"], r["dataset_type"], int(r["edges"])) for r in rows]


def plan_flow(store: GraphStore, plan_id: str) -> list[Flow]:
    """A plan's task-level flow (``plan_rollup_flow``), ordered by task, relationship and type."""
    return _flows(store.read("plan_rollup_flow", plan_id=plan_id))


def plan_dataset_types(store: GraphStore, plan_id: str) -> list[TypeCount]:
    """Each dataset type a plan reads or writes, with its datasets counted (``plan_rollup_types``)."""
    return [
        TypeCount(r["dataset_type"], int(r["datasets"]), int(r["existing"]))
        for r in store.read("plan_rollup_types", plan_id=plan_id)
    ]


def lineage_flow(store: GraphStore, quantum_ids: Sequence[str], dataset_ids: Sequence[str]) -> list[Flow]:
    """The task-level flow among some quanta and datasets (``lineage_rollup_flow``)."""
    return _flows(
        store.read("lineage_rollup_flow", quantum_ids=list(quantum_ids), dataset_ids=list(dataset_ids))
    )


def quantum_edges(
    store: GraphStore, quantum_ids: Sequence[str], dataset_ids: Sequence[str]
) -> list[QuantumEdge]:
    """The relationships between some quanta and some datasets (``quantum_level_edges``)."""
    rows = store.read("quantum_level_edges", quantum_ids=list(quantum_ids), dataset_ids=list(dataset_ids))
    return [QuantumEdge(r["quantum"], r["rel"], r["dataset"]) for r in rows]


def quantum_states(store: GraphStore, ids: Sequence[str]) -> list[QuantumState]:
    """Task, data ID and status of each of some quanta that are in the graph (``quanta_by_id``)."""
    rows = store.read("quanta_by_id", ids=list(ids))
    return [QuantumState(r["id"], r["task"], r["data_id"], r["status"]) for r in rows]
