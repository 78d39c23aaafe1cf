"""Pre-flight in parts: one data query split by the values of one dimension (``--split-by``).

A plan of ten million quanta does not fit in memory at once. Split by a dimension such as
``tract``, pre-flight runs once per value, under ``(WHERE) AND tract = v``, and each part
is stored as soon as it is made (`provenance_graph.store.write_plan_parts`), then dropped.

Because the data query constrains the one joined relation of all the pipeline's dimensions
(`preflight._big_join`), a part holds exactly the quanta of the whole plan that belong to
its value: a tract's coadds, and the visits, warps and detectors that overlap that tract.
A quantum without the split dimension (a visit's, split by tract) is planned by each part
whose value it overlaps; the writer keeps it once and refuses the plan if two parts plan it
differently, which happens where a task gathers over what the split divides.

- `split_values`: the values of the dimension the repository has records of;
- `part_query`: the data query of one part;
- `merge_notes`: one plan's notes from its parts' notes;
- `SharedReads`: the repository read once for all the parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from provenance_graph.errors import PreflightError
from provenance_graph.model import (
    DataId,
    DatasetRef,
    DatasetType,
    DimensionUniverse,
    DimensionValue,
    NoteKind,
    PlanNote,
    Timespan,
    suggest,
)
from provenance_graph.pipeline import Pipeline
from provenance_graph.preflight._builder import _message
from provenance_graph.preflight._repository_view import RepositoryView

__all__ = ["SharedReads", "merge_notes", "part_query", "split_values"]


def split_values(pipeline: Pipeline, repository: RepositoryView, dimension: str) -> list[DimensionValue]:
    """The values of ``dimension`` that the repository has records of, sorted: one part each.

    Raises
    ------
    PreflightError
        No task of ``pipeline`` has ``dimension`` among its quantum dimensions, or the
        repository keeps no records of it.
    """
    used = sorted({d for node in pipeline for d in node.dimensions})
    if dimension not in used:
        raise PreflightError(
            f"--split-by {dimension}: no task of the pipeline has dimension {dimension!r}",
            hint=suggest(dimension, used) or f"split by one of: {', '.join(used)}",
        )
    universe = repository.universe
    if not universe[dimension].has_records:
        raise PreflightError(
            f"--split-by {dimension}: the repository keeps no records of {dimension!r}, so its values "
            "are not known before pre-flight",
            hint="split by a dimension with records, e.g. tract or visit",
        )
    values = {r[dimension] for r in repository.records(dimension)}
    if not values:
        raise PreflightError(
            f"--split-by {dimension}: the repository has no {dimension} records",
            hint="register them first, or plan without --split-by",
        )
    return sorted(values, key=lambda v: (isinstance(v, str), v))


def part_query(where: str, dimension: str, value: DimensionValue) -> str:
    """``(where) AND dimension = value``: the data query of the part of ``value``."""
    if isinstance(value, int):
        literal = str(value)
    elif "'" not in value:
        literal = f"'{value}'"
    elif '"' not in value:
        literal = f'"{value}"'
    else:
        raise PreflightError(
            f"--split-by {dimension}: value {value!r} has both kinds of quote, so no data query can name it",
            hint="split by another dimension",
        )
    clause = f"{dimension} = {literal}"
    return f"({where}) AND {clause}" if where.strip() else clause


def merge_notes(notes: Sequence[PlanNote], task_counts: Mapping[str, int]) -> list[PlanNote]:
    """One plan's notes from its parts': each reason once, with the data IDs of every part.

    A task's "no quanta" note stays only if the task has no quantum in any part (once).
    """
    merged: dict[tuple[str, NoteKind, str, str, str], list[PlanNote]] = {}
    for note in notes:
        if note.kind is NoteKind.NO_QUANTA and task_counts.get(note.task_label):
            continue
        key = (note.task_label, note.kind, note.connection, note.dataset_type, note.upstream_task)
        merged.setdefault(key, []).append(note)
    out: list[PlanNote] = []
    for (label, kind, connection, dataset_type, upstream), group in merged.items():
        first = group[0]
        if len(group) == 1:
            out.append(first)
            continue
        if kind is NoteKind.NO_QUANTA:
            out.append(first)
            continue
        data_ids: list[DataId] = sorted({d for n in group for d in n.data_ids}, key=lambda d: d.key())
        base = _message(label, kind, connection, dataset_type, upstream, list(first.data_ids))
        suffix = first.message[len(base) :] if first.message.startswith(base) else ""  # "(none valid at ...)"
        fields: dict[str, Any] = {
            "data_ids": tuple(data_ids),
            "message": _message(label, kind, connection, dataset_type, upstream, data_ids) + suffix,
        }
        out.append(first.model_copy(update=fields))
    return out


class SharedReads:
    """A `RepositoryView` that reads the repository's records, joins and datasets once for every part.

    Each part's pre-flight reads the same dimension records, join rows and input datasets
    (a part's data query does not narrow the raws of a tract split: they lack the tract);
    the parts of one plan share one read of each. Everything else is passed through.
    The lists handed out are the cached ones: pre-flight only reads them.
    """

    def __init__(self, repository: RepositoryView) -> None:
        self._repository = repository
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._joins: dict[str, list[dict[str, Any]]] = {}
        self._datasets: dict[tuple[str | None, tuple[str, ...] | None], list[tuple[DatasetRef, str]]] = {}

    @property
    def root(self) -> Path | None:
        return self._repository.root

    @property
    def universe(self) -> DimensionUniverse:
        return self._repository.universe

    def dataset_types(self) -> dict[str, DatasetType]:
        return self._repository.dataset_types()

    def records(self, element: str) -> list[dict[str, Any]]:
        if element not in self._records:
            self._records[element] = self._repository.records(element)
        return self._records[element]

    def join_rows(self, name: str) -> list[dict[str, Any]]:
        if name not in self._joins:
            self._joins[name] = self._repository.join_rows(name)
        return self._joins[name]

    def runs(self) -> list[str]:
        return self._repository.runs()

    def datasets(
        self, dataset_type: str | None = None, runs: Sequence[str] | None = None
    ) -> list[tuple[DatasetRef, str]]:
        key = (dataset_type, None if runs is None else tuple(runs))
        if key not in self._datasets:
            self._datasets[key] = self._repository.datasets(dataset_type, runs)
        return self._datasets[key]

    def uri(self, ref: DatasetRef) -> str:
        return self._repository.uri(ref)

    def timespan(self, data_id: DataId) -> Timespan | None:
        return self._repository.timespan(data_id)

    def calibration_collections(self) -> list[str]:
        return self._repository.calibration_collections()

    def certified_counts(self) -> dict[str, dict[str, int]]:
        return self._repository.certified_counts()

    def find_calibration(
        self,
        dataset_type: str,
        data_id: DataId,
        time: Timespan | datetime,
        collections: Sequence[str] | None = None,
    ) -> tuple[DatasetRef, str] | None:
        return self._repository.find_calibration(dataset_type, data_id, time, collections)
