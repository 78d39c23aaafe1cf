"""Stdlib-only helpers shared by the execution benchmarks: the shape of the run, and tree RSS.

Imported as a sibling module (``benchmarks/`` is ``sys.path[0]`` when a
benchmark script runs), so that `pipetask_overhead.py` keeps needing nothing
but the LSST packages and the standard library.
"""

from __future__ import annotations

import os
import threading

__all__ = ["TreeRssSampler", "choose_shape"]


def choose_shape(quanta: int, tasks: int) -> tuple[int, int]:
    """Split ``quanta / tasks`` data IDs into visits x detectors (detectors <= 10)."""
    if quanta % tasks:
        raise SystemExit(f"--quanta {quanta} is not a multiple of --tasks {tasks}")
    per_task = quanta // tasks
    detectors = max(d for d in range(1, 11) if per_task % d == 0)
    return per_task // detectors, detectors


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(k) for k in f.read().split())
    except OSError:
        pass
    return kids


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeRssSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants (Linux /proc)."""

    def __init__(self, pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total, todo = 0, [self.pid]
            while todo:
                pid = todo.pop()
                total += _rss_kb(pid)
                todo.extend(_children(pid))
            self.peak_kb = max(self.peak_kb, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
