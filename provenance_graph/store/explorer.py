"""What the explorer page of ``provgraph serve`` asks that no command asks: bounded graph views.

- `task_order` and `plan_tasks`: a plan's tasks in pipeline order, with quanta per status;
- `plan_dimensions` and `heatmap`: quanta per task, value of one dimension and status;
  these three read the plan's written counts (`store.status_counts`), not its quanta;
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
from provenance_graph.store.plan_questions import _pipeline_order
from provenance_graph.store.plan_read import read_plan_header
from provenance_graph.store.status_counts import TaskSummary, status_cells, task_summaries

__all__ = [
    "HEATMAP_COLUMNS",
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
    QuantumGraph), an order in which every task comes after the tasks that write what it
    reads, from its task summaries (`store.status_counts`). Raises `PlanNotFoundError` for a
    plan not stored whole.
    """
    return _tasks(store, plan_id)[0]


def _tasks(store: GraphStore, plan_id: str) -> tuple[list[str], dict[str, TaskSummary]]:
    """`task_order`, and the plan's task summaries by label: its header and summaries read once."""
    header = read_plan_header(store, plan_id)
    summaries = {s.task: s for s in task_summaries(store, plan_id)}
    listed = _pipeline_order(header.pipeline or "")
    if listed:
        return listed + sorted(set(summaries) - set(listed)), summaries
    writers: dict[str, set[str]] = {}
    for s in summaries.values():
        for dataset_type in s.writes:
            writers.setdefault(dataset_type, set()).add(s.task)
    before = {t: sorted({w for d in s.reads for w in writers.get(d, ())} - {t}) for t, s in summaries.items()}
    try:
        return list(graphlib.TopologicalSorter(before).static_order()), summaries
    except graphlib.CycleError:  # not a plan provgraph stores, but never an error here
        return sorted(before), summaries


def plan_tasks(store: GraphStore, plan_id: str) -> list[tuple[str, dict[str, int]]]:
    """``[(task, {status: quanta})]`` of a complete plan, in pipeline order (`task_order`).

    Read from the plan's task summaries: a few nodes, however many quanta it has.
    """
    order, summaries = _tasks(store, plan_id)
    return [(t, summaries[t].counts if t in summaries else {}) for t in order]


def plan_dimensions(store: GraphStore, plan_id: str) -> dict[str, list[str]]:
    """``{task: its quanta's dimensions}`` of a complete plan, tasks in pipeline order (`task_order`).

    From each task summary's example data ID: the plan's quanta are not read.
    """
    order, summaries = _tasks(store, plan_id)
    return {t: list(summaries[t].example.dimensions) if t in summaries else [] for t in order}


HEATMAP_COLUMNS = 60
"""At most this many columns in a heat map by default: more values are shown in ranges."""


@dataclass(frozen=True)
class Heatmap:
    """Quanta of a plan per task, value of one dimension (or range of values) and status."""

    plan_id: str
    dimension: str
    values: list[DimensionValue]
    """The heat map's columns, sorted: the dimension's values, or, when there are more than
    the columns asked for, ranges of consecutive values named ``first..last``."""
    tasks: list[str]
    """The tasks whose quanta have the dimension, in pipeline order: its rows."""
    cells: dict[str, dict[DimensionValue, dict[str, int]]]
    """``{task: {column: {status: quanta}}}``; a missing cell has no quanta."""
    without: list[str] = field(default_factory=list)
    """The plan's tasks whose quanta lack the dimension."""
    per_column: int = 1
    """How many values each column holds (1: each column is one value)."""
    distinct: int = 0
    """How many values the dimension takes in the plan."""


def _sort_key(value: DimensionValue) -> tuple[bool, DimensionValue]:
    return (isinstance(value, str), value)


def heatmap(store: GraphStore, plan_id: str, dimension: str, *, columns: int = HEATMAP_COLUMNS) -> Heatmap:
    """`Heatmap` of a complete plan on ``dimension``, in at most ``columns`` columns.

    Read from the plan's status cells (`store.status_counts`): one node a task and value.
    A dimension its quanta lack is a `QuestionError`.
    """
    if columns < 1:
        raise QuestionError(f"a heat map needs at least 1 column, not {columns}")
    dimensions = plan_dimensions(store, plan_id)
    known = sorted({d for ds in dimensions.values() for d in ds})
    if dimension not in known:
        raise QuestionError(
            f"the quanta of plan {plan_id!r} have no dimension {dimension!r}",
            hint=suggest(dimension, known) or f"choose one of {', '.join(known) or '(none)'}",
        )
    found = status_cells(store, plan_id, dimension)
    values = sorted({v for by_value in found.values() for v in by_value}, key=_sort_key)
    per_column = -(-len(values) // columns) if values else 1
    column: dict[DimensionValue, DimensionValue] = {}
    labels: list[DimensionValue] = []
    for start in range(0, len(values), per_column):
        chunk = values[start : start + per_column]
        label = chunk[0] if len(chunk) == 1 else f"{chunk[0]}..{chunk[-1]}"
        labels.append(label)
        column.update(dict.fromkeys(chunk, label))
    cells: dict[str, dict[DimensionValue, dict[str, int]]] = {}
    for task, by_value in found.items():
        for value, counts in by_value.items():
            cell = cells.setdefault(task, {}).setdefault(column[value], {})
            for status, n in counts.items():
                cell[status] = cell.get(status, 0) + n
    rows = [t for t, ds in dimensions.items() if dimension in ds]
    return Heatmap(
        plan_id,
        dimension,
        labels,
        rows,
        {t: cells.get(t, {}) for t in rows},
        [t for t, ds in dimensions.items() if dimension not in ds],
        per_column,
        len(values),
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
