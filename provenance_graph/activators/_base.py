"""The Activator template: run a stored plan, record what really ran, resume what did not.

`Activator.run` is the same for every Activator. It

1. reads the complete plan and picks its backend (`Activator.prepare`; constructors
   do no I/O): a plan of our own pre-flight runs its pipeline (with run-time config
   overrides, refused if they would change any task's connections) over its repository;
   a plan imported from a Rubin QuantumGraph runs pipe_base's tasks against the Butler
   repository given (``butler``) (`provenance_graph.activators._backends`);
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

Subclasses supply only how quanta are dispatched to workers (which the backend sets
up): `_open`, `_submit`, `_close`, and may say what the unit of dispatch is (`_units`):
one quantum (the default), or the quanta of one batch job, claimed together and run in order by one worker.
A unit is ready when every unit it depends on is done; a unit with a failure is
retried ``retries`` times (only its unfinished quanta), then everything
downstream of it is blocked. Rerunning a plan skips what succeeded, retries what
failed and what was blocked.
"""

from __future__ import annotations

import abc
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from logging import WARNING, getLogger
from pathlib import Path
from typing import Any, Self, final

from provenance_graph.activators._backends import Backend, ButlerBackend, PipelineBackend
from provenance_graph.crashpoints import crash_point
from provenance_graph.errors import ExecutionError
from provenance_graph.interop.butler_run import ButlerPlan, is_from_quantum_graph
from provenance_graph.interop.qgraph import butler_repository_uri
from provenance_graph.journal import JOURNAL_DIR, read_journals
from provenance_graph.logs import suppress_and_log
from provenance_graph.model import (
    AttemptOutcome,
    InfrastructureFailure,
    OutputRecord,
    PlanGraph,
    Quantum,
    QuantumStatus,
    repository_path,
)
from provenance_graph.pipeline import Pipeline, software_versions, task_versions
from provenance_graph.quantum_runner import WorkerSpec
from provenance_graph.repository import Repository
from provenance_graph.store import GraphStore, read_plan
from provenance_graph.store.execution import ExecutionRecord
from provenance_graph.store.journals import record_journals

__all__ = ["Activator", "Failure", "Lost", "LostJob", "Progress", "RunReport"]

_log = getLogger(__name__)

#: What repairs what an interrupted run could not record.
_REPAIRED = "the next run repairs that once this execution has missed its heartbeats"
#: How often (seconds) to look again at quanta another execution holds.
POLL_SECONDS = 0.5
#: The most units claimed ahead per worker (`Activator.claim_ahead_seconds`).
MAX_AHEAD_PER_JOB = 32


@dataclass(frozen=True)
class _Prepared:
    """What `Activator.prepare` read."""

    graph: PlanGraph
    backend: Backend


@dataclass(frozen=True)
class Failure:
    """A quantum whose attempt failed in this run."""

    quantum_id: str
    task: str
    data_id: str
    error: str


@dataclass(frozen=True)
class LostJob:
    """A unit (batch job) the batch system lost in this run: never started, or killed by it."""

    unit: str
    quanta: int
    failure: InfrastructureFailure
    retried: bool
    """Whether this run ran it again; if not, its quanta are pending for the next run."""


@dataclass(frozen=True)
class Lost:
    """What a unit whose batch job the batch system lost brings back: why, and what it finished first."""

    failure: InfrastructureFailure
    finished: list[AttemptOutcome] = field(default_factory=list)
    """Outcomes of the quanta it finished before it was lost (from its journal); the rest are lost."""


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
    messages: tuple[str, ...] = ()
    """What the backend said when it finished (e.g. datasets registered in a Butler)."""
    lost: list[LostJob] = field(default_factory=list)
    """Batch jobs the batch system lost (infrastructure failures, not task failures)."""

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
    butler
        The Butler repository a plan imported from a Rubin QuantumGraph runs against; default
        the one the plan records (required if it records none; refused for other plans).
    memory_per_quantum
        For a plan from a QuantumGraph: the memory each quantum may use (``4GB``), as
        ``pipetask``'s ``--memory-per-quantum``; a task that needs more fails.
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
    retries
        How many times a unit (a batch job) with a failed quantum is run again within this
        run, its unfinished quanta only, before what depends on it is blocked.
    """

    name = "activator"

    #: Seconds of work to claim ahead for each worker, judged by how long its recent units
    #: took; 0 claims two units per worker. Claims of many short units then share a
    #: transaction instead of taking one each.
    claim_ahead_seconds: float = 0.0
    #: Record outcomes at most this often (seconds), several to a transaction; 0 records each
    #: unit's as it arrives. Failures, lost units and idle workers are recorded at once, and
    #: what a crash leaves unrecorded the next run repairs (its quanta are still claimed).
    record_every_seconds: float = 0.0

    def __init__(
        self,
        store: GraphStore,
        plan_id: str,
        *,
        repository: str | Path | None = None,
        butler: str | Path | None = None,
        memory_per_quantum: str | None = None,
        jobs: int = 1,
        fail_fast: bool = False,
        skip_existing: bool = True,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        retries: int = 0,
    ) -> None:
        if jobs < 1:
            raise ExecutionError(f"jobs must be at least 1, not {jobs}", hint="use -j 1 or more")
        if retries < 0:
            raise ExecutionError(f"retries must be 0 or more, not {retries}", hint="use --retries 0 or more")
        self.retries = retries
        self.store = store
        self.plan_id = plan_id
        self.jobs = jobs
        self.fail_fast = fail_fast
        self.skip_existing = skip_existing
        self.config = {k: dict(v) for k, v in (config or {}).items()}
        self.on_progress = on_progress or (lambda _p: None)
        self._repository_arg = repository
        self._butler_arg = butler
        self._memory_per_quantum = memory_per_quantum
        self._prepared: _Prepared | None = None
        self._lost_jobs: list[LostJob] = []
        self._unit_seconds: float | None = None
        """How long recent units took to run (`_learn`)."""
        self.execution_id: str | None = None
        """This Activator's execution, once `run` has started it."""

    # --- reading the plan: no I/O before this ---------------------------------------------
    @final
    def prepare(self) -> Self:
        """Read the plan and its pipeline, and open its repository; `run` does it first.

        Idempotent. Raises if the plan is not stored whole, if the config overrides would
        change a task's connections, or if the repository cannot be found.
        """
        if self._prepared is not None:
            return self
        graph = read_plan(self.store, self.plan_id)
        backend = (
            self._butler_backend(graph) if is_from_quantum_graph(graph) else self._pipeline_backend(graph)
        )
        self._prepared = _Prepared(graph, backend)
        self._prepare()
        return self

    def _pipeline_backend(self, graph: PlanGraph) -> PipelineBackend:
        if self._butler_arg is not None:
            raise ExecutionError(
                f"plan {self.plan_id!r} was made by provgraph's own pre-flight; --butler is for plans "
                "imported from a QuantumGraph",
                hint="leave out --butler (give the data repository with --repo if it moved)",
            )
        if self._memory_per_quantum is not None:
            raise ExecutionError(
                f"plan {self.plan_id!r} was made by provgraph's own pre-flight; --memory-per-quantum is "
                "for plans imported from a QuantumGraph",
                hint="leave out --memory-per-quantum",
            )
        planned = Pipeline.from_yaml(graph.plan.pipeline or "", source=f"plan {self.plan_id!r}'s pipeline")
        pipeline = planned.with_config(self.config)
        check_same_connections(planned, pipeline)
        root = self._repository_arg or graph.plan.metadata.get("repository")
        if not root:
            raise ExecutionError(
                f"plan {self.plan_id!r} does not say which repository it was made from",
                hint="give the repository with --repo PATH",
            )
        repository = Repository.open(Path(str(root)))
        for dataset_type in graph.dataset_types.values():  # what the outputs need; a no-op if known
            repository.register_dataset_type(dataset_type)
        return PipelineBackend(pipeline, Path(str(root)), repository, self.config, graph.plan.pipeline or "")

    def _butler_backend(self, graph: PlanGraph) -> ButlerBackend:
        file = graph.plan.metadata.get("file")
        recorded = graph.plan.repository
        butler = self._butler_arg
        if butler is None:
            if recorded is None:
                raise ExecutionError(
                    f"plan {self.plan_id!r} was imported from QuantumGraph {file} without saying which "
                    "Butler repository it came from",
                    hint=f"give the repository the graph was built from: provgraph run --plan {self.plan_id} "
                    "--butler REPO (as pipetask's -b)",
                )
            butler = repository_path(recorded)
        elif recorded is not None and butler_repository_uri(butler) != recorded:
            raise ExecutionError(
                f"plan {self.plan_id!r} belongs to Butler {repository_path(recorded)}, not to "
                f"--butler {butler}: its datasets are that repository's",
                hint=f"leave out --butler, or import the graph again for the other repository: "
                f"provgraph import-qgraph {file} --butler {butler} --plan-id NEW_ID",
            )
        if self._repository_arg is not None:
            raise ExecutionError(
                f"plan {self.plan_id!r} was imported from QuantumGraph {file}: --repo is for plans of "
                "provgraph's own pre-flight",
                hint="give the Butler repository with --butler REPO instead",
            )
        if self.config:
            raise ExecutionError(
                f"plan {self.plan_id!r} was imported from QuantumGraph {file}, whose task configs are "
                "fixed: run-time config overrides do not apply",
                hint="build a new graph with pipetask qgraph -c LABEL:FIELD=VALUE, then import it",
            )
        return ButlerBackend(ButlerPlan.open(graph, butler, memory_per_quantum=self._memory_per_quantum))

    def _prepare(self) -> None:
        """Read what this Activator needs besides the plan (`prepare` has read the plan)."""
        return None

    def _ready(self) -> _Prepared:
        if self._prepared is None:
            raise ExecutionError(
                f"the Activator of plan {self.plan_id!r} has not read its plan yet",
                hint="call prepare() (run() does) first",
            )
        return self._prepared

    @property
    def graph(self) -> PlanGraph:
        """The plan (after `prepare`)."""
        return self._ready().graph

    @property
    def backend(self) -> Backend:
        """How the plan's quanta run (after `prepare`)."""
        return self._ready().backend

    def worker_spec(self) -> WorkerSpec:
        """What each worker process is set up from (after `prepare`)."""
        return self.backend.worker_spec()

    def _own(self) -> PipelineBackend:
        backend = self.backend
        if not isinstance(backend, PipelineBackend):
            raise ExecutionError(
                f"plan {self.plan_id!r} was imported from a QuantumGraph: it has no pipeline or "
                "repository of provgraph's own",
                hint="use the backend (Activator.backend) to run it",
            )
        return backend

    @property
    def pipeline(self) -> Pipeline:
        """The plan's pipeline with the run-time config overrides (after `prepare`; our own plans)."""
        return self._own().pipeline

    @property
    def repository_root(self) -> Path:
        """Where the plan's repository is (after `prepare`; our own plans)."""
        return self._own().repository_root

    @property
    def repository(self) -> Repository:
        """The plan's repository, open (after `prepare`; our own plans)."""
        return self._own().repository

    def journal_dir(self, execution_id: str) -> Path | None:
        """Where the batch jobs of an execution write their journals (after `prepare`).

        A folder of the plan's output run in its repository, beside the outputs; None for a
        plan imported from a QuantumGraph (its jobs' answers are recorded as they come).
        """
        backend = self.backend
        if not isinstance(backend, PipelineBackend):
            return None
        return backend.repository_root.resolve() / self.graph.plan.output_run / JOURNAL_DIR / execution_id

    def _salvage(self, execution_id: str) -> None:
        """Record what a dead execution's jobs journaled, before its quanta are given back."""
        folder = self.journal_dir(execution_id)
        if folder is None or not folder.is_dir():
            return
        read = read_journals([folder])
        if read.records:
            result = record_journals(self.store, read.records)
            _log.info("execution %s: %d attempt(s) recorded from its journals", execution_id, result.recorded)

    # --- what subclasses supply -----------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Start the workers."""

    @abc.abstractmethod
    def _submit(self, quanta: Sequence[Quantum]) -> Future[list[AttemptOutcome]]:
        """Start one unit's quanta, to run in this order, stopping at the first failure.

        Its future gives the outcomes of the quanta that ran (and never raises for a task failure).
        """

    def _units(self) -> dict[str, list[str]]:
        """The units of dispatch by name, each its quanta in run order; default: one per quantum.

        Quanta in no unit are not run by this Activator (``run-job`` runs one batch job).
        """
        return {quantum_id: [quantum_id] for quantum_id in self.graph.quanta}

    def _retries(self, unit: str) -> int:
        """How many times ``unit`` runs again within this run after a failure; default ``retries``."""
        return self.retries

    def _lost(self, unit: str, err: Exception) -> InfrastructureFailure | None:
        """What lost a unit whose future raised: an `InfrastructureFailure`, or None.

        None (the default): the worker's death is the attempt's failure (this machine's own workers).
        """
        return None

    def _retry_lost(self, unit: str, failure: InfrastructureFailure) -> bool:
        """Whether a lost unit with tries left may run again (default: yes).

        E.g. with more memory after an out-of-memory kill.
        """
        return True

    def _resources(self, unit: str) -> dict[str, Any]:
        """What the unit's next run asks the batch system for (``request_memory``...); default: nothing.

        It is recorded on the unit's attempts.
        """
        return {}

    def _options(self) -> dict[str, Any]:
        """The options recorded with the execution."""
        options: dict[str, Any] = {
            "fail_fast": self.fail_fast,
            "skip_existing": self.skip_existing,
            "config": self.config,
        }
        if self._butler_arg is not None:
            options["butler"] = str(self._butler_arg)
        if self._memory_per_quantum is not None:
            options["memory_per_quantum"] = self._memory_per_quantum
        return options

    @abc.abstractmethod
    def _close(self, *, cancel: bool) -> None:
        """Stop the workers; with ``cancel``, at once, abandoning running quanta."""

    # --- the template ----------------------------------------------------------------------
    @final
    def run(self) -> RunReport:
        """Run the plan's unfinished quanta, recording everything; see the module docstring."""
        started = time.perf_counter()
        units = self.prepare()._units()
        self.backend.before_run()
        own = isinstance(self.backend, PipelineBackend)
        record = ExecutionRecord(
            self.store,
            self.plan_id,
            self.name,
            self.jobs,
            options=self._options(),
            software=software_versions(),
            tasks=task_versions(self.pipeline) if own else {},
            salvage=self._salvage,
        )
        self.execution_id = record.id
        repaired = record.start()
        crash_point("run.started")
        state = _Schedule(self.graph, record.statuses(), record.id, units)
        progress = Progress(len(state.status), state.counts())
        self.on_progress(progress)
        ran = {"succeeded": 0, "failed": 0, "skipped": 0, "blocked": 0, "lost": 0, "retried": 0}
        failures: list[Failure] = []
        self._lost_jobs = []
        in_flight: dict[Future[list[AttemptOutcome]], _Submitted] = {}
        unrecorded = _Unrecorded()
        stopping = False
        self._open()
        try:
            while True:
                if not stopping:
                    self._dispatch(record, state, in_flight, progress, ran)
                if not in_flight and unrecorded:  # recording them may make more units ready
                    args = (record, state, unrecorded, in_flight, progress, ran, failures)
                    stopping |= self._record_due(*args)
                    continue
                if not in_flight:
                    if stopping or not state.waiting_on_others():
                        break
                    time.sleep(POLL_SECONDS)
                    state.refresh_others(record, progress)
                    continue
                timeout = unrecorded.due_in(self.record_every_seconds, POLL_SECONDS)
                done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
                finished = self._collect(done, in_flight)
                crash_point("run.outcomes")
                unrecorded.add(finished)
                stopping |= self._record_due(record, state, unrecorded, in_flight, progress, ran, failures)
                record.check_alive()
                if state.waiting_on_others():
                    state.refresh_others(record, progress)
                self.on_progress(progress)
        except BaseException as err:  # Ctrl-C, or a lost database: give back what we hold
            self._stop(record, state, in_flight, unrecorded, progress, ran, failures, err)
            raise
        self._close(cancel=False)
        return self._finish(record, state, ran, repaired, failures, started)

    def _stop(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        in_flight: dict[Future[list[AttemptOutcome]], _Submitted],
        unrecorded: _Unrecorded,
        progress: Progress,
        ran: dict[str, int],
        failures: list[Failure],
        err: BaseException,
    ) -> None:
        """The run is stopping on ``err``: record what finished, stop the workers, give back the rest."""
        with suppress_and_log(
            _log,
            WARNING,
            "plan %r: could not record the quanta that finished; the next run reruns them",
            self.plan_id,
        ):
            unrecorded.add(self._collect([f for f in in_flight if f.done() and not f.cancelled()], in_flight))
            self._record(record, state, unrecorded.take(), progress, ran, failures)
        self._close(cancel=True)
        reason = f"the run was stopped: {type(err).__name__}"
        # Each step on its own: an interrupt may have broken the connection in use. What we
        # cannot give back (the database is gone too) the next run repairs.
        with suppress_and_log(
            _log,
            WARNING,
            "plan %r: could not give back the quanta of execution %s; %s",
            self.plan_id,
            record.id,
            _REPAIRED,
        ):
            record.release_all(reason)
        with suppress_and_log(
            _log,
            WARNING,
            "plan %r: could not mark execution %s interrupted; %s",
            self.plan_id,
            record.id,
            _REPAIRED,
        ):
            record.close("interrupted", progress.counts, reason)

    def _finish(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        ran: dict[str, int],
        repaired: int,
        failures: list[Failure],
        started: float,
    ) -> RunReport:
        """Close the execution, let the backend finish, and say what the run did."""
        counts = {k: v for k, v in state.counts().items() if v}
        status = "succeeded" if counts.keys() <= {"succeeded", "skipped"} else "failed"
        crash_point("run.closing")
        record.close(status, counts)
        said = self.backend.after_run()
        seconds = time.perf_counter() - started
        messages = (said,) if said else ()
        return RunReport(
            self.plan_id, record.id, status, counts, ran, repaired, failures, seconds, messages,
            list(self._lost_jobs),
        )  # fmt: skip

    def _record_due(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        unrecorded: _Unrecorded,
        in_flight: dict[Future[list[AttemptOutcome]], _Submitted],
        progress: Progress,
        ran: dict[str, int],
        failures: list[Failure],
    ) -> bool:
        """Record the finished units if it is time to; True if a failure stops the run (fail-fast).

        Time to: every `record_every_seconds`, at once when a quantum failed or a unit was lost
        (retries, blocks, fail-fast), and when a worker may be idle, waiting for what they make
        ready.
        """
        due = bool(unrecorded) and (
            self.record_every_seconds <= 0
            or unrecorded.due_in(self.record_every_seconds, 1.0) <= 0
            or len(in_flight) <= self.jobs
            or unrecorded.any_failed()
        )
        if not due or not self._record(record, state, unrecorded.take(), progress, ran, failures):
            return False
        if self.fail_fast:
            self._cancel_queued(record, state, in_flight, progress)
        return self.fail_fast

    def _learn(self, finished: list[tuple[_Submitted, list[AttemptOutcome] | Lost]]) -> None:
        """Follow how long units take to run (a moving average), for `claim_ahead_seconds`."""
        for _, result in finished:
            if isinstance(result, list) and result:
                seconds = sum(o.duration_s for o in result)
                average = self._unit_seconds
                self._unit_seconds = seconds if average is None else 0.8 * average + 0.2 * seconds

    def _window(self) -> tuple[int, int]:
        """Units to hold in flight: refill below the first number, up to the second.

        Two per worker, refilled one by one; with `claim_ahead_seconds`, enough units for that
        long per worker (at most `MAX_AHEAD_PER_JOB`), refilled once half of them have run, so
        that claims come in batches.
        """
        per_job = 2
        if self.claim_ahead_seconds > 0 and self._unit_seconds is not None:
            wanted = math.ceil(self.claim_ahead_seconds / max(self._unit_seconds, 1e-3))
            per_job = max(2, min(MAX_AHEAD_PER_JOB, wanted))
        return max(2, per_job // 2) * self.jobs, per_job * self.jobs

    def _record(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        finished: list[tuple[_Submitted, list[AttemptOutcome] | Lost]],
        progress: Progress,
        ran: dict[str, int],
        failures: list[Failure],
    ) -> bool:
        """Record finished units; retry or block what failures hold up. True if any quantum failed.

        A unit the batch system lost is no failure: its quanta are pending again, it is retried
        while it has tries left (`_retry_lost`), and nothing downstream is blocked.
        """
        recorded = record.finish(
            [o for _, out in finished for o in (out.finished if isinstance(out, Lost) else out)]
        )
        crash_point("run.recorded")
        any_failed = False
        for submitted, result in finished:
            outcomes = result.finished if isinstance(result, Lost) else result
            failed: AttemptOutcome | None = None
            for outcome in outcomes:
                if outcome.quantum_id not in recorded:
                    continue  # we lost it (judged dead meanwhile): its new holder records it
                if outcome.succeeded:
                    ran["succeeded"] += 1
                    state.done(outcome.quantum_id, QuantumStatus.SUCCEEDED, progress)
                else:
                    ran["failed"] += 1
                    failed = outcome
            ran_ids = {o.quantum_id for o in outcomes}
            unrun = [q for q in submitted.quanta if q not in ran_ids]  # after the failure: never started
            if isinstance(result, Lost):  # the rest of the unit was lost with its batch job
                self._record_lost(
                    record, state, _Submitted(submitted.unit, unrun), result.failure, progress, ran
                )
                continue
            for quantum_id in record.withdraw(unrun):
                state.give_back(quantum_id, progress)
            if failed is None:
                state.finished(submitted.unit)
                continue
            any_failed = True
            state.tries[submitted.unit] = state.tries.get(submitted.unit, 0) + 1
            if state.tries[submitted.unit] <= self._retries(submitted.unit) and not self.fail_fast:
                ran["retried"] += 1
                state.retry(submitted.unit, failed.quantum_id, progress)
                continue
            q = self.graph.quanta[failed.quantum_id]
            failures.append(Failure(q.id, q.task_label, q.data_id.key(), failed.error or ""))
            blocked = state.failed(submitted.unit, failed.quantum_id, progress)
            ran["blocked"] += len(record.block(blocked))
            state.finished(submitted.unit)
        return any_failed

    def _record_lost(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        submitted: _Submitted,
        failure: InfrastructureFailure,
        progress: Progress,
        ran: dict[str, int],
    ) -> None:
        """A unit the batch system lost: its attempts 'lost', its quanta pending; retry it or leave it."""
        record.lose(submitted.quanta, failure)
        for quantum_id in submitted.quanta:
            state.give_back(quantum_id, progress)
        ran["lost"] += 1
        state.tries[submitted.unit] = state.tries.get(submitted.unit, 0) + 1
        retry = state.tries[submitted.unit] <= self._retries(submitted.unit) and self._retry_lost(
            submitted.unit, failure
        )
        _log.warning("batch job %s was lost (%s): %s", submitted.unit, failure.reason, failure.message)
        self._lost_jobs.append(LostJob(submitted.unit, len(submitted.quanta), failure, retry))
        if retry:
            ran["retried"] += 1
            state.requeue(submitted.unit)
        else:
            state.abandon(submitted.unit)

    def _dispatch(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        in_flight: dict[Future[list[AttemptOutcome]], _Submitted],
        progress: Progress,
        ran: dict[str, int],
    ) -> None:
        """Claim ready units, up to what `_window` holds in flight, and start them."""
        low, high = self._window()
        if len(in_flight) >= low:
            return
        while state.ready and len(in_flight) < high:
            units = {u: state.pending(u) for u in state.take(high - len(in_flight))}
            wanted = [q for ids in units.values() for q in ids]
            claimed = record.claim(wanted, retry=[q for q in wanted if q in state.retrying])
            crash_point("run.claimed")
            existing: dict[str, list[OutputRecord]] = {}
            # A plan made with --clobber-outputs (a rerun into a run holding its outputs) replaces them.
            clobber = bool(self.graph.plan.metadata.get("clobber_outputs"))
            for unit, ids in units.items():
                state.held_elsewhere((q for q in ids if q not in claimed), progress)
                if any(q not in claimed for q in ids):
                    # Part of the unit is another run's: wait for it rather than run around it.
                    record.withdraw(q for q in ids if q in claimed)
                    state.finished(unit)
                    continue
                to_run: list[str] = []
                for quantum_id in ids:
                    quantum = self.graph.quanta[quantum_id]
                    runs_before = any(p in to_run for p in self.graph.parents(quantum_id))
                    found = (
                        self._existing_outputs(quantum)
                        if self.skip_existing and not clobber and not runs_before
                        else None
                    )
                    if found is not None:
                        existing[quantum_id] = found
                    else:
                        to_run.append(quantum_id)
                if not to_run:
                    state.finished(unit)
                    continue
                for quantum_id in to_run:
                    state.start(quantum_id, progress)
                record.note_resources(to_run, self._resources(unit))
                in_flight[self._submit([self.graph.quanta[q] for q in to_run])] = _Submitted(unit, to_run)
                crash_point("run.submitted")
            for quantum_id in record.skip(existing):
                ran["skipped"] += 1
                state.done(quantum_id, QuantumStatus.SKIPPED, progress)

    def _cancel_queued(
        self,
        record: ExecutionRecord,
        state: _Schedule,
        in_flight: dict[Future[list[AttemptOutcome]], _Submitted],
        progress: Progress,
    ) -> None:
        """Fail fast: take back the units submitted but not started yet."""
        cancelled = [f for f in in_flight if _cancel(f)]
        ids = [q for f in cancelled for q in in_flight.pop(f).quanta]
        record.release(ids, "not started: --fail-fast stopped the run after a failure")
        for quantum_id in ids:
            state.give_back(quantum_id, progress)

    def _existing_outputs(self, quantum: Quantum) -> list[OutputRecord] | None:
        """The fingerprints of a quantum's outputs if it need not run again, else None."""
        return self.backend.existing_outputs(quantum)

    def _collect(
        self,
        done: Iterable[Future[list[AttemptOutcome]]],
        in_flight: dict[Future[list[AttemptOutcome]], _Submitted],
    ) -> list[tuple[_Submitted, list[AttemptOutcome] | Lost]]:
        """Take finished units out of ``in_flight``, with their outcomes (or what lost them)."""
        finished: list[tuple[_Submitted, list[AttemptOutcome] | Lost]] = []
        for future in done:
            submitted = in_flight.pop(future)
            finished.append((submitted, self._outcomes(future, submitted)))
        self._learn(finished)
        return finished

    def _outcomes(
        self, future: Future[list[AttemptOutcome]], submitted: _Submitted
    ) -> list[AttemptOutcome] | Lost:
        try:
            return future.result()
        except Exception as err:  # the worker itself died (killed, out of memory, crashed)
            _log.debug("unit %s: its worker died", submitted.unit, exc_info=True)
            lost = self._lost(submitted.unit, err)
            if lost is not None:
                return Lost(lost)
            # Which of the unit's quanta it was in is unknown: the first one carries the failure.
            return [
                AttemptOutcome(
                    quantum_id=submitted.quanta[0],
                    succeeded=False,
                    duration_s=0.0,
                    host="",
                    pid=0,
                    peak_rss_mb=None,
                    exit_status=-1,
                    error=f"the worker running this quantum died: {type(err).__name__}: {err}",
                )
            ]


def _cancel(future: Future[Any]) -> bool:
    """Cancel a future not started yet; False if it started or its engine cannot cancel (Parsl)."""
    try:
        return future.cancel()
    except NotImplementedError:
        _log.debug("cannot cancel a unit submitted to %s: it runs anyway", type(future).__name__)
        return False


@dataclass(frozen=True)
class _Submitted:
    """A unit in flight: its name and the quanta submitted, in run order."""

    unit: str
    quanta: list[str]


class _Unrecorded:
    """Finished units whose outcomes are not recorded yet (`Activator.record_every_seconds`)."""

    def __init__(self) -> None:
        self.units: list[tuple[_Submitted, list[AttemptOutcome] | Lost]] = []
        self.since = 0.0
        """When the oldest of them came back (`time.monotonic`)."""

    def __bool__(self) -> bool:
        return bool(self.units)

    def add(self, finished: list[tuple[_Submitted, list[AttemptOutcome] | Lost]]) -> None:
        if finished and not self.units:
            self.since = time.monotonic()
        self.units += finished

    def take(self) -> list[tuple[_Submitted, list[AttemptOutcome] | Lost]]:
        taken, self.units = self.units, []
        return taken

    def due_in(self, every: float, otherwise: float) -> float:
        """Seconds until they are due to be recorded (at most ``otherwise``; that if there are none)."""
        if not self.units:
            return otherwise
        return max(0.0, min(otherwise, self.since + every - time.monotonic()))

    def any_failed(self) -> bool:
        """Whether a quantum failed or a unit was lost: recorded at once (retries, blocks, fail-fast)."""
        return any(isinstance(r, Lost) or any(not o.succeeded for o in r) for _, r in self.units)


class _Schedule:
    """The plan as one run sees it: what is done, ready, running, or held elsewhere.

    Quanta are dispatched in units (a quantum, or a batch job's quanta). A unit is ready when it
    has pending quanta, none held elsewhere, and every unit it depends on is done.
    """

    def __init__(
        self,
        graph: PlanGraph,
        statuses: Mapping[str, tuple[QuantumStatus, str | None]],
        execution_id: str,
        units: Mapping[str, Sequence[str]],
    ) -> None:
        self.graph = graph
        self.units = {name: list(ids) for name, ids in units.items()}
        self.unit_of = {q: name for name, ids in self.units.items() for q in ids}
        self.status: dict[str, QuantumStatus] = {}
        self.others: set[str] = set()
        self.retrying: set[str] = set()
        """Quanta this run failed that their unit's retry runs again."""
        self.tries: dict[str, int] = {}
        """Failed (or lost) runs of each unit so far."""
        self.abandoned: set[str] = set()
        """Lost units this run does not run again."""
        self.looked = 0.0
        for quantum_id in self.unit_of:
            status, holder = statuses.get(quantum_id, (QuantumStatus.PENDING, None))
            if status is QuantumStatus.RUNNING and holder != execution_id:
                self.others.add(quantum_id)
            elif status is QuantumStatus.BLOCKED or status is QuantumStatus.FAILED:
                status = QuantumStatus.PENDING  # retried by this run
            self.status[quantum_id] = status
        self.parents: dict[str, set[str]] = {u: set() for u in self.units}
        self.children: dict[str, set[str]] = {u: set() for u in self.units}
        self.outside: dict[str, int] = dict.fromkeys(self.units, 0)
        for quantum_id, unit in self.unit_of.items():
            for parent in graph.parents(quantum_id):
                other = self.unit_of.get(parent)
                if other is None:  # not run here (run-job): it must be done already
                    self.outside[unit] += not statuses.get(parent, (QuantumStatus.PENDING, None))[0].done
                elif other != unit:
                    self.parents[unit].add(other)
                    self.children[other].add(unit)
        self.undone = {u: sum(not self.status[q].done for q in ids) for u, ids in self.units.items()}
        self.waiting = {u: sum(1 for p in self.parents[u] if self.undone[p]) for u in self.units}
        self.ready: deque[str] = deque()
        self.busy: set[str] = set()
        """Units queued in `ready` or in flight."""
        position = {q.id: i for i, q in enumerate(graph.in_order())}
        for unit in sorted(self.units, key=lambda u: min(position[q] for q in self.units[u])):
            self._check(unit)

    def _check(self, unit: str) -> None:
        """Queue the unit if it is ready."""
        ids = self.units[unit]
        if (
            unit not in self.busy
            and unit not in self.abandoned
            and self.waiting[unit] == 0
            and self.outside[unit] == 0
            and any(self.status[q] is QuantumStatus.PENDING for q in ids)
            and not any(q in self.others for q in ids)
        ):
            self.busy.add(unit)
            self.ready.append(unit)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for status in self.status.values():
            out[status.value] = out.get(status.value, 0) + 1
        return out

    def take(self, n: int) -> list[str]:
        """Up to ``n`` ready units (they stay busy until `finished`)."""
        return [self.ready.popleft() for _ in range(min(n, len(self.ready)))]

    def pending(self, unit: str) -> list[str]:
        """The unit's pending quanta, in run order."""
        return [q for q in self.units[unit] if self.status[q] is QuantumStatus.PENDING]

    def finished(self, unit: str) -> None:
        """The unit is no longer in flight; queue it again if it has pending quanta that can run."""
        self.busy.discard(unit)
        self._check(unit)

    def start(self, quantum_id: str, progress: Progress) -> None:
        progress.move(self.status[quantum_id].value, QuantumStatus.RUNNING.value)
        self.status[quantum_id] = QuantumStatus.RUNNING

    def done(self, quantum_id: str, status: QuantumStatus, progress: Progress) -> None:
        progress.move(self.status[quantum_id].value, status.value)
        was_done = self.status[quantum_id].done
        self.status[quantum_id] = status
        self.retrying.discard(quantum_id)
        unit = self.unit_of[quantum_id]
        if was_done:
            return
        self.undone[unit] -= 1
        if self.undone[unit] == 0:
            for child in sorted(self.children[unit]):
                self.waiting[child] -= 1
                self._check(child)

    def requeue(self, unit: str) -> None:
        """A lost unit runs again (its quanta are pending), first of what is ready."""
        self.busy.discard(unit)
        self._check(unit)
        if unit in self.busy:
            self.ready.remove(unit)
            self.ready.appendleft(unit)

    def abandon(self, unit: str) -> None:
        """A lost unit with no tries left: this run leaves its quanta pending (and what needs them)."""
        self.abandoned.add(unit)
        self.busy.discard(unit)

    def retry(self, unit: str, quantum_id: str, progress: Progress) -> None:
        """The unit's failed quantum runs again (with the rest of the unit), first of what is ready."""
        progress.move(self.status[quantum_id].value, QuantumStatus.PENDING.value)
        self.status[quantum_id] = QuantumStatus.PENDING
        self.retrying.add(quantum_id)
        self.busy.discard(unit)
        self._check(unit)
        if unit in self.busy:
            self.ready.remove(unit)
            self.ready.appendleft(unit)

    def failed(self, unit: str, quantum_id: str, progress: Progress) -> dict[str, str]:
        """Mark a final failure; returns ``{quantum: this one}`` for what it blocks.

        Blocked: the unit's own pending quanta (they would run after it in its job) and every
        pending quantum of every unit downstream of it.
        """
        progress.move(self.status[quantum_id].value, QuantumStatus.FAILED.value)
        self.status[quantum_id] = QuantumStatus.FAILED
        self.retrying.discard(quantum_id)
        blocked: dict[str, str] = {}
        seen = {unit}
        stack = [unit]
        while stack:
            current = stack.pop()
            hit = False
            for q in self.units[current]:
                if self.status[q] is QuantumStatus.PENDING:
                    blocked[q] = quantum_id
                    progress.move(QuantumStatus.PENDING.value, QuantumStatus.BLOCKED.value)
                    self.status[q] = QuantumStatus.BLOCKED
                    hit = True
            if hit or current == unit:
                for child in self.children[current] - seen:
                    seen.add(child)
                    stack.append(child)
        return blocked

    def held_elsewhere(self, ids: Iterable[str], progress: Progress) -> None:
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
            unit = self.unit_of[quantum_id]
            if status.done:
                self.done(quantum_id, status, progress)
            elif status is QuantumStatus.FAILED:
                # Its holder blocks what is downstream of the quantum; the rest of a batch job
                # that can no longer complete is blocked here.
                record.block(self.failed(unit, quantum_id, progress))
            else:  # given back: pending or blocked again
                progress.move(QuantumStatus.RUNNING.value, QuantumStatus.PENDING.value)
                self.status[quantum_id] = QuantumStatus.PENDING
            self._check(unit)
