"""Running quanta in a worker process: the code every Activator's workers share.

A worker is set up once (`init_worker`: open the repository, load the
pipeline), then runs quanta one after another (`run_in_worker`), or the quanta
of one batch job in order (`run_job_in_worker`; `run_batch_job` for engines
such as Parsl whose workers are not set up by us). Running a
quantum means: clear what an earlier, unfinished attempt left among its outputs,
call the task's ``run_quantum``, check that every predicted output was written,
and fingerprint the outputs (size, SHA-256). Whatever happens is returned as an
`AttemptOutcome`; an exception in a task never escapes.

This module does not import the Neo4j driver: workers stay small.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import signal
import socket
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provenance_graph.logs import configure_from_env, suppress_and_log
from provenance_graph.model import AttemptOutcome, OutputRecord, Quantum
from provenance_graph.pipeline import Pipeline, PipelineTask
from provenance_graph.repository import Repository, RepositoryQuantumIO

__all__ = ["QuantumRunner", "init_worker", "run_batch_job", "run_in_worker", "run_job_in_worker"]

_log = logging.getLogger(__name__)

#: Lines of traceback kept in an attempt's error.
TRACEBACK_LINES = 12


def _reset_peak_rss() -> None:
    """Reset this process's peak RSS (Linux: VmHWM), so the next reading is per attempt."""
    with suppress_and_log(
        _log,
        logging.DEBUG,
        "cannot reset the peak RSS: readings are the process's lifetime peak",
        exceptions=OSError,
    ):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError as err:  # not Linux: the lifetime peak, from getrusage
        _log.debug("cannot read VmHWM (%s); using getrusage's peak RSS", err)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


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
        _reset_peak_rss()
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
            return self._outcome(
                quantum, started, succeeded=False, error=f"{type(err).__name__}: {err}\n{tail}"
            )
        return self._outcome(quantum, started, succeeded=True, outputs=outputs)

    def run_job(self, quanta: Sequence[Quantum]) -> list[AttemptOutcome]:
        """Run a batch job's quanta in the order given; stop at the first failure.

        Returns the outcomes of the quanta that ran: all of them, or up to and including the
        one that failed (the ones after it were not started).
        """
        outcomes: list[AttemptOutcome] = []
        for quantum in quanta:
            outcomes.append(self.run(quantum))
            if not outcomes[-1].succeeded:
                break
        return outcomes

    def _outcome(
        self,
        quantum: Quantum,
        started: float,
        *,
        succeeded: bool,
        error: str | None = None,
        outputs: tuple[OutputRecord, ...] = (),
    ) -> AttemptOutcome:
        return AttemptOutcome(
            quantum_id=quantum.id,
            succeeded=succeeded,
            duration_s=time.perf_counter() - started,
            host=socket.gethostname(),
            pid=os.getpid(),
            peak_rss_mb=_peak_rss_mb(),
            exit_status=0 if succeeded else 1,
            error=error,
            outputs=outputs,
        )


#: The worker process's runner, set by `init_worker`.
_WORKER: dict[str, QuantumRunner] = {}
#: What `run_batch_job` set the worker's runner up with.
_WORKER_KEY: dict[str, str] = {}
#: Activator processes this worker watches (`run_batch_job`).
_WATCHED: set[int] = set()


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended.

    A killed process whose parent has not reaped it yet (a zombie) has ended too; it
    still answers ``kill(pid, 0)``. A parent that reads the killed command's output
    to the end, as ``subprocess.communicate`` does, reaps it only once the workers,
    which hold that output open, are gone.

    The exceptions caught here are the answers, asked often: none is logged.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # Linux: the state follows the parenthesised command name
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


#: Seconds between looks at the Activator, where the kernel cannot say when it ends (no pidfd).
WATCH_EVERY = 0.1


def _end_of(pid: int) -> select.poll | None:
    """A poll object that becomes ready when process ``pid`` ends (a Linux pidfd), or None.

    The pidfd is ready the moment the process exits, before anyone reaps it. Linux 5.3 and
    later have it; elsewhere, or when it is refused, the watch falls back to looking.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError) as err:  # not Linux 5.3+, or the process is gone already
        _log.debug(
            "no pidfd for pid %d (%s: %s): looking every %.1f s", pid, type(err).__name__, err, WATCH_EVERY
        )
        return None
    waiter = select.poll()
    waiter.register(fd, select.POLLIN)
    return waiter


def _exit_when_gone(pid: int) -> None:
    """Exit this worker as soon as process ``pid`` (the Activator) has ended.

    It waits on the process's pidfd, which wakes it at once, or looks every `WATCH_EVERY`
    seconds. A task holding the GIL in one long C call delays the exit until the call returns.
    """
    waiter = _end_of(pid)
    while True:
        if waiter is not None:
            waiter.poll(WATCH_EVERY * 1000)
        else:
            time.sleep(WATCH_EVERY)
        if _gone(pid):
            os._exit(1)  # orphaned: the next run repairs and reruns what we were doing


def init_worker(
    repository_root: str,
    pipeline_yaml: str,
    overrides: dict[str, dict[str, object]],
    activator_pid: int | None = None,
) -> None:
    """Set up a worker process: open the repository, load the pipeline with its overrides.

    Workers ignore Ctrl-C: the Activator that owns them decides how to stop. With
    ``activator_pid``, a worker exits as soon as that process dies (``kill -9``;
    `_exit_when_gone`), so no orphan goes on writing beside the run that repairs its quanta.

    Linux's ``PR_SET_PDEATHSIG`` does not serve here: a worker's parent is the
    forkserver, not the Activator, and the forkserver ends only after its workers
    (each holds its "alive" pipe).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_from_env()
    if activator_pid is not None:
        threading.Thread(target=_exit_when_gone, args=(activator_pid,), daemon=True).start()
    pipeline = Pipeline.from_yaml(pipeline_yaml, source="the plan's pipeline").with_config(overrides)
    _WORKER["runner"] = QuantumRunner(Repository.open(repository_root), pipeline)
    _log.debug("worker set up: repository %s, %d tasks", repository_root, len(pipeline))


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


def run_batch_job(
    repository_root: str,
    pipeline_yaml: str,
    overrides: dict[str, dict[str, object]],
    quanta: Sequence[Quantum],
    activator: tuple[str, int] | None = None,
) -> list[AttemptOutcome]:
    """Run one batch job's quanta in order, in a worker of an engine that does not call `init_worker`.

    The repository and pipeline are opened once per worker process and kept while later jobs
    use the same ones (a Parsl worker runs many jobs). ``activator`` is the host and pid of the
    Activator that submitted the job: a worker on the same host exits when that process is gone
    (``kill -9``), so no orphan goes on writing beside the run that repairs its quanta.
    """
    if activator is not None and activator[0] == socket.gethostname() and activator[1] not in _WATCHED:
        _WATCHED.add(activator[1])
        threading.Thread(target=_exit_when_gone, args=(activator[1],), daemon=True).start()
    key = json.dumps([repository_root, pipeline_yaml, overrides], sort_keys=True, default=str)
    if _WORKER_KEY.get("runner") != key:
        configure_from_env()
        pipeline = Pipeline.from_yaml(pipeline_yaml, source="the plan's pipeline").with_config(overrides)
        _WORKER["runner"] = QuantumRunner(Repository.open(repository_root), pipeline)
        _WORKER_KEY["runner"] = key
        _log.debug("batch worker set up: repository %s, %d tasks", repository_root, len(pipeline))
    return _WORKER["runner"].run_job(quanta)
