"""Reading what Rubin actually ran: the provenance QuantumGraph that ``butler aggregate-graph`` writes.

After ``pipetask run`` (or ``run-qbb``, or BPS) has executed a predicted
QuantumGraph, ``butler aggregate-graph PREDICTED.qg REPO -o PROV.qg`` reads each
quantum's ``<label>_metadata`` and ``<label>_log`` and writes a *provenance*
QuantumGraph: the same quanta, each with its status, its success caveats, its
exception, its resource usage and the list of its attempts (every earlier
``pipetask run`` of the same graph included). This module turns that file into
plain Python values (`ProvenanceRun`) that the store records as one
``(:Execution)`` of the plan imported from the predicted graph
(`provenance_graph.store.imported_execution`).

The mapping of statuses (pipe_base's ``QuantumAttemptStatus`` to ours):

- ``SUCCESSFUL`` and ``ABORTED_SUCCESS`` (metadata written, log lost) -> ``succeeded``;
- ``FAILED`` and ``ABORTED`` -> ``failed``;
- ``BLOCKED`` -> ``blocked``, with the failed quantum upstream as ``blocked_by``;
- ``UNKNOWN`` (no log, no metadata: not run, as far as anyone can tell) -> ``pending``.

pipe_base's own status name is kept beside ours (``lsst_status``), and success
caveats (``NO_WORK``, ``ANY_OUTPUTS_MISSING``...) as ``caveats``.

The run's identity (`ProvenanceRun.digest`) is a SHA-256 of the graph's
provenance dataset id and every attempt of every quantum (quantum UUID, attempt
number, status, start time): reading the same file twice, or a copy of it, gives
the same digest; a file aggregated after another ``pipetask run`` of the same
graph has new attempts, so another digest.

Task classes are never imported, and ``lsst-pipe-base`` is imported only when
`load_provenance_graph` is called.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance_graph.errors import ConfigurationError, ModelError, PlanFileError
from provenance_graph.interop.qgraph import LSST_INSTALL_HINT
from provenance_graph.model import DataId, QuantumStatus

__all__ = ["ImportedAttempt", "ImportedQuantum", "ProvenanceRun", "load_provenance_graph"]

#: pipe_base's QuantumAttemptStatus name -> our quantum status.
_STATUS = {
    "SUCCESSFUL": QuantumStatus.SUCCEEDED,
    "ABORTED_SUCCESS": QuantumStatus.SUCCEEDED,
    "FAILED": QuantumStatus.FAILED,
    "ABORTED": QuantumStatus.FAILED,
    "BLOCKED": QuantumStatus.BLOCKED,
    "UNKNOWN": QuantumStatus.PENDING,
}


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


def load_provenance_graph(path: str | os.PathLike[str]) -> ProvenanceRun:
    """Read a provenance QuantumGraph file written by ``butler aggregate-graph ... -o FILE``.

    Raises
    ------
    PlanFileError
        The file is missing, is not a QuantumGraph, is a *predicted* graph, or is damaged.
    ConfigurationError
        ``lsst-pipe-base`` is not installed.
    """
    file = Path(path)
    _check_looks_like_qgraph(file)
    reader_class = _import_lsst()
    try:
        with reader_class.open(str(file)) as reader:
            header = reader.header
            reader.read_quanta()
            graph = reader.graph
    except TypeError as err:
        if "predicted" in str(err):
            raise PlanFileError(
                f"{file} is a predicted QuantumGraph, not a provenance one",
                hint="import it with 'provgraph import-qgraph'; after running it, import what ran from "
                "'butler aggregate-graph PREDICTED.qg REPO -o PROV.qg'",
            ) from err
        raise _damaged(file, err) from err
    except Exception as err:
        raise _damaged(file, err) from err
    if header.graph_type != "provenance":
        raise PlanFileError(f"{file} is a {header.graph_type!r} QuantumGraph, not a provenance one")
    if not header.output_run:
        raise PlanFileError(f"provenance QuantumGraph file {file} names no output run")
    try:
        quanta = tuple(_quanta(graph))
    except ModelError as err:
        raise PlanFileError(f"provenance QuantumGraph file {file}: {err.message}", hint=err.hint) from err
    return ProvenanceRun(
        file=file.resolve(),
        output_run=header.output_run,
        provenance_dataset_id=str(header.provenance_dataset_id),
        user=header.user or None,
        digest=_digest(str(header.provenance_dataset_id), quanta),
        quanta=quanta,
    )


def _damaged(file: Path, err: BaseException) -> PlanFileError:
    return PlanFileError(
        f"cannot read provenance QuantumGraph file {file}: {type(err).__name__}: {err}",
        hint="pass the complete file written by 'butler aggregate-graph PREDICTED.qg REPO -o PROV.qg'",
    )


def _check_looks_like_qgraph(file: Path) -> None:
    """Refuse what cannot be a ``.qg`` file before importing lsst (which takes seconds)."""
    if not file.exists():
        raise PlanFileError(f"no provenance QuantumGraph file {file}")
    if not file.is_file():
        raise PlanFileError(f"provenance QuantumGraph file {file} is not a file")
    if not zipfile.is_zipfile(file):
        raise PlanFileError(
            f"{file} is not a provenance QuantumGraph file (not a zip archive)",
            hint="pass the file written by 'butler aggregate-graph PREDICTED.qg REPO -o PROV.qg'",
        )


def _import_lsst() -> Any:
    """Return ``ProvenanceQuantumGraphReader``."""
    try:
        from lsst.pipe.base.quantum_graph import ProvenanceQuantumGraphReader
    except ImportError as err:
        raise ConfigurationError(
            f"reading provenance QuantumGraph files needs lsst-pipe-base, which cannot be imported: {err}",
            hint=LSST_INSTALL_HINT,
        ) from err
    return ProvenanceQuantumGraphReader


def _caveats(flags: Any) -> str | None:
    """``NO_WORK|ANY_OUTPUTS_MISSING`` for a flag value; None for none (or no caveats)."""
    if flags is None or not flags:
        return None
    names = [f.name for f in type(flags) if f.value and f in flags and f.name]
    return "|".join(names) or None


def _attempt(number: int, model: Any) -> ImportedAttempt:
    usage = model.resource_usage
    exception = model.exception
    duration = None
    if usage is not None:
        parts = [usage.prep_time, usage.init_time, usage.run_time]
        duration = sum(p for p in parts if p is not None)
    return ImportedAttempt(
        number=number,
        status=_STATUS.get(model.status.name, QuantumStatus.FAILED),
        lsst_status=model.status.name,
        caveats=_caveats(model.caveats),
        exception_type=exception.type_name if exception is not None else None,
        exception_message=exception.message if exception is not None else None,
        started=usage.start if usage is not None else None,
        duration_s=duration,
        run_time_s=usage.run_time if usage is not None else None,
        cpu_time_s=usage.run_time_cpu if usage is not None else None,
        peak_rss_mb=usage.memory / 2**20 if usage is not None and usage.memory is not None else None,
    )


def _quanta(graph: Any) -> list[ImportedQuantum]:
    xgraph = graph.quantum_only_xgraph
    nodes: Mapping[Any, Any] = xgraph.nodes
    blockers = {"FAILED", "ABORTED", "UNKNOWN"}
    out = []
    for qid, info in nodes.items():
        status_name: str = info["status"].name
        blocked_by = None
        if status_name == "BLOCKED":
            blocked_by = _first_upstream(xgraph, qid, lambda n: nodes[n]["status"].name in blockers)
        out.append(
            ImportedQuantum(
                butler_id=str(qid),
                task_label=info["task_label"],
                data_id=DataId(dict(info["data_id"].required)),
                status=_STATUS.get(status_name, QuantumStatus.FAILED),
                lsst_status=status_name,
                caveats=_caveats(info["caveats"]),
                attempts=tuple(_attempt(a.attempt + 1, a) for a in info["attempts"]),
                blocked_by=str(blocked_by) if blocked_by is not None else None,
            )
        )
    return out


def _first_upstream(xgraph: Any, start: Any, wanted: Any) -> Any:
    """The nearest ancestor of ``start`` for which ``wanted`` is true (breadth first), or None."""
    seen = {start}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for parent in sorted(xgraph.predecessors(node), key=str):
                if parent in seen:
                    continue
                if wanted(parent):
                    return parent
                seen.add(parent)
                following.append(parent)
        frontier = following
    return None


def _digest(provenance_dataset_id: str, quanta: tuple[ImportedQuantum, ...]) -> str:
    sha = hashlib.sha256(provenance_dataset_id.encode())
    for quantum in sorted(quanta, key=lambda q: q.butler_id):
        sha.update(f"\nq {quantum.butler_id} {quantum.lsst_status}".encode())
        for a in quantum.attempts:
            started = a.started.isoformat() if a.started is not None else "-"
            sha.update(f"\na {a.number} {a.lsst_status} {started}".encode())
    return sha.hexdigest()
