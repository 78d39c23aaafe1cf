"""Recording an execution that ran elsewhere (Rubin's ``pipetask run``) against an imported plan.

`record_imported_execution` takes what `interop.qg_provenance` read from a provenance
QuantumGraph and records it the way our own runs are recorded (`store.execution`): one
``(:Execution)`` of the plan, an ``(:Attempt)`` per attempt, and each quantum's ``status``
with its status label. The plan must be the one imported from the predicted graph that was
run (``provgraph import-qgraph``); quanta are matched to it by pipe_base's quantum UUID when
the plan carries them (``butler_id``), else by task label and data ID, read from the stored
plan itself, so how our ids are made does not matter here.

- **Idempotent.** The execution id is a UUID5 of the file's digest. A file imported already
  is found and nothing is written (`ImportResult.outcome` ``unchanged``); one whose import
  was interrupted (status ``importing``) is written again, every write being a MERGE.
- **A second run is a second execution.** A file aggregated after another ``pipetask run``
  of the same graph lists the earlier attempts again; those stay the earlier execution's
  (attempt ids are ``<quantum id>/<number>``), the new ones are the new execution's, and each
  quantum's status is the latest: an older file never overwrites a newer one's status.

The Cypher is in ``cypher/execution_import.cypher``; the properties in ``docs/schema.md``.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass

from provenance_graph.errors import PlanError, PlanNotFoundError
from provenance_graph.model import ImportedQuantum, ProvenanceRun, QuantumStatus
from provenance_graph.store._batches import batches
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.execution import refuse_if_running
from provenance_graph.store.plan_read import read_plan
from provenance_graph.store.status_counts import write_counted

__all__ = ["ACTIVATOR", "ImportResult", "record_imported_execution"]

#: The ``activator`` of an imported execution.
ACTIVATOR = "lsst-provenance"
#: Namespace of the UUID5 of imported executions (of the file's digest).
_NAMESPACE = uuid.UUID("6f1d3c2e-5b1a-4d8e-9c47-1e2f3a4b5c6d")
#: Quanta per write transaction.
_BATCH = 2_000


@dataclass(frozen=True)
class ImportResult:
    """What `record_imported_execution` did."""

    execution_id: str
    plan_id: str
    outcome: str
    """``written`` or ``unchanged`` (this file was imported before)."""
    status: str
    """The execution's outcome: ``succeeded`` (every quantum succeeded) or ``failed``."""
    counts: dict[str, int]
    """Quanta per status, as the file has them."""
    attempts: int
    """Attempts the file lists."""


def execution_id_of(run: ProvenanceRun) -> str:
    """The id of the execution a provenance file records (the same for the same file)."""
    return str(uuid.uuid5(_NAMESPACE, run.digest))


def record_imported_execution(store: GraphStore, run: ProvenanceRun, plan_id: str) -> ImportResult:
    """Record a provenance file's run as an execution of the stored plan ``plan_id``.

    Raises
    ------
    PlanError
        No complete plan ``plan_id`` is stored, its output run is not the file's, or some of the
        file's quanta are not in it (the file is of another graph).
    PlanBusyError
        A live execution of ours is running the plan.
    """
    fix = f"import the predicted graph first: 'provgraph import-qgraph PREDICTED.qg --plan-id {plan_id}'"
    try:
        graph = read_plan(store, plan_id)
    except PlanNotFoundError as err:
        raise PlanError(
            f"provenance file {run.file} is of output run {run.output_run!r}, "
            f"but there is no plan {plan_id!r} to record it against: {err.message}",
            hint=fix,
        ) from err
    if graph.plan.output_run != run.output_run:
        raise PlanError(
            f"provenance file {run.file} is of output run {run.output_run!r}, "
            f"but plan {plan_id!r} writes {graph.plan.output_run!r}",
            hint=f"pass the plan imported from its predicted graph with --plan-id, or {fix}",
        )
    by_key = {(q.task_label, q.data_id.key()): q.id for q in graph.quanta.values()}
    by_butler_id = {
        r["butler_id"]: r["id"] for r in store.read("import_execution_butler_ids", plan_id=plan_id)
    }
    ours: dict[str, str] = {}  # butler id -> our quantum id
    missing: list[ImportedQuantum] = []
    for quantum in run.quanta:
        found = by_butler_id.get(quantum.butler_id) or by_key.get((quantum.task_label, quantum.data_id.key()))
        if found is None:
            missing.append(quantum)
        else:
            ours[quantum.butler_id] = found
    if missing:
        first = missing[0]
        raise PlanError(
            f"provenance file {run.file} does not match plan {plan_id!r}: {len(missing)} of its "
            f"{len(run.quanta)} quanta are not in the plan (e.g. {first.task_label} ({first.data_id}))",
            hint=f"the file is of another graph; {fix}",
        )
    refuse_if_running(store, plan_id, "given imported provenance")

    execution_id = execution_id_of(run)
    counts = dict(Counter(q.status.value for q in run.quanta))
    attempts = sum(len(q.attempts) for q in run.quanta)
    status = "succeeded" if counts.get(QuantumStatus.SUCCEEDED.value, 0) == len(run.quanta) else "failed"
    props = {
        "source_file": str(run.file),
        "digest": run.digest,
        "lsst_provenance_dataset_id": run.provenance_dataset_id,
        "user": run.user,
        "options_json": "{}",
    }
    [start] = store.write("import_execution_start", plan_id=plan_id, execution_id=execution_id, props=props)
    if start["status"] != "importing":
        return ImportResult(execution_id, plan_id, "unchanged", start["status"], counts, attempts)
    for chunk in batches(run.quanta, _BATCH):
        rows = [
            {
                "id": ours[q.butler_id],
                "status": q.status.value,
                "lsst_status": q.lsst_status,
                "caveats": q.caveats,
                "blocked_by": ours.get(q.blocked_by) if q.blocked_by else None,
                "attempt_count": len(q.attempts),
                "attempts": [a.row() for a in q.attempts],
            }
            for q in chunk
        ]
        write_counted(store, "import_execution_quanta", rows=rows, plan_id=plan_id, execution_id=execution_id)
    store.write(
        "import_execution_finish",
        execution_id=execution_id,
        status=status,
        started=run.started,
        ended=run.ended,
        counts_json=json.dumps(counts, sort_keys=True),
        message=f"imported from {run.file}",
    )
    return ImportResult(execution_id, plan_id, "written", status, counts, attempts)
