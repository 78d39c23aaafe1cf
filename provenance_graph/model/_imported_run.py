"""An execution that ran elsewhere, as read from another tool's provenance record.

`ProvenanceRun` is what ``interop.qg_provenance`` reads from the provenance QuantumGraph of
Rubin's ``butler aggregate-graph``, and what ``store.imported_execution`` records as an
``(:Execution)`` of the plan imported from the predicted graph: its quanta, each with its
status (ours, and the other tool's name for it), caveats and attempts. Plain values only;
nothing here reads files or talks to a database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance_graph.model._data_id import DataId
from provenance_graph.model._execution import QuantumStatus

__all__ = ["ImportedAttempt", "ImportedQuantum", "ProvenanceRun", "run_digest"]


@dataclass(frozen=True)
class ImportedAttempt:
    """One attempt at one quantum, as the provenance graph records it."""

    number: int
    """1, 2, ... (pipe_base counts from 0)."""
    status: QuantumStatus
    lsst_status: str
    """pipe_base's name: ``SUCCESSFUL``, ``FAILED``, ``ABORTED``, ..."""
    caveats: str | None
    """Success caveats such as ``NO_WORK|ANY_OUTPUTS_MISSING``; None without any."""
    exception_type: str | None
    exception_message: str | None
    started: dt.datetime | None
    duration_s: float | None
    """Preparation, initialization and run time together (wall)."""
    run_time_s: float | None
    """The task's ``runQuantum`` (wall)."""
    cpu_time_s: float | None
    """CPU time of ``runQuantum``."""
    peak_rss_mb: float | None

    def row(self) -> dict[str, Any]:
        """The attempt's properties as the store records them."""
        ended = (
            self.started + dt.timedelta(seconds=self.duration_s)
            if self.started is not None and self.duration_s is not None
            else None
        )
        error = None
        if self.exception_type is not None:
            error = f"{self.exception_type}: {self.exception_message or ''}".rstrip(": ")
        elif self.status is QuantumStatus.FAILED:
            error = f"{self.lsst_status}: no log or exception was recorded (the process may have been killed)"
        if self.status is QuantumStatus.SUCCEEDED:
            exit_status: int | None = 0
        elif self.status is QuantumStatus.FAILED:
            exit_status = 1 if self.exception_type is not None else -1
        else:
            exit_status = None
        return {
            "number": self.number,
            "props": {
                "number": self.number,
                "status": self.status.value,
                "lsst_status": self.lsst_status,
                "caveats": self.caveats,
                "exception_type": self.exception_type,
                "exception_message": self.exception_message,
                "error": error,
                "exit_status": exit_status,
                "started": self.started,
                "ended": ended,
                "duration_s": self.duration_s,
                "run_time_s": self.run_time_s,
                "cpu_time_s": self.cpu_time_s,
                "peak_rss_mb": self.peak_rss_mb,
            },
        }


@dataclass(frozen=True)
class ImportedQuantum:
    """One quantum of the provenance graph: what it is, and how it ended."""

    butler_id: str
    """pipe_base's quantum UUID (the same as in the predicted graph)."""
    task_label: str
    data_id: DataId
    """The required dimensions of its data ID, as import-qgraph stores them."""
    status: QuantumStatus
    lsst_status: str
    caveats: str | None
    attempts: tuple[ImportedAttempt, ...]
    blocked_by: str | None
    """For a blocked quantum: the butler id of a failed (or unknown) quantum upstream."""


@dataclass(frozen=True)
class ProvenanceRun:
    """What one provenance QuantumGraph file says was run."""

    file: Path
    output_run: str
    provenance_dataset_id: str
    user: str | None
    digest: str
    """SHA-256 (hex) of the provenance dataset id and every attempt: the run's identity."""
    quanta: tuple[ImportedQuantum, ...]

    @property
    def started(self) -> dt.datetime | None:
        """When the first attempt started."""
        starts = [a.started for q in self.quanta for a in q.attempts if a.started is not None]
        return min(starts) if starts else None

    @property
    def ended(self) -> dt.datetime | None:
        """When the last attempt ended (as far as its recorded times tell)."""
        ends = [a.row()["props"]["ended"] for q in self.quanta for a in q.attempts]
        known = [e for e in ends if e is not None]
        return max(known) if known else None


def run_digest(provenance_id: str, quanta: tuple[ImportedQuantum, ...]) -> str:
    """SHA-256 (hex) of a run's provenance id and every attempt of every quantum: its identity."""
    sha = hashlib.sha256(provenance_id.encode())
    for quantum in sorted(quanta, key=lambda q: q.butler_id):
        sha.update(f"\nq {quantum.butler_id} {quantum.lsst_status}".encode())
        for a in quantum.attempts:
            started = a.started.isoformat() if a.started is not None else "-"
            sha.update(f"\na {a.number} {a.lsst_status} {started}".encode())
    return sha.hexdigest()
