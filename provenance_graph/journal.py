"""Attempt journals: what a batch job ran, written beside its outputs, loaded into the graph later.

A batch job on a compute node never talks to Neo4j. Each attempt it finishes becomes one
line of an append-only journal file (JSON Lines, each line prefixed by the CRC-32 of its
JSON): the quantum, the execution and batch job it belongs to, a ``record_id`` that makes
loading idempotent, and the `AttemptOutcome` (status, duration, host, peak memory, error,
and each output's URI, size and checksum). The submitting process, or ``provgraph record``,
loads journals into the graph in bulk (`provenance_graph.store.journals`).

Crash safety: a record is one ``write`` of a whole line to a file opened ``O_APPEND``, then
``fsync``. A node killed mid-write leaves at most a torn last line, which has no newline or
a CRC that does not match: readers skip it and say so. A writer that opens a journal ending
in a torn line first ends that line, so the torn bytes never glue onto the next record.
Several processes may append to one journal: each record is written under ``flock``.
"""

from __future__ import annotations

import fcntl
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from provenance_graph.errors import ExecutionError
from provenance_graph.model import AttemptOutcome, OutputRecord

__all__ = ["JOURNAL_DIR", "JournalRecord", "JournalWriter", "read_journal", "read_journals"]

#: The folder of a run's journals, in the run's folder of the repository: never a dataset
#: type's name (a hyphen is not allowed in one), so it cannot meet a dataset's files.
JOURNAL_DIR = "provgraph-journal"

#: The journal format, in every record.
FORMAT = 1


@dataclass(frozen=True)
class JournalRecord:
    """One finished attempt of one quantum, as a batch job wrote it."""

    plan_id: str
    execution_id: str
    job: str
    """The batch job (its name in the clustering)."""
    outcome: AttemptOutcome
    written: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    """When the record was written (UTC, ISO 8601)."""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data."""
        return {
            "format": FORMAT,
            "written": self.written,
            "plan_id": self.plan_id,
            "execution_id": self.execution_id,
            "job": self.job,
            "outcome": asdict(self.outcome),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Read a record back (`ValueError`, `KeyError` or `TypeError` if it is not one)."""
        if data.get("format") != FORMAT:
            raise ValueError(f"journal format {data.get('format')!r}, not {FORMAT}")
        outcome = dict(data["outcome"])
        outcome["outputs"] = tuple(OutputRecord(**o) for o in outcome.get("outputs", ()))
        outcome["input_checksums"] = tuple(
            (str(i), str(c)) for i, c in outcome.get("input_checksums", ())
        )  # absent in records written before schema v13
        return cls(
            plan_id=str(data["plan_id"]),
            execution_id=str(data["execution_id"]),
            job=str(data["job"]),
            outcome=AttemptOutcome(**outcome),
            written=str(data["written"]),
        )

    @property
    def record_id(self) -> str:
        """The outcome's own id: loading a record twice adds nothing the second time."""
        return self.outcome.record_id

    def row(self) -> dict[str, Any]:
        """As a row of the ``journal_record_attempts`` query."""
        row = self.outcome.row()
        row["attempt"]["batch_job"] = self.job
        return {
            **row,
            "record_id": self.record_id,
            "execution_id": self.execution_id,
            "written": self.written,
        }


def _line(record: JournalRecord) -> bytes:
    text = json.dumps(record.to_json(), separators=(",", ":"), sort_keys=True)
    body = text.encode("utf-8")
    return b"%08x " % zlib.crc32(body) + body + b"\n"


class JournalWriter:
    """Appends records to one journal file; creates it and its folder if needed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise ExecutionError(
                f"cannot write the journal {self.path}: {err.strerror or err}",
                hint="the batch job writes its journal beside its outputs: check that folder is writable",
            ) from err

    def write(self, record: JournalRecord) -> None:
        """Append one record and flush it to disk before returning."""
        line = _line(record)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(self._fd).st_size
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # end a torn record so it cannot swallow this one
            os.write(self._fd, line)
            os.fsync(self._fd)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the file (records are on disk already)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass
class JournalRead:
    """The records of journals, and how many lines were torn or unreadable."""

    records: list[JournalRecord] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)
    """``path:line`` of each line skipped (a record cut short by a kill, or garbage)."""


def _records(path: Path, read: JournalRead) -> Iterator[JournalRecord]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ExecutionError(
            f"cannot read the journal {path}: {err.strerror or err}",
            hint="give the path of a journal a batch job wrote (its folder is named " + JOURNAL_DIR + ")",
        ) from err
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        complete = number < len(lines)  # the last piece has no newline after it
        crc, _, body = line.partition(b" ")
        try:
            if not complete or int(crc, 16) != zlib.crc32(body):
                raise ValueError("torn")
            yield JournalRecord.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError):
            read.torn.append(f"{path}:{number}")


def read_journal(path: str | Path) -> JournalRead:
    """Every whole record of one journal, in the order written."""
    return read_journals([path])


def read_journals(paths: Iterable[str | Path]) -> JournalRead:
    """Every whole record of these journals (files, or folders searched for ``*.jsonl``)."""
    read = JournalRead()
    for path in map(Path, paths):
        files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
        for file in files:
            read.records.extend(_records(file, read))
    return read
