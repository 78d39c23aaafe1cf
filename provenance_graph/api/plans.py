"""Routes about one stored plan: what the dashboard and the failure view read, and operations answers.

Each route calls one typed store function (the same the ``provgraph`` commands call) and
returns its answer as JSON (`provenance_graph.api._json.jsonable`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from provenance_graph.api._json import jsonable
from provenance_graph.api.app import StoreDep, require_writes
from provenance_graph.api.models import MAX_ELEMENTS
from provenance_graph.errors import NotInGraphError
from provenance_graph.model import DataId
from provenance_graph.store import check_plan, delete_plan, list_plans, plan_notes, plan_summary
from provenance_graph.store.analytics import footprint, plan_executions, runtime_stats
from provenance_graph.store.clustering import blast_radius
from provenance_graph.store.explorer import HEATMAP_COLUMNS, heatmap, plan_dimensions, plan_tasks
from provenance_graph.store.operations import group_causes, outputs_at, suspects, triage
from provenance_graph.store.plan_questions import missing_outputs, plan_overview, subgraph

__all__ = ["router"]

router = APIRouter(prefix="/api/plans", tags=["plans"])

#: Failures listed per group of the failure view unless asked otherwise.
FAILURES_SHOWN = 50


@router.get("")
def plans(
    store: StoreDep,
    include_incomplete: Annotated[
        bool, Query(description="Include plans whose write is not finished.")
    ] = False,
) -> list[dict[str, Any]]:
    """Stored plans, newest first, with their write state and what running them came to."""
    return [jsonable(p) for p in list_plans(store, include_incomplete=include_incomplete)]


@router.get("/{plan_id}")
def plan(store: StoreDep, plan_id: str) -> dict[str, Any]:
    """A plan's header and counts: quanta per task, datasets, edges, pre-flight's notes."""
    found = plan_summary(store, plan_id)
    return {
        **jsonable(found),
        "notes": {kind: {"notes": n, "data_ids": d} for kind, (n, d) in found.notes.items()},
    }


@router.delete("/{plan_id}", dependencies=[Depends(require_writes)], tags=["writes"])
def delete(store: StoreDep, plan_id: str) -> dict[str, Any]:
    """Delete a plan, its clusterings, its quanta and the datasets only it produced (``--allow-writes``).

    Refused (409) while the plan runs or other plans read what it produced.
    """
    if not delete_plan(store, plan_id):
        raise NotInGraphError(
            f"there is no plan {plan_id!r} to delete", hint="GET /api/plans lists the plans"
        )
    return {"deleted": plan_id}


@router.get("/{plan_id}/tasks")
def tasks(store: StoreDep, plan_id: str) -> dict[str, Any]:
    """Quanta per task and status, tasks in pipeline order: the dashboard's status bars."""
    rows = plan_tasks(store, plan_id)
    statuses = sorted({s for _, counts in rows for s in counts})
    return {
        "plan_id": plan_id,
        "statuses": statuses,
        "tasks": [{"task": t, "counts": c, "total": sum(c.values())} for t, c in rows],
    }


@router.get("/{plan_id}/dimensions")
def dimensions(store: StoreDep, plan_id: str) -> dict[str, Any]:
    """Each task's quantum dimensions, in pipeline order: what a heat map can be drawn on."""
    found = plan_dimensions(store, plan_id)
    return {
        "plan_id": plan_id,
        "tasks": found,
        "dimensions": sorted({d for ds in found.values() for d in ds}),
    }


@router.get("/{plan_id}/heatmap")
def plan_heatmap(
    store: StoreDep,
    plan_id: str,
    dimension: Annotated[
        str, Query(description="A dimension of the plan's quanta, e.g. visit, tract, patch.")
    ],
    columns: Annotated[
        int,
        Query(
            ge=1,
            le=1000,
            description="At most this many columns: more values are shown as ranges `first..last`.",
        ),
    ] = HEATMAP_COLUMNS,
) -> dict[str, Any]:
    """Quanta per task (rows, pipeline order), value of one dimension (columns) and status.

    Read from the plan's written counts. ``per_column`` says how many values each column
    holds (1: one value each), ``distinct`` how many the dimension takes.
    """
    found = heatmap(store, plan_id, dimension, columns=columns)
    return {
        "plan_id": plan_id,
        "dimension": dimension,
        "per_column": found.per_column,
        "distinct": found.distinct,
        "values": found.values,
        "tasks": found.tasks,
        "cells": [
            {"task": t, "value": v, "counts": counts}
            for t in found.tasks
            for v, counts in found.cells[t].items()
        ],
        "without_dimension": found.without,
    }


@router.get("/{plan_id}/overview")
def overview(store: StoreDep, plan_id: str) -> dict[str, Any]:
    """Initial inputs, final outputs (datasets, of which exist) and quanta per task and status."""
    found = plan_overview(store, plan_id)
    sides = {"initial_inputs": found.initial_inputs, "final_outputs": found.final_outputs}
    return {
        "plan_id": plan_id,
        "tasks": found.tasks,
        **{
            side: [{"dataset_type": t, "datasets": n, "existing": e} for t, (n, e) in part.items()]
            for side, part in sides.items()
        },
    }


@router.get("/{plan_id}/executions")
def executions(store: StoreDep, plan_id: str) -> list[dict[str, Any]]:
    """A plan's executions, oldest first: who ran them, when, and their attempts per status."""
    return [jsonable(e) for e in plan_executions(store, plan_id)]


@router.get("/{plan_id}/failures")
def failures(
    store: StoreDep,
    plan_id: str,
    execution: Annotated[str | None, Query(description="Only this execution's failures.")] = None,
    causes: Annotated[
        int,
        Query(
            ge=0,
            le=50,
            description="Likely causes listed per group; 0: none (ask `/failures/causes` per group).",
        ),
    ] = 3,
    shown: Annotated[int, Query(ge=1, le=500, description="Failures listed per group.")] = FAILURES_SHOWN,
) -> dict[str, Any]:
    """Failed quanta grouped by task and error, with error lines, attempts, causes and what they blocked.

    The answer of ``provgraph triage``: each group lists its first ``shown`` failures (by data
    ID) and says how many it has; blocked quanta are counted per task, per group and per failure.
    Causes walk the failures' lineages, the slow part on a large plan: the page asks for
    ``causes=0`` and then for each group's causes apart.
    """
    found = triage(store, plan_id, execution_id=execution, limit=max(causes, 1), with_causes=causes > 0)
    groups = []
    for g in found.groups:
        blocked_by = g.blocked_by
        groups.append(
            {
                "task": g.task,
                "signature": g.signature,
                "error": g.example.error,
                "count": len(g.failures),
                "failures": [
                    {**jsonable(f), "blocked": blocked_by.get(f.quantum_id, {})} for f in g.failures[:shown]
                ],
                "blocked": g.blocked,
                "causes": [{**jsonable(c), "score": float(c.score)} for c in g.causes],
            }
        )
    return {
        "plan_id": plan_id,
        "execution_id": execution,
        "failed": found.failed,
        "blocked": found.blocked,
        "groups": groups,
        "blocked_elsewhere": found.blocked_elsewhere,
    }


@router.get("/{plan_id}/failures/causes")
def failure_causes(
    store: StoreDep,
    plan_id: str,
    task: Annotated[str, Query(description="The group's task label.")],
    signature: Annotated[str, Query(description="The group's error signature, as `/failures` gives it.")],
    execution: Annotated[str | None, Query(description="Only this execution's failures.")] = None,
    causes: Annotated[int, Query(ge=1, le=50, description="Likely causes listed.")] = 3,
) -> dict[str, Any]:
    """The likely causes of one failure group: what `/failures` lists with ``causes`` above 0."""
    found = group_causes(store, plan_id, task, signature, execution_id=execution, limit=causes)
    return {
        "plan_id": plan_id,
        "task": task,
        "signature": signature,
        "causes": [{**jsonable(c), "score": float(c.score)} for c in found],
    }


@router.get("/{plan_id}/suspects")
def plan_suspects(
    store: StoreDep,
    plan_id: str,
    dataset_type: Annotated[str, Query(description="The type of the bad outputs.")],
    bad_at: Annotated[
        str, Query(description="Dimension values of the bad outputs, e.g. 'band=g' or 'tract=0 patch=5'.")
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """What best separates the bad outputs from good ones upstream: ``provgraph suspects``."""
    bad = outputs_at(store, plan_id, dataset_type, DataId.parse(bad_at))
    found = suspects(store, bad, limit=limit)
    return {
        **jsonable(found),
        "suspects": [{**jsonable(s), "score": float(s.score)} for s in found.suspects],
    }


@router.get("/{plan_id}/stats")
def stats(
    store: StoreDep,
    plan_id: str,
    by: Annotated[list[str] | None, Query(description="Group by task and/or dimensions (repeat).")] = None,
    execution: Annotated[str | None, Query(description="Only this execution's attempts.")] = None,
    include_failed: bool = False,
) -> dict[str, Any]:
    """Wall time and peak memory of a plan's attempts per task (or dimensions): ``provgraph stats``."""
    found = runtime_stats(
        store, plan_id, by=by or ("task",), execution_id=execution, include_failed=include_failed
    )
    return dict(jsonable(found))


@router.get("/{plan_id}/footprint")
def plan_footprint(
    store: StoreDep,
    plan_id: str,
    clustering: Annotated[
        str | None, Query(description="Also the peak scratch space of this clustering.")
    ] = None,
) -> dict[str, Any]:
    """Bytes a plan's outputs will take, per task, from sizes recorded elsewhere: ``provgraph footprint``."""
    found = footprint(store, plan_id, clustering=clustering)
    return {
        **jsonable(found),
        "predicted_bytes": found.predicted_bytes,
        "recorded_bytes": found.recorded_bytes,
        "unknown": list(found.unknown),
    }


@router.get("/{plan_id}/subgraph")
def plan_subgraph(
    store: StoreDep,
    plan_id: str,
    task: Annotated[list[str] | None, Query(description="Only quanta of this task label (repeat).")] = None,
    where: Annotated[
        str, Query(description='A data query, e.g. "visit IN (1..2) AND detector != 0" (as plan -d).')
    ] = "",
) -> dict[str, Any]:
    """Quanta of a plan by task and data query, with the external inputs they need (``query subgraph``).

    The quanta are counted per task; their ids are listed when there are at most 500.
    """
    from provenance_graph.preflight import parse_expression  # the parser only: no pre-flight run

    expression = parse_expression(where)
    part = subgraph(store, plan_id, tasks=task, where=expression if expression else None)
    ids = sorted(part.graph.quanta)
    listed = len(ids) <= MAX_ELEMENTS
    return {
        "plan_id": plan_id,
        "quanta": part.graph.task_counts(),
        "total": len(ids),
        "external_inputs": part.external_inputs,
        "listed": listed,
        "quantum_ids": ids if listed else [],
    }


@router.get("/{plan_id}/missing")
def missing(store: StoreDep, plan_id: str) -> list[dict[str, Any]]:
    """Planned against actual: the datasets predicted that do not exist, per task, status and type."""
    return [jsonable(r) for r in missing_outputs(store, plan_id)]


@router.get("/{plan_id}/notes")
def notes(store: StoreDep, plan_id: str) -> list[dict[str, Any]]:
    """Pre-flight's notes: data IDs a task dropped, and why."""
    check_plan(store, plan_id)  # a plan not stored whole is a 404 naming close ids
    return [jsonable(n) for n in plan_notes(store, plan_id)]


@router.get("/{plan_id}/clusterings/{clustering}/blast-radius")
def plan_blast_radius(
    store: StoreDep,
    plan_id: str,
    clustering: str,
    quantum: Annotated[str, Query(description="The quantum that fails.")],
) -> dict[str, Any]:
    """If a quantum fails: the batch jobs and quanta lost under a clustering (``provgraph blast-radius``)."""
    found = blast_radius(store, plan_id, clustering, quantum)
    return {**jsonable(found), "downstream": len(found.downstream), "innocent": len(found.innocent)}
