"""What every worker process does, whatever runs its quanta: measure, and die with its Activator.

Shared by the worker of our own task framework (`provenance_graph.quantum_runner`) and
the one that runs Rubin's tasks (`provenance_graph.interop.butler_run`):

- `reset_peak_rss` / `peak_rss_mb`: a worker runs many quanta, so its peak resident
  memory is reset before each attempt and read after it (Linux ``VmHWM``);
- `attempt_outcome` and `run_in_order`: an attempt's record, and a batch job's quanta run
  one after another up to the first failure;
- `exit_when_gone`: a worker exits as soon as the Activator that started it has ended
  (``kill -9`` included), so no orphan goes on writing beside the run that repairs
  its quanta.
"""

from __future__ import annotations

import logging
import os
import resource
import select
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from provenance_graph.logs import suppress_and_log
from provenance_graph.model import AttemptOutcome, OutputRecord, Quantum

__all__ = [
    "WATCH_EVERY",
    "attempt_outcome",
    "exit_when_gone",
    "peak_rss_mb",
    "reset_peak_rss",
    "run_in_order",
]

_log = logging.getLogger(__name__)


def reset_peak_rss() -> None:
    """Reset this process's peak RSS (Linux: VmHWM), so the next reading is per attempt."""
    with suppress_and_log(
        _log,
        logging.DEBUG,
        "cannot reset the peak RSS: readings are the process's lifetime peak",
        exceptions=OSError,
    ):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float | None:
    """Return the process's peak resident memory (MB) since `reset_peak_rss`, or its lifetime peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError as err:  # not Linux: the lifetime peak, from getrusage
        _log.debug("cannot read VmHWM (%s); using getrusage's peak RSS", err)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


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


def exit_when_gone(pid: int) -> None:
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


def attempt_outcome(
    quantum: Quantum,
    started: float,
    *,
    succeeded: bool,
    error: str | None = None,
    outputs: tuple[OutputRecord, ...] = (),
    input_checksums: tuple[tuple[str, str], ...] = (),
) -> AttemptOutcome:
    """The record of an attempt of ``quantum`` in this process that began at ``started`` (perf_counter)."""
    return AttemptOutcome(
        quantum_id=quantum.id,
        succeeded=succeeded,
        duration_s=time.perf_counter() - started,
        host=socket.gethostname(),
        pid=os.getpid(),
        peak_rss_mb=peak_rss_mb(),
        exit_status=0 if succeeded else 1,
        error=error,
        outputs=outputs,
        input_checksums=input_checksums,
    )


def run_in_order(run: Callable[[Quantum], AttemptOutcome], quanta: Sequence[Quantum]) -> list[AttemptOutcome]:
    """Run a batch job's quanta in the order given; stop at the first failure.

    Returns the outcomes of the quanta that ran: all of them, or up to and including the
    one that failed (the ones after it were not started).
    """
    outcomes: list[AttemptOutcome] = []
    for quantum in quanta:
        outcomes.append(run(quantum))
        if not outcomes[-1].succeeded:
            break
    return outcomes
