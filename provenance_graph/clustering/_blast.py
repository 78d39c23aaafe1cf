"""The blast radius of one failing quantum under a clustering, from the rows the store reads.

A failed quantum fails its batch job; every job downstream of that one in the job DAG
cannot start. Their quanta are lost: those downstream of the failure in the quantum DAG,
and innocent ones that only share a job. `store.clustering.blast_radius` reads the lost
jobs' quanta and their dependencies; `BlastRadius.from_rows` tells them apart.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BlastRadius", "LostQuantum", "descendants"]


@dataclass(frozen=True)
class LostQuantum:
    """A quantum that does not run when the failed quantum fails."""

    id: str
    """The quantum's id."""
    task: str
    """Its task label."""
    data_id: str
    """Its data ID, canonical JSON."""
    job: str
    """The batch job it is in."""
    downstream: bool
    """True if it reads, directly or not, what the failed quantum writes; False if it is lost
    only because it shares a job with the failure or with such a quantum (an innocent)."""


@dataclass(frozen=True)
class BlastRadius:
    """What one failing quantum loses under a clustering."""

    plan_id: str
    """The plan."""
    clustering: str
    """The clustering's name."""
    quantum: str
    """The failing quantum's id."""
    job: str
    """Its batch job."""
    jobs: list[str]
    """Jobs lost: its own first, then every job downstream of it in the job DAG, by name."""
    quanta: list[LostQuantum] = field(default_factory=list)
    """Every quantum of those jobs except the failing one."""

    @property
    def downstream(self) -> list[LostQuantum]:
        """Lost quanta that depend on the failure."""
        return [q for q in self.quanta if q.downstream]

    @property
    def innocent(self) -> list[LostQuantum]:
        """Lost quanta that do not depend on the failure: they only share a job."""
        return [q for q in self.quanta if not q.downstream]

    def as_dict(self) -> dict[str, Any]:
        """The answer as plain data (``--json``)."""
        return {
            "plan_id": self.plan_id,
            "clustering": self.clustering,
            "quantum": self.quantum,
            "job": self.job,
            "jobs": self.jobs,
            "downstream_quanta": len(self.downstream),
            "innocent_quanta": len(self.innocent),
            "quanta": [{**q.__dict__, "data_id": json.loads(q.data_id)} for q in self.quanta],
        }

    @classmethod
    def from_rows(
        cls,
        plan_id: str,
        clustering: str,
        quantum_id: str,
        rows: Sequence[Mapping[str, Any]],
        edges: Iterable[Mapping[str, Any]],
    ) -> BlastRadius:
        """Build the answer from the quanta of the lost jobs and their quantum dependencies.

        ``rows`` have ``quantum``, ``task``, ``data_id`` and ``job``, the failing
        quantum's own job first; ``edges`` have ``parent`` and ``child`` quantum ids.
        """
        among = {r["quantum"] for r in rows}
        below = descendants(quantum_id, ((e["parent"], e["child"]) for e in edges if e["parent"] in among))
        home = rows[0]["job"]
        jobs = [home, *sorted({r["job"] for r in rows} - {home})]
        lost = [
            LostQuantum(r["quantum"], r["task"], r["data_id"], r["job"], r["quantum"] in below)
            for r in rows
            if r["quantum"] != quantum_id
        ]
        return cls(plan_id, clustering, quantum_id, home, jobs, lost)


def descendants(start: str, edges: Iterable[tuple[str, str]]) -> set[str]:
    """Every node reachable from ``start`` along ``(parent, child)`` edges, ``start`` excluded."""
    children: dict[str, list[str]] = defaultdict(list)
    for parent, child in edges:
        children[parent].append(child)
    found: set[str] = set()
    todo = deque([start])
    while todo:
        for child in children[todo.popleft()]:
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
