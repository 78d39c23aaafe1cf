"""Questions about whole plans, answered in the graph: overview, subgraphs, diffs, planned against actual.

- `plan_overview` and `plan_task_statuses`: initial inputs, final outputs and quanta by
  task and status;
- `find_datasets` and `pick_dataset`: a plan's datasets of one type;
- `subgraph`: quanta by task labels and data-ID values, with their external inputs;
- `plan_diff`: quanta added, removed or changed between two plans;
- `missing_outputs` and `data_id_history`: planned against actual;
- `recorded_plan`: a plan (or subgraph) with what was recorded of its execution,
  what an export needs (`provenance_graph.export` turns it into W3C PROV).

Each function runs named queries of ``cypher/provenance.cypher`` (listed in
`store.provenance.QUERIES`) and returns plain, typed results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provenance_graph.errors import PlanNotFoundError, QuestionError
from provenance_graph.model import DimensionValue, PlanGraph
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.datasets import DatasetFacts, dataset_facts
from provenance_graph.store.execution import attempts
from provenance_graph.store.plan_read import read_plan

__all__ = [
    "PlanDiff",
    "PlanOverview",
    "RecordedPlan",
    "Subgraph",
    "data_id_history",
    "find_datasets",
    "missing_outputs",
    "pick_dataset",
    "plan_diff",
    "plan_overview",
    "plan_task_statuses",
    "recorded_plan",
    "subgraph",
]


@dataclass(frozen=True)
class PlanOverview:
    """A plan at a glance."""

    plan_id: str
    tasks: dict[str, dict[str, int]]
    """``{task: {status: quanta}}``."""
    initial_inputs: dict[str, tuple[int, int]]
    """``{dataset type: (datasets, of which exist)}`` the plan reads and does not produce."""
    final_outputs: dict[str, tuple[int, int]]
    """``{dataset type: (datasets, of which exist)}`` the plan produces and does not read."""


def plan_task_statuses(store: GraphStore, plan_id: str) -> dict[str, dict[str, int]]:
    """``{task: {status: quanta}}`` of a stored plan, tasks sorted."""
    if not store.read("plan_header", plan_id=plan_id):
        raise PlanNotFoundError(
            f"no plan {plan_id!r} is stored", hint="list the stored plans with 'provgraph plans list'"
        )
    tasks: dict[str, dict[str, int]] = {}
    for r in store.read("plan_overview_tasks", plan_id=plan_id):
        tasks.setdefault(r["task"], {})[r["status"]] = r["quanta"]
    return dict(sorted(tasks.items()))


def plan_overview(store: GraphStore, plan_id: str) -> PlanOverview:
    """Initial inputs, final outputs, and quanta per task and status of a complete plan."""
    tasks = plan_task_statuses(store, plan_id)
    inputs = {
        r["dataset_type"]: (r["datasets"], r["existing"])
        for r in store.read("plan_overview_inputs", plan_id=plan_id)
    }
    outputs = {
        r["dataset_type"]: (r["datasets"], r["existing"])
        for r in store.read("plan_overview_outputs", plan_id=plan_id)
    }
    return PlanOverview(
        plan_id,
        tasks,
        dict(sorted(inputs.items())),
        dict(sorted(outputs.items())),
    )


def find_datasets(
    store: GraphStore, dataset_type: str, data_id: str, run: str | None = None
) -> list[dict[str, Any]]:
    """Datasets of a type at a data ID (canonical JSON), in every run or one."""
    return store.read("dataset_find", dataset_type=dataset_type, data_id=data_id, run=run)


def pick_dataset(store: GraphStore, plan_id: str, dataset_type: str) -> dict[str, Any] | None:
    """One dataset of a type that a plan produces (the first by data ID), or None."""
    rows = store.read("plan_pick_dataset", plan_id=plan_id, dataset_type=dataset_type)
    return rows[0] if rows else None


@dataclass(frozen=True)
class Subgraph:
    """Part of a plan, as an Activator pulls it to plan against."""

    graph: PlanGraph
    """The quanta selected, with their datasets."""
    external_inputs: dict[str, int]
    """``{dataset type: datasets}`` the selected quanta read and do not produce themselves."""


def subgraph(
    store: GraphStore,
    plan_id: str,
    tasks: Sequence[str] | None = None,
    where: Mapping[str, Sequence[DimensionValue]] | None = None,
) -> Subgraph:
    """Quanta of a plan by task labels and data-ID values, with their external inputs."""
    graph = read_plan(store, plan_id, tasks=tasks, where=where)
    external: dict[str, int] = {}
    for ref in graph.initial_inputs():
        external[ref.dataset_type.name] = external.get(ref.dataset_type.name, 0) + 1
    return Subgraph(graph, dict(sorted(external.items())))


@dataclass(frozen=True)
class PlanDiff:
    """How plan ``new`` differs from plan ``old``; quanta are matched by (task, data ID)."""

    old: str
    new: str
    added: list[tuple[str, str]]
    """(task, data ID) of quanta only in the new plan."""
    removed: list[tuple[str, str]]
    """(task, data ID) of quanta only in the old plan."""
    changed: list[tuple[str, str, list[str], list[str]]]
    """(task, data ID, inputs/outputs only in old, only in new) of quanta in both whose
    inputs or outputs differ, each as "dataset type data ID" (runs are not compared)."""

    @property
    def same(self) -> bool:
        """Whether the two plans have the same quanta with the same inputs and outputs."""
        return not (self.added or self.removed or self.changed)


def _signatures(store: GraphStore, plan_id: str) -> dict[tuple[str, str], frozenset[str]]:
    if not store.read("plan_header", plan_id=plan_id):
        raise PlanNotFoundError(
            f"no plan {plan_id!r} is stored", hint="list the stored plans with 'provgraph plans list'"
        )
    return {
        (r["task"], r["data_id"]): frozenset(
            [f"in: {i}" for i in r["inputs"]] + [f"out: {o}" for o in r["outputs"]]
        )
        for r in store.read("plan_quantum_signatures", plan_id=plan_id)
    }


def plan_diff(store: GraphStore, old: str, new: str) -> PlanDiff:
    """Quanta added, removed, or with other inputs or outputs, from plan ``old`` to plan ``new``."""
    a, b = _signatures(store, old), _signatures(store, new)
    changed = [
        (task, data_id, sorted(a[(task, data_id)] - sig), sorted(sig - a[(task, data_id)]))
        for (task, data_id), sig in sorted(b.items())
        if (task, data_id) in a and a[(task, data_id)] != sig
    ]
    return PlanDiff(old, new, sorted(b.keys() - a.keys()), sorted(a.keys() - b.keys()), changed)


def missing_outputs(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    """Planned but not produced: per task, producer status and dataset type, how many datasets."""
    return store.read("plan_missing_outputs", plan_id=plan_id)


def data_id_history(store: GraphStore, values: Mapping[str, DimensionValue]) -> list[dict[str, Any]]:
    """Every quantum in every complete plan at the given dimension values, with its attempts."""
    if not values:
        raise QuestionError("give at least one dimension value", hint="e.g. visit=2,detector=1")
    return store.read("data_id_history", values=dict(values))


@dataclass(frozen=True)
class RecordedPlan:
    """A stored plan (or part of it) with what was recorded of its execution."""

    graph: PlanGraph
    """The plan's quanta and datasets, as planned."""
    statuses: dict[str, str]
    """Every quantum's status by quantum id (``pending`` where none is recorded)."""
    last_attempts: dict[str, dict[str, Any]]
    """The last attempt of each quantum that ran, by quantum id, as ``execution_attempts`` rows."""
    facts: dict[str, DatasetFacts]
    """What is known of each dataset's file, by dataset id."""


def recorded_plan(
    store: GraphStore,
    plan_id: str,
    tasks: Sequence[str] | None = None,
    where: Mapping[str, Sequence[DimensionValue]] | None = None,
) -> RecordedPlan:
    """A plan (or a subgraph of it, by task labels and data-ID values) and what ran of it."""
    graph = read_plan(store, plan_id, tasks=tasks, where=where)
    statuses = {r["id"]: r["status"] for r in store.read("execution_statuses", plan_id=plan_id)}
    last = {a["quantum_id"]: a for a in attempts(store, plan_id)}  # oldest first: the last wins
    return RecordedPlan(graph, statuses, last, dataset_facts(store, sorted(graph.datasets)))
