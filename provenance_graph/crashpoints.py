"""Crash points: the named places where the reliability suite kills provenance-graph.

Crash safety is shown by killing a command at many places and checking what the
next command finds (``tests/integration/test_kill_points.py``). A timer lands
wherever it lands, usually at start-up. Crash points land exactly where they are
aimed. Each is a `crash_point` call, placed right after or right before a step
whose half-done state matters:

=========================  ============================================================
``plan.claimed``           the plan node is claimed, nothing else is written
``plan.header``            the plan's header (and notes) are written
``plan.batch``             a batch of inputs, outputs or quanta is committed (n-th batch)
``plan.before_complete``   every batch is in; the plan is still incomplete
``plan.completed``         the plan is complete; the command has not reported it yet
``run.started``            the execution is recorded; nothing is claimed
``run.claimed``            a batch of quanta is claimed (n-th claim)
``run.submitted``          a quantum is handed to a worker (n-th quantum)
``run.outcomes``           outcomes came back from the workers, not recorded yet
``run.recorded``           outcomes are recorded (n-th time)
``run.closing``            every quantum is done; the execution is still open
``file.written``           a worker wrote a dataset to its temporary name, not renamed yet
``migration.query``        a query of a schema migration step is done (n-th query); the step's
                           version is not recorded yet
=========================  ============================================================

With ``PROVGRAPH_CRASH_AT=NAME:N`` in the environment, the N-th time this process
reaches crash point ``NAME`` it sends itself ``SIGKILL``: no handler runs, nothing is
flushed or cleaned up, exactly as after ``kill -9 PID``. Worker processes of a run
inherit the variable, so ``file.written`` kills the worker that reaches it. Without
the variable, which is how everyone but the test suite runs, a crash point costs
one comparison.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["CRASH_POINTS", "crash_point"]

#: Every crash point in the code, by name (the table above).
CRASH_POINTS = (
    "plan.claimed",
    "plan.header",
    "plan.batch",
    "plan.before_complete",
    "plan.completed",
    "run.started",
    "run.claimed",
    "run.submitted",
    "run.outcomes",
    "run.recorded",
    "run.closing",
    "file.written",
    "migration.query",
)


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("PROVGRAPH_CRASH_AT", "")
    name, _, count = spec.partition(":")
    if not name:
        return None
    if name not in CRASH_POINTS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"PROVGRAPH_CRASH_AT={spec!r} is not NAME:N with NAME one of {CRASH_POINTS}")
    return name, int(count)


_TARGET = _target()
_SEEN: dict[str, int] = {}
_LOCK = threading.Lock()


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``PROVGRAPH_CRASH_AT`` aims at this passage here."""
    if _TARGET is None or _TARGET[0] != name:
        return
    with _LOCK:
        _SEEN[name] = _SEEN.get(name, 0) + 1
        if _SEEN[name] == _TARGET[1]:
            os.kill(os.getpid(), signal.SIGKILL)
