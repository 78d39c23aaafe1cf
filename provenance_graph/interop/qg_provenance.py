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

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provenance_graph.errors import ConfigurationError, ModelError, PlanFileError
from provenance_graph.interop.qgraph import LSST_INSTALL_HINT
from provenance_graph.model import (
    DataId,
    ImportedAttempt,
    ImportedQuantum,
    ProvenanceRun,
    QuantumStatus,
    run_digest,
)

__all__ = ["load_provenance_graph"]

#: pipe_base's QuantumAttemptStatus name -> our quantum status.
_STATUS = {
    "SUCCESSFUL": QuantumStatus.SUCCEEDED,
    "ABORTED_SUCCESS": QuantumStatus.SUCCEEDED,
    "FAILED": QuantumStatus.FAILED,
    "ABORTED": QuantumStatus.FAILED,
    "BLOCKED": QuantumStatus.BLOCKED,
    "UNKNOWN": QuantumStatus.PENDING,
}


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
        digest=run_digest(str(header.provenance_dataset_id), quanta),
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
