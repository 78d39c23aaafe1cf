"""The peak scratch space of a job DAG: how much of the jobs' outputs is on disk at once.

The model (docs/operations.md states it for users):

- jobs run **one at a time**, in the topological order of the job DAG that, among the jobs
  ready to run, picks the one whose name sorts first (deterministic, so answers repeat);
- a job's outputs are on scratch from the moment the job starts;
- they stay until **every job that depends on it** (its ``DEPENDS_ON`` children, the
  consumers of its outputs) has finished; the outputs of a job nothing depends on leave
  scratch when the job ends (they are transferred to the repository).

The scratch in use while a job runs is its own outputs plus the outputs still held of the
jobs that ran before; the peak is the largest of these over the order. With jobs running
side by side more is held at once, so the peak of a real run can only be higher.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from provenance_graph.errors import ClusteringCycleError

__all__ = ["ScratchPeak", "scratch_peak"]


@dataclass(frozen=True)
class ScratchPeak:
    """The peak scratch space of a job DAG under the model of this module."""

    peak_bytes: float
    """The most bytes on scratch at once."""
    peak_job: str | None
    """The job running when the peak is reached (None for no jobs)."""
    held_jobs: int
    """How many jobs' outputs are on scratch at the peak, the running job's included."""
    order: tuple[str, ...]
    """The order the jobs run in."""


def scratch_peak(outputs: Mapping[str, float], children: Mapping[str, Sequence[str]]) -> ScratchPeak:
    """The peak scratch space when the jobs of ``outputs`` (bytes each job writes) run in order.

    ``children`` maps a job to the jobs that depend on it (absent: none).
    """
    parents: dict[str, set[str]] = {job: set() for job in outputs}
    for job, consumers in children.items():
        for child in consumers:
            parents[child].add(job)
    waiting = {job: len(ps) for job, ps in parents.items()}
    ready = [job for job, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    unfinished_children = {job: len(set(children.get(job, ()))) for job in outputs}
    held: set[str] = set()
    held_bytes = 0.0
    peak, peak_job, peak_held = 0.0, None, 0
    order: list[str] = []
    while ready:
        job = heapq.heappop(ready)
        order.append(job)
        in_use = held_bytes + outputs[job]
        if peak_job is None or in_use > peak:
            peak, peak_job, peak_held = in_use, job, len(held) + 1
        for parent in parents[job]:  # the job has finished: a parent whose consumers all have leaves
            unfinished_children[parent] -= 1
            if unfinished_children[parent] == 0:
                held.discard(parent)
                held_bytes -= outputs[parent]
        if unfinished_children[job]:
            held.add(job)
            held_bytes += outputs[job]
        for child in set(children.get(job, ())):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(outputs):
        raise ClusteringCycleError("the job DAG has a cycle", hint="cluster the plan again (with --replace)")
    return ScratchPeak(peak, peak_job, peak_held, tuple(order))
