"""Reading stored plans back: whole or as a subgraph, their summaries and the list of plans.

Queries see complete plans only (``status: 'complete'``): a plan being written, or whose
write was interrupted, is not found. A plan read in several transactions is checked to be
unchanged at the end (`PlanBusyError` otherwise). Rows are decoded by `model.PlanDecoder`,
the decoder plan files use too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import neo4j.time

from provenance_graph.errors import PlanBusyError, PlanError
from provenance_graph.gcpause import collector_paused
from provenance_graph.model import (
    DataId,
    DatasetType,
    DimensionValue,
    NoteKind,
    Plan,
    PlanDecoder,
    PlanGraph,
    PlanNote,
)
from provenance_graph.store._batches import batches
from provenance_graph.store._lease import STALE_AFTER
from provenance_graph.store._missing import plan_not_found
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.datasets import dataset_type_key

__all__ = [
    "DataIdFilter",
    "DataQuery",
    "ExecutionState",
    "PlanSummary",
    "StoredPlan",
    "execution_state",
    "list_plans",
    "plan_notes",
    "plan_quanta_params",
    "plan_summary",
    "read_plan",
    "read_plan_header",
]


@dataclass(frozen=True)
class StoredPlan:
    """One line of `list_plans`."""

    id: str
    status: str
    """The write state: ``complete``, or ``writing`` for a write not finished (``--all``)."""
    output_run: str | None
    created: str | None
    quanta: int | None
    datasets: int | None
    constraints: str | None
    execution: str | None = None
    """The execution state of a complete plan (`execution_state`); None while it is written."""


ExecutionState = Literal["pending", "running", "failed", "succeeded"]


def execution_state(quanta: int, failed: int, done: int, running: int) -> ExecutionState:
    """What running a plan came to, from its quanta's statuses and its live executions.

    ``running`` while an execution of it is alive (whatever its quanta say so far); else
    ``failed`` when a quantum failed or was blocked (a rerun retries them); ``succeeded``
    when every quantum succeeded or was skipped; ``pending`` otherwise (never run, or
    stopped with quanta left to run: a plan without quanta too).
    """
    if running:
        return "running"
    if failed:
        return "failed"
    if quanta and done == quanta:
        return "succeeded"
    return "pending"


@dataclass(frozen=True)
class PlanSummary:
    """Counts describing one complete stored plan."""

    plan: Plan
    """The plan header."""
    task_counts: dict[str, int]
    """Quanta per task label."""
    quanta: int
    """Quanta in the graph."""
    datasets: int
    """Datasets read or written by the plan's quanta."""
    edges: int
    """CONSUMES plus PRODUCES edges."""
    initial_inputs: int
    """Datasets the plan reads but does not produce."""
    final_outputs: int
    """Datasets the plan produces that none of its quanta read."""
    notes: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Pre-flight's notes by kind (`NoteKind` value): ``{kind: (notes, data IDs they drop)}``."""


#: Quanta or datasets per row when reading a plan back (see ``plan_quanta``).
_READ_CHUNK = 2_000


def _plan_from_props(plan_id: str, props: Mapping[str, Any]) -> Plan:
    created = props.get("created")
    native = created.to_native() if isinstance(created, neo4j.time.DateTime) else created
    return Plan(
        id=plan_id,
        output_run=props["output_run"],
        created=native,
        pipeline_digest=props.get("pipeline_digest", ""),
        pipeline=props.get("pipeline", ""),
        constraints=props.get("constraints", ""),
        metadata=json.loads(props.get("metadata_json") or "{}"),
        repository=props.get("repository"),
    )


def _complete_header(store: GraphStore, plan_id: str) -> Mapping[str, Any]:
    rows = store.read("plan_header", plan_id=plan_id)
    if not rows or rows[0]["plan"].get("status") != "complete":
        raise plan_not_found(store, plan_id)
    props: Mapping[str, Any] = rows[0]["plan"]
    return props


def read_plan_header(store: GraphStore, plan_id: str) -> Plan:
    """The header of a complete plan (`PlanNotFoundError`, suggesting close ids, if there is none)."""
    return _plan_from_props(plan_id, _complete_header(store, plan_id))


@runtime_checkable
class DataQuery(Protocol):
    """A parsed data query (`provenance_graph.preflight.Expression`), as a plan read uses it."""

    def admits(self, data_id: Mapping[str, Any]) -> bool:
        """Whether to keep a quantum with this data ID."""
        ...  # pragma: no cover - a protocol

    def required_values(self) -> dict[str, list[Any]]:
        """Values each dimension must take where a data ID has it (a necessary condition)."""
        ...  # pragma: no cover - a protocol


#: Which quanta to keep: ``{dimension: [values]}`` (matched in Cypher), a test of a quantum's
#: data ID applied to each quantum read, or a data query: its required values are matched in
#: Cypher first, then its test decides.
DataIdFilter = (
    Mapping[str, Sequence[DimensionValue]] | Callable[[Mapping[str, DimensionValue]], bool] | DataQuery
)


def read_plan(
    store: GraphStore,
    plan_id: str,
    *,
    tasks: Sequence[str] | None = None,
    where: DataIdFilter | None = None,
) -> PlanGraph:
    """Read a complete plan back, whole or as a subgraph.

    Parameters
    ----------
    store
        Where to read.
    plan_id
        The plan's id.
    tasks
        Keep only quanta of these task labels.
    where
        Keep only quanta whose data ID has, for each named dimension it has, one of
        the listed values, e.g. ``{"visit": [1, 2], "detector": [3]}``; or, given a
        function, those whose data ID (as a dict) it returns true for; or, given a data
        query, those it admits.
    """
    props = _complete_header(store, plan_id)
    params, admits = plan_quanta_params(store, plan_id, tasks, where)
    rows = [q for r in store.read("plan_quanta", **params) for q in r["quanta"]]
    if admits is not None:
        rows = [q for q in rows if admits(DataId.from_key(q[2]).to_dict())]
    dataset_ids = sorted({d for q in rows for d in (*q[4], *q[5])})
    dataset_rows: list[list[Any]] = []
    for chunk in batches(dataset_ids, 50_000):
        for r in store.read("datasets_in_chunks", ids=list(chunk), chunk=_READ_CHUNK):
            dataset_rows.extend(r["datasets"])
    # A plan's types are those of its Butler repository (the one its datasets carry), or unscoped.
    type_keys = sorted({dataset_type_key(r[1], r[5]) for r in dataset_rows})
    types = {
        t["name"]: DatasetType(
            name=t["name"], dimensions=tuple(t["dimensions"]), storage_class=t["storage_class"]
        )
        for t in store.read("dataset_types_by_key", keys=type_keys)
    }
    note_rows = store.read("plan_notes", plan_id=plan_id) if tasks is None and not where else []
    try:
        with collector_paused():
            graph = _graph_from_rows(plan_id, props, rows, dataset_rows, types, note_rows)
    except KeyError as err:  # a dataset or type vanished between the reads
        _check_unchanged(store, plan_id, props)
        raise PlanError(f"plan {plan_id!r} refers to {err} that is not in the graph") from None
    _check_unchanged(store, plan_id, props)
    return graph


def plan_quanta_params(
    store: GraphStore, plan_id: str, tasks: Sequence[str] | None, where: DataIdFilter | None
) -> tuple[dict[str, Any], Callable[[Mapping[str, DimensionValue]], bool] | None]:
    """The parameters of ``plan_quanta`` for `read_plan`, and the test it applies to each row after.

    A data query's required values (``visit IN (1..3) AND ...``) go to the server, which may
    seek them in an index; its whole test runs on what comes back.
    """
    admits: Callable[[Mapping[str, DimensionValue]], bool] | None = None
    if isinstance(where, DataQuery):
        admits, values = where.admits, where.required_values()
    elif callable(where):
        admits, values = where, {}
    else:
        values = {k: list(v) for k, v in (where or {}).items()}
    params = {
        "plan_id": plan_id,
        "tasks": list(tasks) if tasks is not None else None,
        "where": values,
        "seek": _seek_dimension(store, plan_id, tasks, values),
        "chunk": _READ_CHUNK,
    }
    return params, admits


#: Dimensions whose index ``plan_quanta`` may seek, most selective first: few plans share a value.
_SEEKABLE = ("exposure", "visit", "patch")


def _seek_dimension(
    store: GraphStore, plan_id: str, tasks: Sequence[str] | None, values: Mapping[str, object]
) -> str | None:
    """The dimension of *values* through whose index the asked quanta are found, or None.

    Only one that every asked task's quanta have: a constraint on a dimension passes the quanta
    that lack it, which its index cannot find. A task's dimensions are those of its summary's
    example data ID, so the plan's quanta are not read to learn them.
    """
    candidates = [k for k in _SEEKABLE if k in values]
    if not candidates:
        return None
    dimensions = {
        r["task"]: set(DataId.from_key(r["example"]).dimensions)
        for r in store.read("status_counts_tasks", plan_id=plan_id)
    }
    asked = list(dimensions) if tasks is None else list(tasks)
    for key in candidates:
        if all(key in dimensions.get(task, {key}) for task in asked):
            return key
    return None


def _check_unchanged(store: GraphStore, plan_id: str, before: Mapping[str, Any]) -> None:
    """Raise `PlanBusyError` if the plan changed while it was read in several transactions."""
    rows = store.read("plan_header", plan_id=plan_id)
    after = rows[0]["plan"] if rows else {}
    if after.get("status") != "complete" or after.get("digest") != before.get("digest"):
        raise PlanBusyError(
            f"plan {plan_id!r} was replaced or deleted while it was being read",
            hint="read it again",
        )


def _graph_from_rows(
    plan_id: str,
    props: Mapping[str, Any],
    rows: list[list[Any]],
    dataset_rows: list[list[Any]],
    types: Mapping[str, DatasetType],
    note_rows: list[dict[str, Any]],
) -> PlanGraph:
    # The store wrote these records itself from a plan checked whole before its first
    # write (`plan_write`): ids and data IDs are taken as recorded, not checked again.
    decoder = PlanDecoder(types, trusted_ids=True)
    data_ids: dict[str, DataId] = {}  # each distinct data ID is parsed once

    def data_id_of(text: str) -> DataId:
        found = data_ids.get(text)
        if found is None:
            found = data_ids[text] = DataId.trusted_key(text)
        return found

    for d_id, type_name, data_id_text, run, _uri, repository, butler_id in dataset_rows:
        try:
            decoder.dataset(d_id, type_name, data_id_of(data_id_text), run, repository, butler_id)
        except PlanError as err:
            raise PlanError(f"plan {plan_id!r}: stored dataset {d_id}: {err.message}") from None
    refs = decoder.refs
    quanta = []
    for q_id, task, data_id_text, run, inputs, outputs, repository, butler_id in rows:
        try:
            quanta.append(
                decoder.quantum(
                    q_id,
                    task,
                    data_id_of(data_id_text),
                    run,
                    [refs[i] for i in inputs],
                    [refs[o] for o in outputs],
                    repository,
                    butler_id,
                )
            )
        except PlanError as err:
            raise PlanError(f"plan {plan_id!r}: stored quantum {q_id}: {err.message}") from None
    notes = [_note_from_row(n) for n in note_rows]
    uris = {r[0]: r[4] for r in dataset_rows if r[4]}
    return PlanGraph(_plan_from_props(plan_id, props), quanta, notes, uris)


def _note_from_row(row: Mapping[str, Any]) -> PlanNote:
    return PlanNote(
        task_label=row["task"],
        kind=NoteKind(row["kind"]),
        connection=row["connection"],
        dataset_type=row["dataset_type"],
        upstream_task=row.get("upstream_task") or "",
        message=row["message"],
        data_ids=tuple(DataId.from_key(k) for k in row["data_ids"]),
    )


def plan_notes(store: GraphStore, plan_id: str) -> list[PlanNote]:
    """The pre-flight notes of a complete plan: why it has no quanta at some data IDs.

    Sorted by task label, connection and kind.
    """
    props = _complete_header(store, plan_id)
    rows = store.read("plan_notes", plan_id=plan_id)
    _check_unchanged(store, plan_id, props)
    return [_note_from_row(r) for r in rows]


def plan_summary(store: GraphStore, plan_id: str) -> PlanSummary:
    """Counts of one complete plan, computed in the graph."""
    props = _complete_header(store, plan_id)
    counts = {r["task"]: int(r["quanta"]) for r in store.read("plan_task_counts", plan_id=plan_id)}
    [elements] = store.read("plan_element_counts", plan_id=plan_id)
    io_rows = store.read("plan_io_counts", plan_id=plan_id)
    notes = {
        r["kind"]: (int(r["notes"]), int(r["data_ids"]))
        for r in store.read("plan_note_counts", plan_id=plan_id)
    }
    _check_unchanged(store, plan_id, props)
    [io] = io_rows
    return PlanSummary(
        plan=_plan_from_props(plan_id, props),
        task_counts=counts,
        quanta=int(elements["quanta"]),
        datasets=int(elements["datasets"]),
        edges=int(elements["edges"]),
        initial_inputs=int(io["initial_inputs"]),
        final_outputs=int(io["final_outputs"]),
        notes=notes,
    )


def list_plans(store: GraphStore, *, include_incomplete: bool = False) -> list[StoredPlan]:
    """The stored plans, newest first, each with its write state and execution state."""
    rows = store.read("plan_list", include_incomplete=include_incomplete)
    complete = [r["id"] for r in rows if r["status"] == "complete"]
    states = {
        s["plan_id"]: execution_state(s["quanta"], s["failed"], s["done"], s["running"])
        for s in store.read("plan_execution_states", plan_ids=complete, stale_after=STALE_AFTER)
    }
    out = []
    for r in rows:
        created = r["created"]
        out.append(
            StoredPlan(
                id=r["id"],
                status=r["status"],
                output_run=r["output_run"],
                created=created.iso_format() if hasattr(created, "iso_format") else created,
                quanta=r["quanta"],
                datasets=r["datasets"],
                constraints=r["constraints"],
                execution=states.get(r["id"]),
            )
        )
    return out
