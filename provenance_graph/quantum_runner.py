"""Running quanta in a worker process: the code every Activator's workers share.

A worker is set up once from a `WorkerSpec` (`init_worker`): for a plan of our
own task framework, `PipelineWorkerSpec` opens the repository and loads the
pipeline; a plan imported from a Rubin QuantumGraph brings its own spec
(`provenance_graph.interop.butler_run`). It then runs quanta one after another
(`run_in_worker`), or the quanta of one batch job in order (`run_job_in_worker`;
`run_batch_job` for engines such as Parsl whose workers are not set up by us). Running a
quantum means: clear what an earlier, unfinished attempt left among its outputs,
call the task's ``run_quantum``, check that every predicted output was written,
and fingerprint the outputs (size, SHA-256) and the inputs from outside the plan's
run (SHA-256). Whatever happens is returned as an `AttemptOutcome`; an exception in a
task never escapes.

This module does not import the Neo4j driver: workers stay small.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from provenance_graph.journal import JournalRecord, JournalWriter
from provenance_graph.logs import configure_from_env, suppress_and_log
from provenance_graph.model import AttemptOutcome, OutputRecord, Quantum
from provenance_graph.pipeline import Pipeline, PipelineTask
from provenance_graph.repository import Repository, RepositoryQuantumIO
from provenance_graph.workers import attempt_outcome, exit_when_gone, reset_peak_rss, run_in_order

__all__ = [
    "JournalTarget",
    "PipelineWorkerSpec",
    "QuantumRunner",
    "Runner",
    "WorkerSpec",
    "init_worker",
    "run_batch_job",
    "run_in_worker",
    "run_job_in_worker",
]

_log = logging.getLogger(__name__)

#: Lines of traceback kept in an attempt's error.
TRACEBACK_LINES = 12


class Runner(Protocol):
    """What runs quanta in a worker: one at a time, or a batch job's in order."""

    def run(self, quantum: Quantum) -> AttemptOutcome:
        """Run one quantum; never raises for a failure of the task itself."""
        ...

    def run_job(self, quanta: Sequence[Quantum]) -> list[AttemptOutcome]:
        """Run quanta in order, stopping after the first failure."""
        ...


class WorkerSpec(Protocol):
    """What a worker process is set up from: small, picklable, sent once per worker."""

    def key(self) -> str:
        """Equal for specs that make the same runner (a Parsl worker keeps its runner while it is)."""
        ...

    def make_runner(self) -> Runner:
        """Set up the runner (open the repository, import and load what the quanta need)."""
        ...


@dataclass(frozen=True)
class PipelineWorkerSpec:
    """A worker of a plan of our own task framework: its repository and pipeline."""

    repository_root: str
    pipeline_yaml: str
    overrides: dict[str, dict[str, object]] = field(default_factory=dict)

    def key(self) -> str:
        """The repository, pipeline and overrides, as JSON."""
        return json.dumps(
            [self.repository_root, self.pipeline_yaml, self.overrides], sort_keys=True, default=str
        )

    def make_runner(self) -> QuantumRunner:
        """Open the repository and load the pipeline with its overrides."""
        pipeline = Pipeline.from_yaml(self.pipeline_yaml, source="the plan's pipeline").with_config(
            self.overrides
        )
        _log.debug("worker set up: repository %s, %d tasks", self.repository_root, len(pipeline))
        return QuantumRunner(Repository.open(self.repository_root), pipeline)


@dataclass
class QuantumRunner:
    """Runs quanta of one pipeline over one repository, in this process."""

    repository: Repository
    pipeline: Pipeline
    _tasks: dict[str, PipelineTask] = field(default_factory=dict)

    def task(self, label: str) -> PipelineTask:
        """The task instance for a label (made once)."""
        if label not in self._tasks:
            self._tasks[label] = self.pipeline[label].make_task()
        return self._tasks[label]

    def run(self, quantum: Quantum) -> AttemptOutcome:
        """Run one quantum; never raises for a failure of the task itself."""
        reset_peak_rss()
        started = time.perf_counter()
        try:
            for ref in quantum.outputs:  # leftovers of an interrupted or failed attempt
                self.repository.remove(ref)
            task = self.task(quantum.task_label)
            io = RepositoryQuantumIO(self.repository, quantum, task.resolved)
            task.run_quantum(io)
            written = {ref.id for ref in io.written}
            missing = [str(ref) for ref in quantum.outputs if ref.id not in written]
            if missing:
                raise RuntimeError(
                    f"{quantum.task_label} finished without writing {len(missing)} predicted "
                    f"output(s): {', '.join(missing[:5])}"
                )
            outputs = tuple(
                OutputRecord(ref.id, *self.repository.fingerprint(ref)) for ref in quantum.outputs
            )
            read = self.external_input_checksums(quantum)
        except Exception as err:  # the task's failure is the attempt's outcome, not ours
            # What a failed attempt wrote must not pass for its outputs later (skip-existing).
            for ref in quantum.outputs:
                with suppress_and_log(
                    _log,
                    logging.WARNING,
                    "quantum %s failed, and its output %s could not be removed: a rerun may take it as done",
                    quantum.id,
                    ref,
                ):
                    self.repository.remove(ref)
            lines = traceback.format_exception(err)
            tail = "".join(lines[-TRACEBACK_LINES:]).rstrip()
            return attempt_outcome(
                quantum, started, succeeded=False, error=f"{type(err).__name__}: {err}\n{tail}"
            )
        return attempt_outcome(quantum, started, succeeded=True, outputs=outputs, input_checksums=read)

    def external_input_checksums(self, quantum: Quantum) -> tuple[tuple[str, str], ...]:
        """``(id, sha256:<hex>)`` of each input from outside the quantum's output run, sorted by id.

        What no quantum of the plan produced (raws, calibrations, reused outputs of another
        run) has no checksum in the graph of its own; the attempt records what it read
        (``:Attempt.input_checksums_json``). Each file is hashed once per attempt, with the
        checksum code of the outputs (`Repository.fingerprint`); inputs of the output run
        are the plan's own outputs, whose checksums their producers recorded.
        """
        external = {ref.id: ref for ref in quantum.inputs if ref.run != quantum.run}
        return tuple((i, self.repository.fingerprint(external[i])[2]) for i in sorted(external))

    def run_job(self, quanta: Sequence[Quantum]) -> list[AttemptOutcome]:
        """Run a batch job's quanta in the order given; stop at the first failure (`run_in_order`)."""
        return run_in_order(self.run, quanta)


#: The worker process's runner, set by `init_worker`.
_WORKER: dict[str, Runner] = {}
#: What `run_batch_job` set the worker's runner up with.
_WORKER_KEY: dict[str, str] = {}
#: Activator processes this worker watches (`run_batch_job`).
_WATCHED: set[int] = set()


def init_worker(spec: WorkerSpec, activator_pid: int | None = None) -> None:
    """Set up a worker process from ``spec`` (open the repository, load the pipeline...).

    Workers ignore Ctrl-C: the Activator that owns them decides how to stop. With
    ``activator_pid``, a worker exits as soon as that process dies (``kill -9``;
    `exit_when_gone`), so no orphan goes on writing beside the run that repairs its quanta.

    Linux's ``PR_SET_PDEATHSIG`` does not serve here: a worker's parent is the
    forkserver, not the Activator, and the forkserver ends only after its workers
    (each holds its "alive" pipe).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_from_env()
    if activator_pid is not None:
        threading.Thread(target=exit_when_gone, args=(activator_pid,), daemon=True).start()
    _WORKER["runner"] = spec.make_runner()


def run_in_worker(quantum: Quantum) -> AttemptOutcome:
    """Run one quantum in a worker set up by `init_worker`."""
    runner = _WORKER.get("runner")
    if runner is None:
        raise RuntimeError("run_in_worker called in a process that init_worker did not set up")
    return runner.run(quantum)


def run_job_in_worker(quanta: Sequence[Quantum]) -> list[AttemptOutcome]:
    """Run one batch job's quanta in order in a worker set up by `init_worker`."""
    runner = _WORKER.get("runner")
    if runner is None:
        raise RuntimeError("run_job_in_worker called in a process that init_worker did not set up")
    return runner.run_job(quanta)


@dataclass(frozen=True)
class JournalTarget:
    """Where a batch job journals its attempts, and whose they are (`provenance_graph.journal`)."""

    path: str
    plan_id: str
    execution_id: str
    job: str


def run_batch_job(
    spec: WorkerSpec,
    quanta: Sequence[Quantum],
    activator: tuple[str, int] | None = None,
    journal: JournalTarget | None = None,
) -> list[AttemptOutcome]:
    """Run one batch job's quanta in order, in a worker of an engine that does not call `init_worker`.

    The runner is set up once per worker process and kept while later jobs bring an equal
    spec (a Parsl worker runs many jobs). ``activator`` is the host and pid of the
    Activator that submitted the job: a worker on the same host exits when that process is gone
    (``kill -9``), so no orphan goes on writing beside the run that repairs its quanta.
    With a ``journal``, each attempt is appended to it as soon as it ends, so what the job
    finished is known even if the worker dies or the answer never reaches the Activator.
    """
    if activator is not None and activator[0] == socket.gethostname() and activator[1] not in _WATCHED:
        _WATCHED.add(activator[1])
        threading.Thread(target=exit_when_gone, args=(activator[1],), daemon=True).start()
    key = spec.key()
    if _WORKER_KEY.get("runner") != key:
        configure_from_env()
        _WORKER["runner"] = spec.make_runner()
        _WORKER_KEY["runner"] = key
    runner = _WORKER["runner"]
    if journal is None:
        return runner.run_job(quanta)
    with JournalWriter(journal.path) as writer:

        def run_and_journal(quantum: Quantum) -> AttemptOutcome:
            outcome = runner.run(quantum)
            writer.write(JournalRecord(journal.plan_id, journal.execution_id, journal.job, outcome))
            return outcome

        return run_in_order(run_and_journal, quanta)
