"""Execution provenance in the graph: executions, quantum claims, attempts and outcomes.

An Activator records what really ran through an `ExecutionRecord`:

1. `ExecutionRecord.start` creates the ``(:Execution)`` node of this run of a
   plan and starts its heartbeat; quanta held by executions found dead are
   given back first (`repair`). Liveness and heartbeats follow the one lease
   policy of `store._lease`; the execution id is the lease's token.
2. `claim` takes quanta under their node lock: a claimed quantum is
   ``running``, held by this execution, with a new ``(:Attempt)``; `withdraw`
   takes back a claim whose quantum never started.
3. `finish`, `skip`, `block` and `release` record outcomes. Each checks that
   this execution still holds the quantum, so a run wrongly judged dead can
   never overwrite its successor's records.
4. `close` ends the execution with its counts.

The statuses and the Cypher live in ``cypher/execution.cypher``; the schema
(version 3) is documented in ``docs/schema.md``.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance_graph.errors import ExecutionError, PlanBusyError
from provenance_graph.model import AttemptOutcome, InfrastructureFailure, OutputRecord, QuantumStatus
from provenance_graph.store._lease import STALE_AFTER, Holder, Lease
from provenance_graph.store._missing import plan_not_found
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.status_counts import task_counts, write_counted

__all__ = [
    "ExecutionHolder",
    "ExecutionRecord",
    "attempts",
    "last_options",
    "lost_attempts",
    "quantum_statuses",
    "refuse_if_running",
    "reset_quanta",
    "status_counts",
]


@dataclass(frozen=True)
class ExecutionHolder:
    """An execution that holds quanta of a plan, and its lease as the graph records it."""

    execution_id: str
    quanta: int
    status: str | None
    lease: Holder

    def alive(self, stale_after: float = STALE_AFTER) -> bool:
        """Alive: still ``running``, and alive by the lease policy (`store._lease`)."""
        return self.status == "running" and self.lease.alive(stale_after)


@dataclass
class ExecutionRecord:
    """One execution of one plan by this process, as recorded in the graph."""

    store: GraphStore
    plan_id: str
    activator: str
    jobs: int
    options: Mapping[str, Any] = field(default_factory=dict)
    software: Mapping[str, str] = field(default_factory=dict)
    """Versions of Python and of the packages the execution ran with (`software_versions`)."""
    tasks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per task label, its config digest and code version (`task_versions`); empty for plans
    imported from a QuantumGraph."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    salvage: Callable[[str], None] | None = None
    """Called with a dead execution's id before `repair` gives its quanta back: the
    Activator loads that execution's journals, so what its jobs finished is kept."""
    lease: Lease = field(init=False, repr=False)
    """This execution's lease; its token is the execution id."""

    def __post_init__(self) -> None:
        self.lease = Lease(token=self.id)

    @property
    def host(self) -> str:
        """The host this execution runs on."""
        return self.lease.host

    @property
    def pid(self) -> int:
        """The process id of this execution."""
        return self.lease.pid

    @property
    def lost(self) -> bool:
        """True once the heartbeat found this execution no longer 'running' in the graph."""
        return self.lease.lost

    # --- life cycle ------------------------------------------------------------------
    def start(self) -> int:
        """Record the execution and start its heartbeat; returns how many quanta `repair` gave back."""
        repaired = self.repair()
        rows = self.store.write(
            "execution_start",
            plan_id=self.plan_id,
            execution_id=self.id,
            activator=self.activator,
            host=self.host,
            pid=self.pid,
            user=getpass.getuser(),
            jobs=self.jobs,
            options_json=json.dumps(dict(self.options), sort_keys=True, default=str),
            software_json=json.dumps(dict(self.software), sort_keys=True),
            tasks_json=json.dumps({k: dict(v) for k, v in self.tasks.items()}, sort_keys=True),
        )
        if not rows:
            raise plan_not_found(self.store, self.plan_id)
        self.lease.open()
        self.lease.start_heartbeat(self._beat, f"execution {self.id}")
        return repaired

    def _beat(self) -> bool:
        # False once judged dead by another run (or the plan was deleted): `check_alive` says so.
        rows = self.store.write("execution_heartbeat", execution_id=self.id)
        return bool(rows) and rows[0]["status"] == "running"

    def check_alive(self) -> None:
        """Raise `ExecutionError` if another run judged this one dead (its quanta were taken over)."""
        if self.lost:
            raise ExecutionError(
                f"execution {self.id} of plan {self.plan_id!r} was judged dead by another run "
                "(no heartbeat for too long) and its quanta were given back",
                hint=f"rerun 'provgraph run --plan {self.plan_id}' to resume",
            )

    def close(self, status: str, counts: Mapping[str, int], message: str = "") -> None:
        """End the execution: 'succeeded', 'failed' or 'interrupted', with its status counts."""
        self.lease.close()
        self.store.write(
            "execution_finish",
            execution_id=self.id,
            status=status,
            counts_json=json.dumps(dict(counts), sort_keys=True),
            message=message,
        )

    # --- repair ------------------------------------------------------------------------
    def holders(self) -> list[ExecutionHolder]:
        """The executions that hold quanta of this plan right now."""
        return [
            ExecutionHolder(
                r["execution_id"],
                r["quanta"],
                r["status"],
                Holder(r["execution_id"], r["host"], r["pid"], r["idle_seconds"]),
            )
            for r in self.store.read("execution_holders", plan_id=self.plan_id)
            if r["execution_id"] != self.id
        ]

    def repair(self, stale_after: float = STALE_AFTER) -> int:
        """Give back the quanta of dead executions (killed, crashed, lost); returns how many."""
        repaired = 0
        for holder in self.holders():
            if holder.alive(stale_after):
                continue
            if self.salvage is not None:
                self.salvage(holder.execution_id)
            reason = (
                f"execution {holder.execution_id} ({holder.lease.describe()}) stopped "
                f"without finishing; found by execution {self.id}"
            )
            rows = write_counted(
                self.store,
                "execution_repair",
                plan_id=self.plan_id,
                dead_execution_id=holder.execution_id,
                reason=reason,
            )
            repaired += int(rows[0]["repaired"]) if rows else 0
        return repaired

    # --- quanta --------------------------------------------------------------------------
    def statuses(self, ids: Sequence[str] | None = None) -> dict[str, tuple[QuantumStatus, str | None]]:
        """Status and holding execution of every quantum of the plan (or of ``ids``)."""
        rows = (
            self.store.read("execution_statuses", plan_id=self.plan_id)
            if ids is None
            else self.store.read("execution_statuses_of", ids=list(ids))
        )
        return {r["id"]: (QuantumStatus(r["status"]), r["execution_id"]) for r in rows}

    def claim(self, ids: Iterable[str], retry: Iterable[str] = ()) -> set[str]:
        """Claim quanta to run; returns those this execution now holds.

        A quantum this execution failed is claimed again only if it is in ``retry`` (its batch
        job is being retried).
        """
        self.check_alive()
        ids = list(ids)
        if not ids:
            return set()
        rows = write_counted(
            self.store,
            "execution_claim",
            ids=ids,
            execution_id=self.id,
            plan_id=self.plan_id,
            retry=list(retry),
        )
        return {r["id"] for r in rows}

    def withdraw(self, ids: Iterable[str]) -> set[str]:
        """Take back claims of quanta that never started: pending again, and no attempt recorded."""
        ids = list(ids)
        if not ids:
            return set()
        rows = write_counted(self.store, "execution_withdraw_quanta", ids=ids, execution_id=self.id)
        return {r["id"] for r in rows}

    def finish(self, outcomes: Sequence[AttemptOutcome]) -> set[str]:
        """Record finished attempts; returns the quanta recorded (those this execution held)."""
        if not outcomes:
            return set()
        rows = write_counted(
            self.store, "execution_finish_quanta", rows=[o.row() for o in outcomes], execution_id=self.id
        )
        return {r["id"] for r in rows}

    def skip(self, found: Mapping[str, Sequence[OutputRecord]]) -> set[str]:
        """Mark claimed quanta whose outputs all existed as skipped, recording those outputs."""
        if not found:
            return set()
        rows = [{"id": q, "outputs": [o.row() for o in outs]} for q, outs in found.items()]
        return {
            r["id"]
            for r in write_counted(self.store, "execution_skip_quanta", rows=rows, execution_id=self.id)
        }

    def block(self, blocked: Mapping[str, str]) -> set[str]:
        """Mark quanta blocked by a failed upstream quantum (``{quantum: failed quantum}``)."""
        if not blocked:
            return set()
        rows = [{"id": q, "blocked_by": by} for q, by in blocked.items()]
        return {
            r["id"]
            for r in write_counted(self.store, "execution_block_quanta", rows=rows, execution_id=self.id)
        }

    def lose(self, ids: Iterable[str], failure: InfrastructureFailure) -> set[str]:
        """The batch system lost the job running these quanta: attempts 'lost', quanta pending again."""
        ids = list(ids)
        if not ids:
            return set()
        rows = write_counted(
            self.store, "execution_lose_quanta", ids=ids, execution_id=self.id, attempt=failure.attempt()
        )
        return {r["id"] for r in rows}

    def note_resources(self, ids: Iterable[str], resources: Mapping[str, Any]) -> None:
        """Record on the open attempts of these quanta what their batch job asked the batch system for."""
        ids = list(ids)
        if ids and resources:
            self.store.write(
                "execution_attempt_resources", ids=ids, execution_id=self.id, resources=dict(resources)
            )

    def release_all(self, reason: str) -> int:
        """Give back every quantum this execution still holds (it is stopping); returns how many.

        Asks the graph rather than trusting our own bookkeeping: an interrupt may land after a
        claim committed and before we learnt of it.
        """
        return _released(
            write_counted(
                self.store, "execution_release_all", plan_id=self.plan_id, execution_id=self.id, reason=reason
            )
        )

    def release(self, ids: Iterable[str], reason: str) -> set[str]:
        """Give back claimed quanta that did not finish (the run was stopped)."""
        ids = list(ids)
        if not ids:
            return set()
        rows = write_counted(
            self.store, "execution_release_quanta", ids=ids, execution_id=self.id, reason=reason
        )
        return {r["id"] for r in rows}


def _released(rows: list[dict[str, Any]]) -> int:
    return int(rows[0]["released"]) if rows else 0


def refuse_if_running(store: GraphStore, plan_id: str, verb: str) -> None:
    """Raise `PlanBusyError` if a live execution is running the plan (it cannot be deleted or replaced)."""
    _refuse_live(store.read("execution_live", plan_id=plan_id), plan_id, verb)


def _refuse_live(rows: Iterable[Mapping[str, Any]], plan_id: str, verb: str) -> None:
    """Raise `PlanBusyError` if one of ``rows`` (as ``execution_live``'s) is a live execution."""
    for row in rows:
        holder = ExecutionHolder(
            row["execution_id"],
            0,
            row["status"],
            Holder(row["execution_id"], row["host"], row["pid"], row["idle_seconds"]),
        )
        if holder.alive():
            raise PlanBusyError(
                f"plan {plan_id!r} cannot be {verb}: execution {holder.execution_id} "
                f"({holder.lease.describe()}) is running it",
                hint="wait for that run to finish, or stop it (Ctrl-C), then try again",
            )


def reset_quanta(
    store: GraphStore,
    plan_id: str,
    ids: Sequence[str],
    *,
    reason: str,
    before_commit: Callable[[], None] = lambda: None,
) -> int:
    """Make quanta of a complete plan pending again, their outputs never made; returns how many.

    One transaction (``execution_reset_quanta``): each quantum becomes ``pending`` (no status
    label, no ``blocked_by``), an attempt a dead execution left ``running`` becomes
    ``interrupted`` with ``reason``, other attempts stay as history, and the quanta's output
    datasets lose ``exists``, ``size``, ``checksum``, ``created`` and ``execution_id``. It
    refuses (`PlanBusyError`, nothing changed) while a live execution runs the plan. Then,
    still inside the transaction, ``before_commit`` runs (it removes the outputs' files):
    if it raises, nothing changes in the graph.
    """

    def check(rows: list[dict[str, Any]]) -> int:
        if not rows:
            raise plan_not_found(store, plan_id)
        _refuse_live(rows[0]["running"], plan_id, "reset")
        before_commit()
        return int(rows[0]["reset"])

    return write_counted(
        store, "execution_reset_quanta", check, plan_id=plan_id, ids=list(ids), reason=reason
    )


def status_counts(store: GraphStore, plan_id: str) -> dict[str, dict[str, int]]:
    """``{task: {status: quanta}}`` for one complete plan (none for another id): its task summaries."""
    return task_counts(store, plan_id)


def attempts(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    """Every attempt of a plan's quanta, oldest first."""
    return store.read("execution_attempts", plan_id=plan_id)


def quantum_statuses(store: GraphStore, ids: Sequence[str]) -> dict[str, QuantumStatus]:
    """The status of each of some quanta (those in the graph)."""
    if not ids:
        return {}
    rows = store.read("execution_statuses_of", ids=list(ids))
    return {r["id"]: QuantumStatus(r["status"]) for r in rows}


def last_options(store: GraphStore, plan_id: str, activator: str | None = None) -> dict[str, Any] | None:
    """The options of the plan's latest execution by ``activator`` (any, if None), e.g. its clustering."""
    rows = store.read("execution_last_options", plan_id=plan_id, activator=activator)
    if not rows or not rows[0]["options_json"]:
        return None
    options = json.loads(rows[0]["options_json"])
    return options if isinstance(options, dict) else None


def lost_attempts(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    """A plan's attempts the batch system lost, per reason.

    Rows: ``reason``, ``attempts``, and the latest one's ``batch_job_id``, ``batch_state`` and ``error``.
    """
    return store.read("execution_lost_summary", plan_id=plan_id)


def failed_quanta(
    store: GraphStore, plan_id: str, clustering_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """A plan's failed quanta (at most ``limit``) with their last error and batch job, by task and data ID."""
    return store.read("report_failed_quanta", plan_id=plan_id, clustering_id=clustering_id, limit=limit)


def live_executions(store: GraphStore, plan_id: str) -> list[ExecutionHolder]:
    """The executions of a plan that say they are running, alive or not (see `ExecutionHolder.alive`)."""
    return [
        ExecutionHolder(
            row["execution_id"],
            0,
            row["status"],
            Holder(row["execution_id"], row["host"], row["pid"], row["idle_seconds"]),
        )
        for row in store.read("execution_live", plan_id=plan_id)
    ]


def mark_cancelled(store: GraphStore, execution_id: str, reason: str) -> int:
    """Record an execution, and the attempts it gave back, as cancelled; returns the attempts marked."""
    rows = store.write("execution_mark_cancelled", execution_id=execution_id, reason=reason)
    return int(rows[0]["attempts"]) if rows else 0
