"""What running a quantum produced: statuses, attempt outcomes and output fingerprints.

Plain records shared by the Activators (which make them, in worker processes)
and the store (which writes them to the graph as ``:Attempt`` nodes and
``:Quantum.status``). Nothing here talks to a database.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "INFRASTRUCTURE_REASONS",
    "AttemptOutcome",
    "InfrastructureFailure",
    "OutputRecord",
    "QuantumStatus",
]


class QuantumStatus(StrEnum):
    """Where a quantum stands; stored as ``:Quantum.status``."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"

    @property
    def done(self) -> bool:
        """Whether the quantum's outputs exist (it succeeded, or they existed already)."""
        return self in (QuantumStatus.SUCCEEDED, QuantumStatus.SKIPPED)


@dataclass(frozen=True)
class OutputRecord:
    """A dataset an attempt produced (or found existing)."""

    id: str
    """The dataset's id."""
    uri: str
    """Where its file is."""
    size: int
    """Its size in bytes."""
    checksum: str
    """``sha256:<hex>`` of its file."""

    def row(self) -> dict[str, Any]:
        """As a query parameter row."""
        return {"id": self.id, "uri": self.uri, "size": self.size, "checksum": self.checksum}


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt of one quantum ended."""

    quantum_id: str
    succeeded: bool
    duration_s: float
    """Wall time of the attempt in its worker, seconds."""
    host: str
    pid: int
    """The worker process."""
    peak_rss_mb: float | None
    """The worker's peak resident memory during the attempt, when the OS tells it."""
    exit_status: int
    """0 for success, 1 for an exception in the task, a signal number's negative if the worker died."""
    error: str | None = None
    """The error, for people: exception type and message, and the traceback's last lines."""
    outputs: tuple[OutputRecord, ...] = ()
    """The datasets written, for a success."""
    skipped: bool = False
    """Not run: its outputs all existed already (a success that made nothing)."""
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Unique per attempt outcome: the graph keeps it (``:Attempt.record_id``), so an outcome
    recorded once from its batch job and again from its journal is recorded once."""
    input_checksums: tuple[tuple[str, str], ...] = ()
    """``(dataset id, sha256:<hex>)`` of each input the attempt read from outside its plan's
    output run (raws, calibrations, reused outputs of another run), sorted by id; stored as
    ``:Attempt.input_checksums_json`` (schema v13), by which ``provgraph diff-outputs`` sees
    a changed calibration that no quantum of the graph produced."""

    def row(self) -> dict[str, Any]:
        """As a row of ``execution_finish_quanta``."""
        return {
            "id": self.quantum_id,
            "status": (
                (QuantumStatus.SKIPPED if self.skipped else QuantumStatus.SUCCEEDED)
                if self.succeeded
                else QuantumStatus.FAILED
            ),
            "attempt": {
                "duration_s": round(self.duration_s, 6),
                "host": self.host,
                "pid": self.pid,
                "peak_rss_mb": self.peak_rss_mb,
                "exit_status": self.exit_status,
                "error": self.error,
                "record_id": self.record_id,
                "input_checksums_json": (
                    json.dumps(dict(self.input_checksums), sort_keys=True) if self.input_checksums else None
                ),
            },
            "outputs": [o.row() for o in self.outputs] if self.succeeded else [],
        }


#: Why the batch system (or the workflow engine) lost a batch job: ``:Attempt.infrastructure``.
INFRASTRUCTURE_REASONS = {
    "submission_refused": "the batch system refused to start it (sbatch failed)",
    "out_of_memory": "killed by the batch system for using more memory than it asked for",
    "walltime": "killed by the batch system at the end of its wall time",
    "node_lost": "its node failed or was lost",
    "cancelled": "cancelled in the batch system",
    "killed": "killed by the batch system or a signal",
    "worker_lost": "its worker stopped answering",
}


@dataclass(frozen=True)
class InfrastructureFailure:
    """A batch job that never started or was killed by the batch system: not a task failure.

    Its quanta's attempts are recorded ``lost`` with these figures, and the quanta are pending
    again (retryable); nothing downstream is blocked by them.
    """

    reason: str
    """One of `INFRASTRUCTURE_REASONS`: ``out_of_memory``, ``walltime``, ``submission_refused``..."""
    message: str
    """For people, one line: what happened in the batch system's own words, and the log's path."""
    batch_job_id: str | None = None
    """The batch system's id of the job (Slurm's job id), when it had one."""
    batch_state: str | None = None
    """The batch system's own state of the job (Slurm's ``JobState``: FAILED, OUT_OF_MEMORY, TIMEOUT...)."""
    batch_exit_code: str | None = None
    """The batch system's exit code of the job (Slurm's ``ExitCode``, ``0:9`` for killed by signal 9)."""
    log: str | None = None
    """The log that says more (Parsl's ``parsl.log``, or the job's output in ``submit_scripts/``)."""

    @property
    def retry_with_more_memory(self) -> bool:
        """Whether a retry should ask for more memory (BPS's ``memoryMultiplier``)."""
        return self.reason == "out_of_memory"

    def attempt(self) -> dict[str, Any]:
        """The properties of each ``lost`` attempt (``:Attempt``)."""
        return {
            "infrastructure": self.reason,
            "error": self.message,
            "batch_job_id": self.batch_job_id,
            "batch_state": self.batch_state,
            "batch_exit_code": self.batch_exit_code,
            "log": self.log,
        }
