"""Routes that walk the graph: search, one node's neighbours, lineage and impact, and cross-plan questions.

The explorer starts from a node found by `search` (a dataset type or task label and a human
data ID) and expands it one level at a time (`neighbours`): the neighbours are listed when
there are few, else counted per task label or dataset type, and a group is then listed page
by page. Every graph answer carries at most `MAX_ELEMENTS` nodes, edges and groups
(`provenance_graph.api.models.GraphElements`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from provenance_graph.api._json import data_id_forms, jsonable
from provenance_graph.api.app import StoreDep
from provenance_graph.api.models import (
    MAX_ELEMENTS,
    GraphElements,
    Node,
    edge,
    group,
    keyed_node,
    node,
)
from provenance_graph.errors import NotInGraphError, QuestionError
from provenance_graph.model import DataId, DimensionValue
from provenance_graph.store import GraphStore, check_dataset
from provenance_graph.store.diff_outputs import diff_outputs
from provenance_graph.store.explorer import neighbours, search
from provenance_graph.store.explorer import node as find_node
from provenance_graph.store.plan_questions import data_id_history, plan_diff
from provenance_graph.store.provenance import (
    dataset_by_butler_id,
    dependencies,
    downstream,
    lineage_summary,
    upstream,
)

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["graph"])

#: The most neighbours one answer lists: each comes with its edge, beside the centre node and
#: up to `MAX_GROUPS` groups.
MAX_LISTED = 200
#: The most groups one neighbours answer gives (the largest first).
MAX_GROUPS = MAX_ELEMENTS - 1 - 2 * MAX_LISTED

DataIdQuery = Annotated[
    str,
    Query(
        description="Dimension values, any part of a data ID: 'visit=2 detector=1' (or with commas, or JSON)."
    ),
]


ShownQuery = Annotated[int, Query(ge=1, le=MAX_ELEMENTS, description="List at most this many of each kind.")]


def _values(text: str) -> dict[str, DimensionValue]:
    return DataId.parse(text).to_dict() if text.strip() else {}


class SearchAnswer(GraphElements):
    """Nodes found, ordered by run (or plan) and data ID."""

    truncated: bool = Field(description="True when there are more than were listed.")


@router.get("/search")
def search_nodes(
    store: StoreDep,
    dataset_type: Annotated[str | None, Query(description="Find datasets of this type ...")] = None,
    task: Annotated[str | None, Query(description="... or quanta of this task label.")] = None,
    data_id: DataIdQuery = "",
    plan: Annotated[str | None, Query(description="Quanta: only of this plan.")] = None,
    run: Annotated[str | None, Query(description="Datasets: only of this run.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ELEMENTS)] = 100,
) -> SearchAnswer:
    """Datasets of a type, or quanta of a task, whose data ID has the values given: where exploring starts."""
    found, more = search(
        store, _values(data_id), dataset_type=dataset_type, task=task, plan_id=plan, run=run, limit=limit
    )
    return SearchAnswer(nodes=[node(n) for n in found], truncated=more)


@router.get("/nodes/{node_id}")
def get_node(store: StoreDep, node_id: str) -> Node:
    """One dataset or quantum."""
    return node(find_node(store, node_id))


class NeighboursAnswer(GraphElements):
    """A node (first of ``nodes``) and its neighbours one level away, listed or counted per group."""

    direction: Literal["up", "down"]
    relationship: Literal["PRODUCES", "CONSUMES"]
    grouped: bool = Field(description="True when the neighbours are too many to list: see groups.")
    total: int = Field(description="Neighbours the listing is taken from (the group's, or all).")
    offset: int
    next_offset: int | None = Field(description="Where the next page of the group starts; null: no more.")


@router.get("/nodes/{node_id}/neighbours")
def node_neighbours(
    store: StoreDep,
    node_id: str,
    direction: Annotated[
        Literal["up", "down"], Query(description="up: what it was made from; down: what was made from it.")
    ],
    group_name: Annotated[
        str | None,
        Query(alias="group", description="List only this group (task label or dataset type), page by page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED, description="List at most this many.")] = MAX_LISTED,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NeighboursAnswer:
    """The nodes one level up or down: listed when at most ``limit``, else counted per task or type.

    Edges join each listed neighbour and the node (always quantum -> dataset).
    """
    found = neighbours(store, node_id, direction, limit=limit, group=group_name, offset=offset)
    center = node(found.node)
    edges = [
        edge(m.id, center.id, found.relationship)
        if m.kind == "quantum"
        else edge(center.id, m.id, found.relationship)
        for m in found.members
    ]
    groups = sorted(found.groups, key=lambda g: -g.total)[:MAX_GROUPS]
    return NeighboursAnswer(
        nodes=[center, *(node(m) for m in found.members)],
        edges=edges,
        groups=[group(g) for g in groups],
        direction=direction,
        relationship=found.relationship,
        grouped=not found.members and found.total > 0,
        total=found.total,
        offset=found.offset,
        next_offset=found.next_offset,
    )


def _start(
    store: GraphStore, dataset: str | None, dataset_type: str | None, data_id: str, run: str | None
) -> str | None:
    """The start dataset's id: given (ours or a Butler UUID), or found by type and data ID."""
    if dataset is not None:
        given = dataset_by_butler_id(store, dataset) or dataset
        check_dataset(store, given, quantum_option="quantum")
        return given
    if dataset_type is None:
        return None
    found, _more = search(store, _values(data_id), dataset_type=dataset_type, run=run, limit=10)
    if not found:
        raise NotInGraphError(
            f"no {dataset_type} dataset at {data_id or 'any data ID'}" + (f" in run {run!r}" if run else ""),
            hint="check the dataset type and the data ID (GET /api/search finds datasets)",
        )
    if len(found) > 1:
        shown = ", ".join(f"{n.data_id.display()} in {n.run}" for n in found[:3])
        raise QuestionError(
            f"{len(found)}{'+' if _more else ''} {dataset_type} datasets match "
            f"{data_id or 'any data ID'}: {shown}",
            hint="give every dimension of the data ID, and run= when it is in several runs",
        )
    return found[0].id


class Summary(BaseModel):
    """A lineage in counts."""

    quanta: int
    datasets: int
    tasks: dict[str, dict[str, int]] = Field(description="Quanta reached per task and status.")
    dataset_types: dict[str, dict[str, int]] = Field(
        description="Datasets reached per type: {datasets, nearest_level}."
    )


class LineageAnswer(GraphElements):
    """A lineage (or impact): its counts always, its nodes when they fit in one answer."""

    direction: Literal["upstream", "downstream"]
    start: list[str]
    summary: Summary
    listed: bool = Field(description="False when the lineage is too large to list: ask with a depth.")


def _lineage(store: GraphStore, direction: Literal["upstream", "downstream"], walk: Walk) -> LineageAnswer:
    """The answer of `lineage` or `impact`: counted in the server, listed when it fits in one answer."""
    start = _start(store, walk.dataset, walk.dataset_type, walk.data_id, walk.run)
    options: dict[str, Any] = {
        "quantum_id": walk.quantum,
        "depth": walk.depth,
        "stop_tasks": walk.stop_task or (),
        "stop_types": walk.stop_type or (),
    }
    counts = lineage_summary(store, direction, start, **options)
    summary = Summary(
        quanta=counts.quanta,
        datasets=counts.datasets,
        tasks=counts.tasks,
        dataset_types={
            t: {"datasets": n, "nearest_level": lv} for t, (n, lv) in counts.dataset_types.items()
        },
    )
    answer = LineageAnswer(direction=direction, start=list(counts.start), summary=summary, listed=False)
    if counts.quanta + counts.datasets > MAX_ELEMENTS:
        return answer
    found = (upstream if direction == "upstream" else downstream)(store, start, **options)
    nodes = [keyed_node("quantum", q.id, q.task, q.data_id, q.status, plan_id=q.plan_id, level=q.level)
             for q in found.quanta.values()]  # fmt: skip
    nodes += [
        keyed_node(
            "dataset",
            d.id,
            d.dataset_type,
            d.data_id,
            "exists" if d.exists else "unknown",
            run=d.run,
            level=d.level,
        )
        for d in found.datasets.values()
    ]
    edges = [edge(d.producer, d.id, "PRODUCES") for d in found.datasets.values() if d.producer is not None]
    if len(nodes) + len(edges) > MAX_ELEMENTS:
        return answer
    return LineageAnswer(
        direction=direction, start=answer.start, summary=summary, listed=True, nodes=nodes, edges=edges
    )


@dataclass(frozen=True)
class Walk:
    """Where a lineage or impact starts, and how far it walks: the parameters both routes take."""

    dataset: str | None
    dataset_type: str | None
    data_id: str
    run: str | None
    quantum: str | None
    depth: int | None
    stop_task: list[str] | None
    stop_type: list[str] | None


def _walk(
    dataset: Annotated[
        str | None, Query(description="Start from this dataset (its id, or Butler UUID) ...")
    ] = None,
    dataset_type: Annotated[str | None, Query(description="... or from the dataset of this type ...")] = None,
    data_id: DataIdQuery = "",
    run: Annotated[str | None, Query(description="... in this run (when in several).")] = None,
    quantum: Annotated[
        str | None, Query(description="Or from a quantum: its inputs (lineage) or outputs (impact).")
    ] = None,
    depth: Annotated[int | None, Query(ge=0, description="At most this many quanta away.")] = None,
    stop_task: Annotated[list[str] | None, Query(description="Don't walk past this task (repeat).")] = None,
    stop_type: Annotated[list[str] | None, Query(description="Don't walk past this type (repeat).")] = None,
) -> Walk:
    return Walk(dataset, dataset_type, data_id, run, quantum, depth, stop_task, stop_type)


WalkDep = Annotated[Walk, Depends(_walk)]


@router.get("/lineage")
def lineage(store: StoreDep, walk: WalkDep) -> LineageAnswer:
    """Upstream lineage: what a dataset (or a quantum) was made from; its nodes listed when they fit."""
    return _lineage(store, "upstream", walk)


@router.get("/impact")
def impact(store: StoreDep, walk: WalkDep) -> LineageAnswer:
    """Downstream impact: what to recompute if a dataset (or a quantum's outputs) changes."""
    return _lineage(store, "downstream", walk)


@router.get("/quanta/{quantum_id}/dependencies")
def quantum_dependencies(store: StoreDep, quantum_id: str) -> dict[str, Any]:
    """A quantum's parents (producers of its inputs) and children (consumers of its outputs).

    Each side is counted per task and status; its quanta are listed when both sides together
    hold at most 500.
    """
    parents, children = dependencies(store, quantum_id)
    listed = len(parents) + len(children) <= MAX_ELEMENTS
    out: dict[str, Any] = {"quantum": quantum_id, "listed": listed}
    for side, quanta in (("parents", parents), ("children", children)):
        counts: dict[str, dict[str, int]] = {}
        for q in quanta:
            counts.setdefault(q.task, {})[q.status] = counts.setdefault(q.task, {}).get(q.status, 0) + 1
        nodes = [keyed_node("quantum", q.id, q.task, q.data_id, q.status, plan_id=q.plan_id) for q in quanta]
        out[side] = {
            "total": len(quanta),
            "tasks": counts,
            "nodes": [n.model_dump() for n in nodes] if listed else [],
        }
    return out


@router.get("/history")
def history(store: StoreDep, data_id: DataIdQuery) -> list[dict[str, Any]]:
    """Every quantum at some dimension values across all plans and runs, with its attempts."""
    values = _values(data_id)
    if not values:
        raise QuestionError("give at least one dimension value", hint="e.g. data_id=visit=2 detector=1")
    return [jsonable(r) for r in data_id_history(store, values)]


def _diff_dataset(signature: str) -> dict[str, Any]:
    """A plan diff's ``"in: calexp {...}"``: the connection side, the dataset type, the data ID."""
    side, _, rest = signature.partition(": ")
    dataset_type, _, key = rest.partition(" ")
    return {"side": side, "dataset_type": dataset_type, **data_id_forms(key)}


@router.get("/diff")
def diff(
    store: StoreDep,
    old: Annotated[str, Query(description="The older plan's id.")],
    new: Annotated[str, Query(description="The newer plan's id.")],
    shown: ShownQuery = 100,
) -> dict[str, Any]:
    """Quanta added, removed, or with other inputs or outputs, between two plans (by task and data ID)."""
    found = plan_diff(store, old, new)
    return {
        "old": old,
        "new": new,
        "same": found.same,
        "counts": {"added": len(found.added), "removed": len(found.removed), "changed": len(found.changed)},
        "added": [{"task": t, **data_id_forms(d)} for t, d in found.added[:shown]],
        "removed": [{"task": t, **data_id_forms(d)} for t, d in found.removed[:shown]],
        "changed": [
            {
                "task": t,
                **data_id_forms(d),
                "only_old": [_diff_dataset(x) for x in gone],
                "only_new": [_diff_dataset(x) for x in came],
            }
            for t, d, gone, came in found.changed[:shown]
        ],
    }


@router.get("/diff-outputs")
def diff_execution_outputs(
    store: StoreDep,
    a: Annotated[str, Query(description="An execution's id (or a plan's: its latest execution).")],
    b: Annotated[str, Query(description="The other execution (or plan).")],
    shown: ShownQuery = 100,
) -> dict[str, Any]:
    """Outputs whose checksums differ between two executions, and why: ``provgraph diff-outputs``."""
    found = diff_outputs(store, a, b)
    sides = {
        name: {
            **{k: jsonable(v) for k, v in vars(side).items() if k not in ("outputs", "tasks")},
            "outputs": len(side.outputs),
        }
        for name, side in (("a", found.a), ("b", found.b))
    }
    return {
        **sides,
        "same": found.same,
        "unknown": found.unknown,
        "counts": {"changed": len(found.changed), "only_a": len(found.only_a), "only_b": len(found.only_b)},
        "changed": [
            {**jsonable(c), "causes": [{**jsonable(x), "description": x.describe()} for x in c.causes]}
            for c in found.changed[:shown]
        ],
        "only_a": [jsonable(o) for o in found.only_a[:shown]],
        "only_b": [jsonable(o) for o in found.only_b[:shown]],
    }
