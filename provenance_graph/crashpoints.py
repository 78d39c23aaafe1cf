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
one comparison. A malformed value is a `ConfigurationError` as the command starts
(`crash_target`), not a traceback.
"""

from __future__ import annotations

import os
import signal
import threading

from provenance_graph.errors import ConfigurationError

__all__ = ["CRASH_POINTS", "crash_point", "crash_target"]

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


_UNSET = ("", 0)
"""`_TARGET` before ``PROVGRAPH_CRASH_AT`` is read."""
_TARGET: tuple[str, int] | None = _UNSET
_SEEN: dict[str, int] = {}
_LOCK = threading.Lock()


def crash_target() -> tuple[str, int] | None:
    """The crash point ``PROVGRAPH_CRASH_AT`` aims at, as (name, N), or None when it is unset.

    Read once per process. The command line calls it first thing, so a malformed value
    is one clear error before any work, not a traceback at the first crash point.

    Raises
    ------
    ConfigurationError
        The variable is not ``NAME:N`` with a known NAME and a whole number N of 1 or more.
    """
    global _TARGET  # noqa: PLW0603 - read once per process
    if _TARGET is _UNSET:
        _TARGET = _parse(os.environ.get("PROVGRAPH_CRASH_AT", ""))
    return _TARGET


def _parse(spec: str) -> tuple[str, int] | None:
    name, _, count = spec.strip().partition(":")
    if not name:
        return None
    # str.isdigit() also accepts superscripts, which int() refuses: ASCII digits only, and
    # few enough that int() converts them.
    whole = count.isascii() and count.isdigit() and len(count) <= 9
    if name not in CRASH_POINTS or not whole or int(count) < 1:
        raise ConfigurationError(
            f"PROVGRAPH_CRASH_AT={spec[:60]!r}{'...' if len(spec) > 60 else ''} is not NAME:N, "
            "with NAME a crash point and N a whole number of 1 or more",
            hint=f"e.g. PROVGRAPH_CRASH_AT=plan.batch:2 (crash points: {', '.join(CRASH_POINTS)}), "
            "or unset it",
        )
    return name, int(count)


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``PROVGRAPH_CRASH_AT`` aims at this passage here."""
    target = crash_target() if _TARGET is _UNSET else _TARGET
    if target is None or target[0] != name:
        return
    with _LOCK:
        _SEEN[name] = _SEEN.get(name, 0) + 1
        if _SEEN[name] == target[1]:
            os.kill(os.getpid(), signal.SIGKILL)
