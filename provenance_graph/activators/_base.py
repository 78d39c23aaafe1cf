"""The Activator template: run a stored plan, record what really ran, resume what did not.

`Activator.run` is the same for every Activator. It

1. reads the complete plan and its pipeline (with run-time config overrides,
   refused if they would change any task's connections);
2. starts an ``(:Execution)`` in the graph, giving back the quanta of dead
   executions first (`provenance_graph.store.execution`);
3. schedules: a quantum is ready when all its parents (the producers of its
   inputs) have succeeded or were skipped; ready quanta are claimed in the
   graph, so no quantum ever runs in two places at once; a claimed quantum whose
   outputs all exist already is ``skipped``;
4. records each outcome as it arrives; a failure blocks every quantum
   downstream of it (``blocked``), and with ``fail_fast`` stops new work;
5. on Ctrl-C, stops the workers and gives the unfinished quanta back, so the
   next run resumes them; a ``kill -9`` is repaired by the next run instead.

Subclasses supply only how quanta are executed: `_open`, `_submit`, `_close`.
Rerunning a plan skips what succeeded, retries what failed and what was blocked.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, final

from provenance_graph.crashpoints import crash_point
from provenance_graph.errors import ExecutionError, RepositoryError
from provenance_graph.model import AttemptOutcome, OutputRecord, PlanGraph, Quantum, QuantumStatus
from provenance_graph.pipeline import Pipeline
from provenance_graph.repository import Repository
from provenance_graph.store import GraphStore, read_plan
from provenance_graph.store.execution import ExecutionRecord

__all__ = ["Activator", "Failure", "Progress", "RunReport"]

#: How often (seconds) to look again at quanta another execution holds.
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Failure:
    """A quantum whose attempt failed in this run."""

    quantum_id: str
    task: str
    data_id: str
    error: str


@dataclass
class Progress:
    """Counts of the plan's quanta by status, as this run sees them."""

    total: int
    counts: dict[str, int] = field(default_factory=dict)

    def move(self, old: str, new: str, n: int = 1) -> None:
        """Move ``n`` quanta from status ``old`` to ``new``."""
        self.counts[old] = self.counts.get(old, 0) - n
        self.counts[new] = self.counts.get(new, 0) + n


@dataclass
class RunReport:
    """What one run of a plan did."""

    plan_id: str
    execution_id: str
    status: str
    """'succeeded' (every quantum done), 'failed', or 'interrupted'."""
    counts: dict[str, int]
    """The plan's quanta by status at the end."""
    ran: dict[str, int]
    """What this run did: attempts 'succeeded' and 'failed', quanta 'skipped' and 'blocked'."""
    repaired: int
    """Quanta of dead executions given back at the start."""
    failures: list[Failure]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether every quantum of the plan is done."""
        return self.status == "succeeded"


def check_same_connections(planned: Pipeline, running: Pipeline) -> None:
    """Refuse config overrides that would change what a task reads or writes."""
    for node in planned:
        if dict(running[node.label].connections) != dict(node.connections):
            raise ExecutionError(
                f"the config overrides change the connections of task {node.label!r}",
                hint="overrides at run time may not change datasets; make a new plan instead",
            )


class Activator(abc.ABC):
    """Runs a stored plan and records its execution; subclasses say how quanta execute.

    Parameters
    ----------
    store
        The graph the plan is in and where execution is recorded.
    plan_id
        The complete plan to run.
    repository
        Where inputs are read and outputs written; default: the repository the
        plan was made from (its ``repository`` metadata).
    jobs
        How many quanta may run at once.
    fail_fast
        Stop starting quanta after the first failure.
    skip_existing
        Skip a quantum whose outputs all exist already (otherwise run it again,
        replacing them).
    config
        Run-time config overrides, ``{label: {field: value}}``; they may not
        change any connection.
    on_progress
        Called with the `Progress` whenever a status changes.
    """

    name = "activator"

    def __init__(
        self,
        store: GraphStore,
        plan_id: str,
        *,
        repository: str | Path | None = None,
        jobs: int = 1,
        fail_fast: bool = False,
        skip_existing: bool = True,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        if jobs < 1:
            raise ExecutionError(f"jobs must be at least 1, not {jobs}", hint="use -j 1 or more")
        self.store = store
        self.plan_id = plan_id
        self.jobs = jobs
        self.fail_fast = fail_fast
        self.skip_existing = skip_existing
        self.config = {k: dict(v) for k, v in (config or {}).items()}
        self.on_progress = on_progress or (lambda _p: None)
        self.graph: PlanGraph = read_plan(store, plan_id)
        planned = Pipeline.from_yaml(self.graph.plan.pipeline or "", source=f"plan {plan_id!r}'s pipeline")
        self.pipeline = planned.with_config(self.config)
        check_same_connections(planned, self.pipeline)
        root = repository or self.graph.plan.metadata.get("repository")
        if not root:
            raise ExecutionError(
                f"plan {plan_id!r} does not say which repository it was made from",
                hint="give the repository with --repo PATH",
            )
        self.repository_root = Path(str(root))
        self.repository = Repository.open(self.repository_root)
        for dataset_type in self.graph.dataset_types.values():  # what the outputs need; a no-op if known
            self.repository.register_dataset_type(dataset_type)

    # --- what subclasses supply -----------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Start the workers."""

    @abc.abstractmethod
    def _submit(self, quantum: Quantum) -> Future[AttemptOutcome]:
        """Start one quantum; its future gives the attempt's outcome (and never raises for a task failure)."""

    @abc.abstractmethod
    def _close(self, *, cancel: bool) -> None:
        """Stop the workers; with ``cancel``, at once, abandoning running quanta."""

    # --- the template ----------------------------------------------------------------------
    @final
    def run(self) -> RunReport:
        """Run the plan's unfinished quanta, recording everything; see the module docstring."""
        started = time.perf_counter()
        record = ExecutionRecord(
            self.store,
            self.plan_id,
            self.name,
            self.jobs,
            options={"fail_fast": self.fail_fast, "skip_existing": self.skip_existing, "config": self.config},
        )
        repaired = record.start()
        crash_point("run.started")
        state = _Schedule(self.graph, record.statuses(), record.id)
        progress = Progress(len(self.graph), state.counts())
        self.on_progress(progress)
        ran = {"succeeded": 0, "failed": 0, "skipped": 0, "blocked": 0}
        failures: list[Failure] = []
        in_flight: dict[Future[AttemptOutcome], str] = {}
        stopping = False
        self._open()
        try:
            while True:
                if not stopping:
                    self._dispatch(record, state, in_flight, progress, ran)
                if not in_flight:
                    if stopping or not state.waiting_on_others():
                        break
                    time.sleep(POLL_SECONDS)
                    state.refresh_others(record, progress)
                    continue
                done, _ = wait(in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                outcomes = [self._outcome(f, in_flight.pop(f)) for f in done]
                crash_point("run.outcomes")
                if self._record(record, state, outcomes, progress, ran, failures) and self.fail_fast:
                    stopping = True
                    self._cancel_queued(record, state, in_flight, progress)
                record.check_alive()
                if state.waiting_on_others():
                    state.refresh_others(record, progress)
                self.on_progress(progress)
        except BaseException as err:  # Ctrl-C, or a lost database: give back what we hold
            finished = [f for f in in_flight if f.done() and not f.cancelled()]
            with contextlib.suppress(Exception):  # record what did finish before giving back the rest
                outcomes = [self._outcome(f, in_flight.pop(f)) for f in finished]
                self._record(record, state, outcomes, progress, ran, failures)
            self._close(cancel=True)
            reason = f"the run was stopped: {type(err).__name__}"
            # Each step on its own: an interrupt may have broken the connection in use. What we
            # cannot give back (the database is gone too) the next run repairs.
            with contextlib.suppress(Exception):
                record.release_all(reason)
            with contextlib.suppress(Exception):
                record.close("interrupted", progress.counts, reason)
            raise
        self._close(cancel=False)
        counts = {k: v for k, v in state.counts().items() if v}
        status = "succeeded" if counts.keys() <= {"succeeded", "skipped"} else "failed"
        crash_point("run.closing")
        record.close(status, counts)
        return RunReport(
            self.plan_id, record.id, status, counts, ran, repaired, failures, time.perf_counter() - started
        )

    def _record(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        outcomes: list[AttemptOutcome],
        progress: Progress,
        ran: dict[str, int],
        failures: list[Failure],
    ) -> bool:
        """Record finished attempts and block what failures hold up; True if any failed."""
        recorded = record.finish(outcomes)
        crash_point("run.recorded")
        any_failed = False
        for outcome in outcomes:
            if outcome.quantum_id not in recorded:
                continue  # we lost it (judged dead meanwhile): its new holder records it
            if outcome.succeeded:
                ran["succeeded"] += 1
                state.done(outcome.quantum_id, QuantumStatus.SUCCEEDED, progress)
                continue
            any_failed = True
            ran["failed"] += 1
            q = self.graph.quanta[outcome.quantum_id]
            failures.append(Failure(q.id, q.task_label, q.data_id.key(), outcome.error or ""))
            ran["blocked"] += len(record.block(state.failed(outcome.quantum_id, progress)))
        return any_failed

    def _dispatch(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        in_flight: dict[Future[AttemptOutcome], str],
        progress: Progress,
        ran: dict[str, int],
    ) -> None:
        """Claim ready quanta up to twice the number of jobs in flight, and start them."""
        while state.ready and len(in_flight) < 2 * self.jobs:
            batch = state.take(2 * self.jobs - len(in_flight))
            claimed = record.claim(batch)
            crash_point("run.claimed")
            state.held_elsewhere((q for q in batch if q not in claimed), progress)
            existing: dict[str, list[OutputRecord]] = {}
            for quantum_id in batch:
                if quantum_id not in claimed:
                    continue
                quantum = self.graph.quanta[quantum_id]
                found = self._existing_outputs(quantum) if self.skip_existing else None
                if found is not None:
                    existing[quantum_id] = found
                    continue
                state.start(quantum_id, progress)
                in_flight[self._submit(quantum)] = quantum_id
                crash_point("run.submitted")
            for quantum_id in record.skip(existing):
                ran["skipped"] += 1
                state.done(quantum_id, QuantumStatus.SKIPPED, progress)

    def _cancel_queued(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        in_flight: dict[Future[AttemptOutcome], str],
        progress: Progress,
    ) -> None:
        """Fail fast: take back the quanta submitted but not started yet."""
        cancelled = [f for f in in_flight if f.cancel()]
        ids = [in_flight.pop(f) for f in cancelled]
        record.release(ids, "not started: --fail-fast stopped the run after a failure")
        for quantum_id in ids:
            state.give_back(quantum_id, progress)

    def _existing_outputs(self, quantum: Quantum) -> list[OutputRecord] | None:
        """The fingerprints of a quantum's outputs if every one exists with its file, else None."""
        if not quantum.outputs or not all(map(self.repository.exists, quantum.outputs)):
            return None
        try:
            return [OutputRecord(r.id, *self.repository.fingerprint(r)) for r in quantum.outputs]
        except RepositoryError:  # registered, but the file is gone: run the quantum again
            return None

    def _outcome(self, future: Future[AttemptOutcome], quantum_id: str) -> AttemptOutcome:
        try:
            return future.result()
        except Exception as err:  # the worker itself died (killed, out of memory, crashed)
            return AttemptOutcome(
                quantum_id=quantum_id,
                succeeded=False,
                duration_s=0.0,
                host="",
                pid=0,
                peak_rss_mb=None,
                exit_status=-1,
                error=f"the worker running this quantum died: {type(err).__name__}: {err}",
            )


class _Schedule:
    """The plan as one run sees it: what is done, ready, running, or held elsewhere."""

    def __init__(
        self, graph: PlanGraph, statuses: Mapping[str, tuple[QuantumStatus, str | None]], execution_id: str
    ) -> None:
        self.graph = graph
        self.status: dict[str, QuantumStatus] = {}
        self.others: set[str] = set()
        self.looked = 0.0
        self.missing_parents: dict[str, int] = {}
        for quantum_id in graph.quanta:
            status, holder = statuses.get(quantum_id, (QuantumStatus.PENDING, None))
            if status is QuantumStatus.RUNNING and holder != execution_id:
                self.others.add(quantum_id)
            elif status is QuantumStatus.BLOCKED or status is QuantumStatus.FAILED:
                status = QuantumStatus.PENDING  # retried by this run
            self.status[quantum_id] = status
        order = [q.id for q in graph.in_order()]
        self.ready: deque[str] = deque()
        for quantum_id in order:
            waiting = sum(1 for p in graph.parents(quantum_id) if not self.status[p].done)
            self.missing_parents[quantum_id] = waiting
            if self.status[quantum_id] is QuantumStatus.PENDING and waiting == 0:
                self.ready.append(quantum_id)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status in self.status.values():
            out[status.value] = out.get(status.value, 0) + 1
        return out

    def take(self, n: int) -> list[str]:
        return [self.ready.popleft() for _ in range(min(n, len(self.ready)))]

    def start(self, quantum_id: str, progress: Progress) -> None:
        progress.move(self.status[quantum_id].value, QuantumStatus.RUNNING.value)
        self.status[quantum_id] = QuantumStatus.RUNNING

    def done(self, quantum_id: str, status: QuantumStatus, progress: Progress) -> None:
        progress.move(self.status[quantum_id].value, status.value)
        self.status[quantum_id] = status
        for child in sorted(self.graph.children(quantum_id)):
            self.missing_parents[child] -= 1
            if self.missing_parents[child] == 0 and self.status[child] is QuantumStatus.PENDING:
                self.ready.append(child)

    def failed(self, quantum_id: str, progress: Progress) -> dict[str, str]:
        """Mark a failure; returns ``{downstream quantum: this one}`` for what it blocks."""
        progress.move(self.status[quantum_id].value, QuantumStatus.FAILED.value)
        self.status[quantum_id] = QuantumStatus.FAILED
        blocked: dict[str, str] = {}
        stack = list(self.graph.children(quantum_id))
        while stack:
            child = stack.pop()
            if child in blocked or self.status[child] is not QuantumStatus.PENDING:
                continue
            blocked[child] = quantum_id
            progress.move(QuantumStatus.PENDING.value, QuantumStatus.BLOCKED.value)
            self.status[child] = QuantumStatus.BLOCKED
            stack.extend(self.graph.children(child))
        return blocked

    def held_elsewhere(self, ids: Any, progress: Progress) -> None:
        for quantum_id in ids:
            self.others.add(quantum_id)
            progress.move(self.status[quantum_id].value, QuantumStatus.RUNNING.value)
            self.status[quantum_id] = QuantumStatus.RUNNING

    def give_back(self, quantum_id: str, progress: Progress) -> None:
        """A quantum this run claimed but did not start is pending again."""
        progress.move(self.status[quantum_id].value, QuantumStatus.PENDING.value)
        self.status[quantum_id] = QuantumStatus.PENDING

    def waiting_on_others(self) -> bool:
        return bool(self.others)

    def refresh_others(self, record: ExecutionRecord, progress: Progress) -> None:
        """Look again at quanta other executions hold; take over what they finished or gave back.

        Executions that died meanwhile (``kill -9``) are repaired first, so nothing waits forever.
        At most once per `POLL_SECONDS`.
        """
        if time.monotonic() - self.looked < POLL_SECONDS:
            return
        self.looked = time.monotonic()
        record.repair()
        found = record.statuses(sorted(self.others))
        if gone := self.others - found.keys():
            raise ExecutionError(
                f"{len(gone)} quanta of plan {record.plan_id!r} vanished from the graph while it ran: "
                "the plan was deleted or replaced",
                hint="run the plan again by its id once it is stored",
            )
        for quantum_id, (status, _holder) in found.items():
            if status is QuantumStatus.RUNNING:
                continue
            self.others.discard(quantum_id)
            if status.done:
                self.done(quantum_id, status, progress)
            elif status is QuantumStatus.FAILED:
                self.failed(quantum_id, progress)  # its holder blocks what is downstream
            else:  # given back: pending or blocked again
                progress.move(QuantumStatus.RUNNING.value, QuantumStatus.PENDING.value)
                self.status[quantum_id] = QuantumStatus.PENDING
                if self.missing_parents[quantum_id] == 0:
                    self.ready.append(quantum_id)
