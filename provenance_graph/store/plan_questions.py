"""Questions about whole plans, answered in the graph: overview, subgraphs, diffs, planned against actual.

- `plan_overview` and `plan_task_statuses`: initial inputs, final outputs and quanta by
  task and status;
- `find_datasets` and `pick_dataset`: a plan's datasets of one type;
- `subgraph`: quanta by task labels and data-ID values, with their external inputs;
- `plan_diff`: quanta added, removed or changed between two plans;
- `missing_outputs` and `data_id_history`: planned against actual;
- `data_id_in_plan`: what a plan holds of each task at some dimension values: quanta, or the
  pre-flight notes that dropped them (why a data ID has no quantum);
- `recorded_plan`: a plan (or subgraph) with what was recorded of its execution,
  what an export needs (`provenance_graph.export` turns it into W3C PROV).

Each function runs named queries of ``cypher/provenance.cypher`` (listed in
`store.provenance.QUERIES`) and returns plain, typed results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from provenance_graph.errors import QuestionError
from provenance_graph.model import DataId, DimensionValue, Plan, PlanGraph, PlanNote, suggest
from provenance_graph.store._missing import check_plan
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.datasets import DatasetFacts, dataset_facts
from provenance_graph.store.execution import attempts
from provenance_graph.store.plan_read import DataIdFilter, plan_notes, read_plan, read_plan_header
from provenance_graph.store.status_counts import task_summaries

__all__ = [
    "DataIdInPlan",
    "PlanDiff",
    "PlanOverview",
    "RecordedPlan",
    "Subgraph",
    "TaskAtDataId",
    "data_id_history",
    "data_id_in_plan",
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
    """``{task: {status: quanta}}`` of a complete plan, tasks sorted, from its task summaries."""
    return {s.task: s.counts for s in task_summaries(store, plan_id)}


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
    where: DataIdFilter | None = None,
) -> Subgraph:
    """Quanta of a plan by task labels and data-ID values (or a data query's test), with external inputs."""
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


def plan_diff(store: GraphStore, old: str, new: str) -> PlanDiff:
    """Quanta added, removed, or with other inputs or outputs, from plan ``old`` to plan ``new``.

    Computed in the server one task at a time (``plan_diff_task``), for each task either plan
    has: only the differences travel, never the plans' quanta. A task with the same signature
    in both plans (`provenance_graph.store.signatures`) is the same and is not read at all.
    """
    signatures: dict[str, list[str | None]] = {}
    for side, plan_id in enumerate((old, new)):
        check_plan(store, plan_id)
        for r in store.read("plan_task_counts", plan_id=plan_id):
            signatures.setdefault(r["task"], [None, None])[side] = r["signature"]
    added: list[tuple[str, str]] = []
    removed: list[tuple[str, str]] = []
    changed: list[tuple[str, str, list[str], list[str]]] = []
    for task, (before, after) in sorted(signatures.items()):
        if before is not None and before == after:
            continue
        for r in store.read("plan_diff_task", old=old, new=new, task=task):
            if r["kind"] == "added":
                added.append((task, r["data_id"]))
            elif r["kind"] == "removed":
                removed.append((task, r["data_id"]))
            else:  # the same signature twice counts once, as in a set
                changed.append((task, r["data_id"], sorted(set(r["gone"])), sorted(set(r["came"]))))
    return PlanDiff(old, new, sorted(added), sorted(removed), sorted(changed))


def missing_outputs(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    """Planned but not produced: per task, producer status and dataset type, how many datasets."""
    check_plan(store, plan_id)
    return store.read("plan_missing_outputs", plan_id=plan_id)


def data_id_history(store: GraphStore, values: Mapping[str, DimensionValue]) -> list[dict[str, Any]]:
    """Every quantum in every complete plan at the given dimension values, with its attempts."""
    if not values:
        raise QuestionError("give at least one dimension value", hint="e.g. visit=2,detector=1")
    return store.read("data_id_history", values=dict(values))


@dataclass(frozen=True)
class TaskAtDataId:
    """What a plan holds of one task at some dimension values."""

    task: str
    """The task label."""
    dimensions: tuple[str, ...]
    """The dimensions of the task's quanta (or of its notes' data IDs); empty when it has neither."""
    quanta: dict[str, int]
    """Its quanta there, by status (``pending`` where none is recorded)."""
    examples: tuple[DataId, ...]
    """Up to three of those quanta's data IDs."""
    notes: tuple[tuple[PlanNote, tuple[DataId, ...]], ...]
    """Its pre-flight notes that dropped data IDs there, each with those data IDs. A note
    without data IDs (the task got no quanta at all) holds everywhere."""


@dataclass(frozen=True)
class DataIdInPlan:
    """What a plan holds at some dimension values, task by task: the facts behind "why no quantum"."""

    plan: Plan
    """The plan's header; its ``constraints`` is the data query it was made under."""
    values: DataId
    """The dimension values asked about (any subset of a data ID)."""
    tasks: tuple[TaskAtDataId, ...]
    """The tasks asked about, in pipeline order where the plan's pipeline tells it."""


def _agrees(data_id: DataId, values: Mapping[str, DimensionValue]) -> bool:
    """Whether ``data_id`` shares a dimension with ``values`` and agrees on every one it shares."""
    mine = data_id.to_dict()
    shared = [k for k in values if k in mine]
    return bool(shared) and all(mine[k] == values[k] for k in shared)


def _pipeline_order(text: str) -> list[str]:
    """Task labels in the order a stored pipeline YAML lists them; none if it does not parse."""
    try:
        loaded = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return []
    tasks = loaded.get("tasks") if isinstance(loaded, dict) else None
    return [str(label) for label in tasks] if isinstance(tasks, dict) else []


def data_id_in_plan(
    store: GraphStore, plan_id: str, values: DataId, tasks: Sequence[str] | None = None
) -> DataIdInPlan:
    """What a complete plan holds of each task at the dimension values ``values``.

    A quantum or a note's data ID is *at* the values when it shares at least one of their
    dimensions and agrees on every one it shares: ``detector=3`` finds every detector-3
    quantum of a per-detector task, and nothing of a per-tract one.

    Parameters
    ----------
    store
        Where the plan is.
    plan_id
        The plan's id (`PlanNotFoundError`, suggesting close ids, if no complete plan has it).
    values
        Dimension values, e.g. ``DataId.of(visit=2, detector=1)``; every dimension must be one
        of the plan's (`QuestionError` otherwise).
    tasks
        Only these task labels (`QuestionError`, suggesting close labels, for one the plan
        lacks); default every task with quanta or notes.
    """
    if not len(values):
        raise QuestionError("give at least one dimension value", hint="e.g. visit=2,detector=1")
    plan = read_plan_header(store, plan_id)
    with_quanta = [r["task"] for r in store.read("plan_task_counts", plan_id=plan_id)]
    notes = plan_notes(store, plan_id)
    known = set(with_quanta) | {n.task_label for n in notes}
    order = {label: i for i, label in enumerate(_pipeline_order(plan.pipeline))}
    ordered = sorted(known, key=lambda t: (order.get(t, len(order)), t))
    for label in tasks or ():
        if label not in known:
            raise QuestionError(
                f"plan {plan_id!r} has no task {label!r}",
                hint=suggest(label, ordered) or f"its tasks: {', '.join(ordered)}",
            )
    chosen = [t for t in ordered if t in set(tasks)] if tasks else ordered
    dimensions: dict[str, tuple[str, ...]] = {
        r["task"]: DataId.from_key(r["data_id"]).dimensions
        for r in store.read("plan_task_examples", plan_id=plan_id, tasks=with_quanta)
    }
    for note in notes:
        if note.data_ids:
            dimensions.setdefault(note.task_label, note.data_ids[0].dimensions)
    every = sorted({d for dims in dimensions.values() for d in dims})
    for name in values.dimensions:
        if every and name not in every:
            raise QuestionError(
                f"no task of plan {plan_id!r} has dimension {name!r}",
                hint=suggest(name, every) or f"its dimensions: {', '.join(every)}",
            )
    wanted = values.to_dict()
    quanta: dict[str, dict[str, int]] = {}
    examples: dict[str, list[DataId]] = {}
    for r in store.read(
        "plan_quanta_at", plan_id=plan_id, tasks=list(chosen) if tasks else None, values=wanted
    ):
        quanta.setdefault(r["task"], {})[r["status"]] = int(r["quanta"])
        examples.setdefault(r["task"], []).extend(DataId.from_key(k) for k in r["data_ids"])
    answers = []
    for label in chosen:
        dropped = []
        for note in notes:
            if note.task_label != label:
                continue
            matching = tuple(d for d in note.data_ids if _agrees(d, wanted))
            if matching or not note.data_ids:
                dropped.append((note, matching))
        answers.append(
            TaskAtDataId(
                task=label,
                dimensions=dimensions.get(label, ()),
                quanta=quanta.get(label, {}),
                examples=tuple(sorted(examples.get(label, []), key=DataId.key)[:3]),
                notes=tuple(dropped),
            )
        )
    return DataIdInPlan(plan, values, tuple(answers))


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
    where: DataIdFilter | None = None,
) -> RecordedPlan:
    """A plan (or a subgraph of it, by task labels and data-ID values or test) and what ran of it."""
    graph = read_plan(store, plan_id, tasks=tasks, where=where)
    statuses = {r["id"]: r["status"] for r in store.read("execution_statuses", plan_id=plan_id)}
    last = {a["quantum_id"]: a for a in attempts(store, plan_id)}  # oldest first: the last wins
    return RecordedPlan(graph, statuses, last, dataset_facts(store, sorted(graph.datasets)))
