"""What the explorer page of ``provgraph serve`` asks that no command asks: bounded graph views.

- `task_order` and `plan_tasks`: a plan's tasks in pipeline order, with quanta per status;
- `plan_dimensions` and `heatmap`: quanta per task, value of one dimension and status;
- `search`: datasets of a type, or quanta of a task, at some dimension values;
- `node` and `neighbours`: a dataset or quantum, and the nodes one level up or down from it,
  listed when there are few, else counted per task label or dataset type.

Each answer is bounded by a limit its caller gives, so a page asks for what it can draw. The
named queries are in ``cypher/explorer.cypher``; nodes come back with their data ID's human
form (``data_id_display``) and the context dimensions it leaves out, read back here into a
`DataId` (`ExplorerNode.data_id`).
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from provenance_graph.errors import NotInGraphError, QuestionError
from provenance_graph.model import CONTEXT_DIMENSIONS, DataId, DimensionValue, suggest
from provenance_graph.store._missing import check_plan, close_ids
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.plan_questions import _pipeline_order, plan_task_statuses
from provenance_graph.store.plan_read import read_plan_header
from provenance_graph.store.views import plan_flow

__all__ = [
    "Direction",
    "ExplorerNode",
    "Heatmap",
    "Kind",
    "Neighbours",
    "NodeGroup",
    "heatmap",
    "neighbours",
    "node",
    "plan_dimensions",
    "plan_tasks",
    "search",
    "task_order",
]

Kind = Literal["dataset", "quantum"]
"""What a node of the explorer is."""

Direction = Literal["up", "down"]
"""``up``: towards what a node was made from; ``down``: towards what was made from it."""

#: The relationship one level in each direction follows, from a quantum's side and a dataset's:
#: up from a quantum are the datasets it CONSUMES, up from a dataset the quanta that PRODUCE it.
_RELATIONSHIP: dict[tuple[str, Direction], str] = {
    ("quantum", "up"): "CONSUMES",
    ("quantum", "down"): "PRODUCES",
    ("dataset", "up"): "PRODUCES",
    ("dataset", "down"): "CONSUMES",
}


@dataclass(frozen=True)
class ExplorerNode:
    """A dataset or quantum as the explorer shows it."""

    id: str
    kind: Kind
    name: str
    """The dataset type, or the quantum's task label."""
    data_id: DataId
    """Read back from the node's ``data_id_display`` and context dimensions."""
    run: str | None
    plan_id: str | None
    """A quantum's plan, the plan producing a dataset (None: a dataset made outside any plan)."""
    status: str
    """A quantum's status (``pending`` when none is recorded); ``exists`` or ``unknown`` for a dataset."""


def _node(row: Mapping[str, Any]) -> ExplorerNode:
    values = DataId.parse(row["data_id_display"] or "{}").to_dict()
    for name in CONTEXT_DIMENSIONS:
        if row.get(name) is not None:
            values[name] = row[name]
    return ExplorerNode(
        row["id"], row["kind"], row["name"], DataId(values), row["run"], row["plan_id"], row["status"]
    )


def task_order(store: GraphStore, plan_id: str) -> list[str]:
    """A complete plan's task labels in pipeline order.

    The order of the plan's pipeline YAML; for a plan without one (imported from a
    QuantumGraph), an order of its task-level flow in which every producer comes before its
    consumers. Raises `PlanNotFoundError` for a plan not stored whole.
    """
    header = read_plan_header(store, plan_id)
    listed = _pipeline_order(header.pipeline or "")
    if listed:
        return listed
    producers: dict[str, set[str]] = {}
    readers: dict[str, set[str]] = {}
    for flow in plan_flow(store, plan_id):
        side = producers if flow.rel == "PRODUCES" else readers
        side.setdefault(flow.dataset_type, set()).add(flow.task)
    tasks = {t for side in (producers, readers) for names in side.values() for t in names}
    before = {t: {p for d, rs in readers.items() if t in rs for p in producers.get(d, ())} for t in tasks}
    sorter = graphlib.TopologicalSorter({t: sorted(ps - {t}) for t, ps in sorted(before.items())})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError:  # not a plan provgraph stores, but never an error here
        return sorted(tasks)


def plan_tasks(store: GraphStore, plan_id: str) -> list[tuple[str, dict[str, int]]]:
    """``[(task, {status: quanta})]`` of a complete plan, in pipeline order (`task_order`)."""
    counts = plan_task_statuses(store, plan_id)
    order = task_order(store, plan_id)
    return [(t, counts.get(t, {})) for t in order] + [(t, c) for t, c in counts.items() if t not in order]


def plan_dimensions(store: GraphStore, plan_id: str) -> dict[str, list[str]]:
    """``{task: its quanta's dimensions}`` of a complete plan, from one quantum of each task.

    Tasks in pipeline order (`task_order`); the plan's quanta are not counted, so this stays
    cheap on a large plan.
    """
    tasks = task_order(store, plan_id)
    found = {r["task"]: r["data_id"] for r in store.read("plan_task_examples", plan_id=plan_id, tasks=tasks)}
    return {t: list(DataId.from_key(found[t]).dimensions) if t in found else [] for t in tasks}


@dataclass(frozen=True)
class Heatmap:
    """Quanta of a plan per task, value of one dimension and status."""

    plan_id: str
    dimension: str
    values: list[DimensionValue]
    """The dimension's values, sorted: the heat map's columns."""
    tasks: list[str]
    """The tasks whose quanta have the dimension, in pipeline order: its rows."""
    cells: dict[str, dict[DimensionValue, dict[str, int]]]
    """``{task: {value: {status: quanta}}}``; a missing cell has no quanta."""
    without: list[str] = field(default_factory=list)
    """The plan's tasks whose quanta lack the dimension."""


def heatmap(store: GraphStore, plan_id: str, dimension: str) -> Heatmap:
    """`Heatmap` of a complete plan on ``dimension``; one its quanta lack is a `QuestionError`."""
    dimensions = plan_dimensions(store, plan_id)
    known = sorted({d for ds in dimensions.values() for d in ds})
    if dimension not in known:
        raise QuestionError(
            f"the quanta of plan {plan_id!r} have no dimension {dimension!r}",
            hint=suggest(dimension, known) or f"choose one of {', '.join(known) or '(none)'}",
        )
    cells: dict[str, dict[DimensionValue, dict[str, int]]] = {}
    values: set[DimensionValue] = set()
    for r in store.read("explorer_heatmap", plan_id=plan_id, dimension=dimension):
        cells.setdefault(r["task"], {}).setdefault(r["value"], {})[r["status"]] = int(r["quanta"])
        values.add(r["value"])
    rows = [t for t, ds in dimensions.items() if dimension in ds]
    return Heatmap(
        plan_id,
        dimension,
        sorted(values, key=lambda v: (isinstance(v, str), v)),
        rows,
        {t: cells.get(t, {}) for t in rows},
        [t for t, ds in dimensions.items() if dimension not in ds],
    )


def search(
    store: GraphStore,
    values: Mapping[str, DimensionValue],
    *,
    dataset_type: str | None = None,
    task: str | None = None,
    plan_id: str | None = None,
    run: str | None = None,
    limit: int,
) -> tuple[list[ExplorerNode], bool]:
    """Datasets of a type (or quanta of a task label) at some dimension values, and whether there are more.

    ``values`` may be any part of a data ID (none: every one). At most ``limit`` are
    returned, ordered by run (plan) and data ID; the flag is True when there are more.
    """
    if (dataset_type is None) == (task is None):
        raise QuestionError("search for a dataset type or a task label", hint="give one of the two, not both")
    if plan_id is not None:
        check_plan(store, plan_id)
    if dataset_type is not None:
        rows = store.read(
            "explorer_search_datasets",
            dataset_type=dataset_type,
            values=dict(values),
            run=run,
            limit=limit + 1,
        )
    else:
        rows = store.read(
            "explorer_search_quanta", task=task, values=dict(values), plan_id=plan_id, limit=limit + 1
        )
    kind = "dataset" if dataset_type is not None else "quantum"
    found = [_node({**r, "kind": kind}) for r in rows]
    return found[:limit], len(found) > limit


def node(store: GraphStore, node_id: str) -> ExplorerNode:
    """The dataset or quantum of this id; a `NotInGraphError` suggesting close ids if there is none."""
    rows = store.read("explorer_node", id=node_id)
    if not rows:
        close = [i for kind in ("dataset", "quantum") for i in close_ids(store, kind, node_id)[0]]
        hint = (
            "did you mean " + " or ".join(repr(c) for c in close[:3]) + "?"
            if close
            else "search for a node by dataset type or task and data ID"
        )
        raise NotInGraphError(f"there is no dataset or quantum {node_id!r} in the graph", hint=hint)
    return _node(rows[0])


@dataclass(frozen=True)
class NodeGroup:
    """The neighbours of one task label (quanta) or dataset type (datasets), counted per status."""

    kind: Kind
    name: str
    counts: dict[str, int]
    """``{status: nodes}``."""

    @property
    def total(self) -> int:
        """How many nodes the group holds."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class Neighbours:
    """A node's neighbours one level up or down: the groups, and the members listed."""

    node: ExplorerNode
    direction: Direction
    relationship: str
    """``PRODUCES`` or ``CONSUMES``: every edge joins a quantum to a dataset by it."""
    groups: list[NodeGroup]
    """Every neighbour, counted per group (all groups, whatever ``group`` selected)."""
    members: list[ExplorerNode]
    """The neighbours listed: of the group asked for (or all), ``offset`` skipped, at most
    ``limit``; none when there are more than ``limit`` and no group was asked for."""
    offset: int
    total: int
    """How many neighbours the listing is taken from: the group's, or all."""

    @property
    def next_offset(self) -> int | None:
        """Where the next page of members starts, or None when this one is the last."""
        end = self.offset + len(self.members)
        return end if self.members and end < self.total else None


def neighbours(
    store: GraphStore,
    node_id: str,
    direction: Direction,
    *,
    limit: int,
    group: str | None = None,
    offset: int = 0,
) -> Neighbours:
    """The nodes one level ``direction`` from a node: listed when at most ``limit``, else counted.

    Without ``group``, the members are listed only when there are at most ``limit`` of them
    (else only the groups are); with it, the members of that group (task label or dataset
    type) are listed, from ``offset``, at most ``limit`` at a time.
    """
    if limit < 1 or offset < 0:
        raise QuestionError(f"limit {limit} and offset {offset} must be at least 1 and 0")
    center = node(store, node_id)
    rel = _RELATIONSHIP[(center.kind, direction)]
    common: dict[str, Any] = {"id": node_id, "rel": rel, "group": group, "offset": offset, "limit": limit}
    by_name: dict[tuple[str, str], dict[str, int]] = {}
    for r in store.read("explorer_neighbours", count_only=True, **common):
        by_name.setdefault((r["kind"], r["name"]), {})[r["status"]] = int(r["count"])
    groups = [NodeGroup(cast(Kind, kind), name, counts) for (kind, name), counts in sorted(by_name.items())]
    if group is not None and group not in {g.name for g in groups}:
        names = [g.name for g in groups]
        raise NotInGraphError(
            f"{center.kind} {node_id!r} has no neighbours {direction} of group {group!r}",
            hint=suggest(group, names) or f"its groups {direction}: {', '.join(names) or '(none)'}",
        )
    total = sum(g.total for g in groups if group is None or g.name == group)
    members: list[ExplorerNode] = []
    if group is not None or total <= limit:
        members = [_node(r) for r in store.read("explorer_neighbours", count_only=False, **common)]
    return Neighbours(center, direction, rel, groups, members, offset, total)
