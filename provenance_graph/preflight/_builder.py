"""Pre-flight: from a pipeline, a repository and a data query to a checked `PlanGraph`.

`preflight` is the common code of every Activator:

1. parse and check the data query;
2. check that every overall input of the pipeline is registered in the
   repository, and that the output run holds nothing the plan would write;
3. load the existing datasets of the overall inputs from the input runs (the
   first run that has a dataset wins), keeping those the query admits;
4. ask each task, in order, to `define_quanta`, offering it the existing
   datasets plus what earlier tasks will produce;
5. build the `PlanGraph`, with a `PlanNote` for every data ID dropped.

Nothing is written anywhere: a failed pre-flight leaves no trace.

The default `define_quanta` (`TaskContext.group`) works like this. The
*candidate* quantum data IDs of a task are the projections, onto its quantum
dimensions, of one constrained query over every dimension of the pipeline
(`BigJoin`: records x overlaps x data query). For each candidate, each input
connection gets the datasets that agree with it on their common dimensions and
are consistent with the dimension joins. A candidate with fewer datasets than
an input's ``minimum`` is dropped and noted with its root cause (missing
input, missing prerequisite, or the upstream task that dropped it); the rest
become quanta, with outputs at the candidate's data ID.
"""

from __future__ import annotations

import getpass
import socket
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance_graph.errors import PreflightError, ProvenanceGraphError
from provenance_graph.gcpause import collector_paused
from provenance_graph.model import (
    DataId,
    DatasetRef,
    DatasetType,
    NoteKind,
    Plan,
    PlanGraph,
    PlanNote,
    Quantum,
    Timespan,
    suggest,
)
from provenance_graph.model._names import check_run_name
from provenance_graph.pipeline import Connection, ConnectionKind, Pipeline, TaskNode
from provenance_graph.preflight._big_join import BigJoin
from provenance_graph.preflight._expression import Expression
from provenance_graph.preflight._relations import Relations, Row
from provenance_graph.preflight._repository_view import RepositoryView

__all__ = ["TaskContext", "preflight"]


class _Calibrations:
    """Prerequisite calibrations looked up by the validity range that covers the observation's time.

    A dataset type certified into a calibration collection (``provgraph repo certify``)
    is found, for a candidate with an exposure or visit whose record has a time span,
    by `RepositoryView.find_calibration`; other prerequisites come from the input runs.
    """

    def __init__(self, repository: RepositoryView, uris: dict[str, str]) -> None:
        self._repository = repository
        self._uris = uris
        self.types = frozenset(t for counts in repository.certified_counts().values() for t in counts)
        # Candidates share observations and calibrations: look each up once.
        self._spans: dict[tuple[Any, ...], Timespan | None] = {}
        self._found: dict[tuple[Any, ...], tuple[DatasetRef, str] | None] = {}

    def find(
        self, dataset_type: str, dimensions: Sequence[str], row: Row
    ) -> tuple[list[DatasetRef], str] | None:
        """The calibration valid for ``row`` and the time it was looked up at; None without a time.

        ``dimensions`` are the calibration's: two candidates that agree on them and on the
        observation's time span get the same calibration.
        """
        observation = (row.get("instrument"), row.get("exposure"), row.get("visit"))
        if observation not in self._spans:
            self._spans[observation] = self._repository.timespan(DataId(row))
        time = self._spans[observation]
        if time is None:
            return None
        key = (dataset_type, tuple(row.get(d) for d in dimensions), str(time))
        if key not in self._found:
            self._found[key] = self._repository.find_calibration(dataset_type, DataId(row), time)
        found = self._found[key]
        if found is None:
            return [], str(time)
        ref, uri = found
        self._uris[ref.id] = uri
        return [ref], str(time)


@dataclass
class _Available:
    """Datasets of one dataset type available to later tasks, with their expanded data IDs."""

    refs: list[DatasetRef] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


class TaskContext:
    """The `QuantaContext` pre-flight offers one task."""

    def __init__(
        self,
        node: TaskNode,
        available: Mapping[str, _Available],
        relations: Relations,
        candidates: Mapping[tuple[Any, ...], Row],
        output_run: str,
        producers: Mapping[str, str],
        calibrations: _Calibrations | None = None,
        data_ids: dict[tuple[tuple[str, Any], ...], DataId] | None = None,
    ) -> None:
        self.node = node
        self._data_ids = {} if data_ids is None else data_ids
        self._calibrations = calibrations
        self._times: dict[str, str] = {}
        self._available = available
        self._relations = relations
        self._candidates = candidates
        self._run = output_run
        self._producers = producers
        self.dimensions = node.dimensions
        self._closure = relations.universe.closure(self.dimensions)
        self._outputs = [(c.as_dataset_type(), c.dimensions) for c in node.outputs().values()]
        self._dropped: dict[tuple[str, NoteKind], list[DataId]] = defaultdict(list)
        self._indexes: dict[str, tuple[tuple[str, ...], dict[tuple[Any, ...], list[int]]]] = {}

    # --- the QuantaContext protocol -------------------------------------------------------------
    def available(self, connection: str) -> Sequence[DatasetRef]:
        """The datasets of an input connection that exist or that earlier tasks will produce."""
        conn = self._connection(connection)
        found = self._available.get(conn.dataset_type)
        return list(found.refs) if found else []

    def candidates(self) -> list[dict[str, Any]]:
        """The candidate quantum data IDs (with what they imply): the data query's, for this task."""
        return [dict(row) for row in self._candidates.values()]

    def make_quantum(self, data_id: Mapping[str, Any], inputs: Mapping[str, Sequence[DatasetRef]]) -> Quantum:
        """Build a quantum of this task at ``data_id`` with the given inputs; outputs are derived."""
        try:
            qid = DataId({d: data_id[d] for d in self.dimensions})
        except KeyError as err:
            raise PreflightError(
                f"task {self.node.label!r}: data ID {dict(data_id)} lacks quantum dimension {err.args[0]!r}"
            ) from None
        refs: list[DatasetRef] = []
        for name, datasets in inputs.items():
            conn = self._connection(name)
            if not conn.is_input:
                raise PreflightError(f"task {self.node.label!r}: {name!r} is an output, not an input")
            refs.extend(datasets)
        return self._quantum(qid.root, refs)

    def drop(self, data_id: Mapping[str, Any], connection: str, reason: str = "") -> None:
        """Record that no quantum is made at ``data_id`` because ``connection`` lacks datasets.

        The note's kind is the root cause: a missing prerequisite, a dataset an earlier
        task would have produced (an upstream drop), or a missing input of the repository.
        """
        conn = self._connection(connection)
        self._dropped[(connection, self._cause(conn))].append(
            DataId({d: data_id[d] for d in self.dimensions if d in data_id})
        )

    def group(self) -> list[Quantum]:
        """The default quanta: inputs grouped by the quantum dimensions (see the module docstring)."""
        inputs = self.node.inputs()
        quanta = []
        for row in self._candidates.values():
            refs: list[DatasetRef] = []
            short: list[str] = []
            for name, conn in inputs.items():
                matches = self._prerequisite(name, conn, row)
                if matches is None:
                    matches = self._matches(name, conn, row)
                if len(matches) < conn.minimum:
                    short.append(name)
                    continue
                if not conn.multiple and len(matches) > 1:
                    shown = ", ".join(str(m.data_id) for m in matches[:3])
                    raise PreflightError(
                        f"task {self.node.label!r}: input {name!r} ({conn.dataset_type}) takes one dataset "
                        f"per quantum, but {len(matches)} match quantum "
                        f"{_fmt(row, self.dimensions)}: {shown}",
                        hint="declare the connection with multiple=True, or add the dimensions that tell "
                        "them apart to the task's quantum dimensions",
                    )
                refs.extend(matches)
            if short:
                # A root cause (missing from the repository) before an upstream drop.
                roots = [n for n in short if self._cause(inputs[n]) is not NoteKind.UPSTREAM]
                self.drop(row, (roots or short)[0])
                continue
            quanta.append(self._quantum(tuple((d, row[d]) for d in self.dimensions), refs))
        return quanta

    # --- internals ----------------------------------------------------------------------------
    def _connection(self, name: str) -> Connection:
        conn = self.node.connections.get(name)
        if conn is None:
            raise PreflightError(
                f"task {self.node.label!r} has no connection {name!r}",
                hint=suggest(name, sorted(self.node.connections)),
            )
        return conn

    def _prerequisite(self, name: str, conn: Connection, row: Row) -> list[DatasetRef] | None:
        """A calibration found by validity range, or None where the input runs decide."""
        calibrations = self._calibrations
        if calibrations is None or conn.kind is not ConnectionKind.PREREQUISITE:
            return None
        if conn.dataset_type not in calibrations.types:
            return None
        found = calibrations.find(conn.dataset_type, conn.dimensions, row)
        if found is None:
            return None
        matches, time = found
        if not matches:
            self._times.setdefault(name, time)
        return matches

    def _cause(self, conn: Connection) -> NoteKind:
        if conn.kind is ConnectionKind.PREREQUISITE:
            return NoteKind.MISSING_PREREQUISITE
        if conn.dataset_type in self._producers:
            return NoteKind.UPSTREAM
        return NoteKind.MISSING_INPUT

    def _quantum(self, pairs: tuple[tuple[str, Any], ...], inputs: list[DatasetRef]) -> Quantum:
        values = dict(pairs)
        outputs = [
            DatasetRef.trusted(dtype, self._data_id(tuple((d, values[d]) for d in dims)), self._run)
            for dtype, dims in self._outputs
        ]
        return Quantum.trusted(self.node.label, self._data_id(pairs), self._run, inputs, outputs)

    def _data_id(self, pairs: tuple[tuple[str, Any], ...]) -> DataId:
        """One `DataId` object per data ID, shared by every quantum and output at it.

        A detector-level data ID is a quantum's and its outputs' in several tasks; one
        object (with its key text, computed once) instead of one each saves about a
        tenth of pre-flight's memory.
        """
        found = self._data_ids.get(pairs)
        if found is None:
            found = self._data_ids[pairs] = DataId.trusted(pairs)
        return found

    def _index(self, name: str, conn: Connection) -> tuple[tuple[str, ...], dict[tuple[Any, ...], list[int]]]:
        found = self._indexes.get(name)
        if found is None:
            reach = self._relations.universe.closure(conn.dimensions)
            shared = tuple(sorted(reach & self._closure))
            index: dict[tuple[Any, ...], list[int]] = defaultdict(list)
            available = self._available.get(conn.dataset_type)
            for i, row in enumerate(available.rows if available else ()):
                index[tuple(row.get(d) for d in shared)].append(i)
            found = self._indexes[name] = (shared, dict(index))
        return found

    def _matches(self, name: str, conn: Connection, row: Row) -> list[DatasetRef]:
        shared, index = self._index(name, conn)
        positions = index.get(tuple(row.get(d) for d in shared), ())
        if not positions:
            return []
        available = self._available[conn.dataset_type]
        if set(conn.dimensions) <= row.keys():
            return [available.refs[i] for i in positions]
        consistent = self._relations.consistent
        return [available.refs[i] for i in positions if consistent(row, available.rows[i])]

    def notes(self, made: Iterable[Quantum] = ()) -> list[PlanNote]:
        """The notes this task's pre-flight recorded, except on data IDs it made quanta at after all."""
        planned = {q.data_id for q in made}
        notes = []
        for (name, kind), data_ids in sorted(
            self._dropped.items(), key=lambda kv: (kv[0][0], kv[0][1].value)
        ):
            unique = sorted(set(data_ids) - planned, key=lambda d: d.key())
            if not unique:
                continue
            conn = self.node.connections[name]
            upstream = self._producers.get(conn.dataset_type, "") if kind is NoteKind.UPSTREAM else ""
            notes.append(
                PlanNote(
                    task_label=self.node.label,
                    kind=kind,
                    connection=name,
                    dataset_type=conn.dataset_type,
                    upstream_task=upstream,
                    data_ids=tuple(unique),
                    message=_message(self.node.label, kind, name, conn.dataset_type, upstream, unique)
                    + (f" (none valid at {self._times[name]})" if name in self._times else ""),
                )
            )
        return notes


def _message(
    label: str, kind: NoteKind, connection: str, dataset_type: str, upstream: str, data_ids: list[DataId]
) -> str:
    count = f"{len(data_ids)} data ID{'' if len(data_ids) == 1 else 's'}"
    if kind is NoteKind.UPSTREAM:
        return (
            f"{label}: no {dataset_type} (input {connection!r}) for {count}, e.g. {data_ids[0]}: "
            f"{upstream} dropped them upstream"
        )
    what = "prerequisite input" if kind is NoteKind.MISSING_PREREQUISITE else "input"
    return (
        f"{label}: no {dataset_type} ({what} {connection!r}) in the repository for {count}, "
        f"e.g. {data_ids[0]}"
    )


def _fmt(row: Mapping[str, Any], dims: Iterable[str]) -> str:
    return "{" + ", ".join(f"{d}: {row[d]!r}" for d in dims) + "}"


def preflight(
    pipeline: Pipeline,
    repository: RepositoryView,
    where: str = "",
    *,
    output_run: str,
    input_runs: Sequence[str] | None = None,
    plan_id: str | None = None,
    metadata: Mapping[str, str | int | float | bool | None] | None = None,
    allow_empty: bool = False,
) -> PlanGraph:
    """Build the execution plan of ``pipeline`` over ``repository`` under the data query ``where``.

    Parameters
    ----------
    pipeline
        The checked pipeline.
    repository
        Where the inputs are, with its dimension records.
    where
        A data query, e.g. ``instrument='HSC' AND visit IN (1..10)``; empty for everything.
    output_run
        The run the plan writes to; it must not hold datasets the plan would produce.
    input_runs
        The runs to search for inputs, first match wins; by default every run but
        ``output_run``, oldest first.
    plan_id
        The plan's id; by default a fresh one.
    metadata
        Extra scalar metadata for the plan header.
    allow_empty
        Whether a data query that matches nothing gives an empty plan (with a logged
        warning) rather than an error.

    Returns
    -------
    PlanGraph
        The checked plan, with its notes, and the file URI of every dataset in
        ``uris``: actual for inputs, predicted by the templates for outputs.

    Raises
    ------
    ExpressionError
        The data query does not parse or names unknown dimensions.
    PreflightError
        An overall input is not in the repository, the output run is not new, or
        a task's inputs cannot determine its quanta.
    """
    try:
        check_run_name(output_run)
    except ProvenanceGraphError as err:
        raise PreflightError(f"output run: {err.message}", hint=err.hint) from None
    expression = Expression(where, repository.universe)
    registered = repository.dataset_types()
    _check_inputs(pipeline, registered)
    _check_outputs(pipeline, registered, repository, output_run)
    runs = [r for r in (input_runs if input_runs is not None else repository.runs()) if r != output_run]
    unknown_runs = [r for r in runs if r not in repository.runs()]
    if unknown_runs:
        raise PreflightError(
            f"input run {unknown_runs[0]!r} is not in the repository",
            hint=suggest(unknown_runs[0], repository.runs()) or f"its runs: {', '.join(repository.runs())}",
        )
    with collector_paused():
        return _build(
            pipeline, repository, where, expression, output_run, runs, plan_id, metadata, allow_empty
        )


def _build(
    pipeline: Pipeline,
    repository: RepositoryView,
    where: str,
    expression: Expression,
    output_run: str,
    runs: list[str],
    plan_id: str | None,
    metadata: Mapping[str, str | int | float | bool | None] | None,
    allow_empty: bool,
) -> PlanGraph:
    relations = Relations(repository)
    available: dict[str, _Available] = {}
    uris: dict[str, str] = {}
    overall = pipeline.overall_inputs()
    for name in overall:
        available[name] = _load_existing(repository, name, runs, expression, relations, uris)
    calibrations = _Calibrations(repository, uris)
    big_join = BigJoin(
        relations,
        {d for node in pipeline for d in node.dimensions},
        expression,
        {name: available[name].rows for name in overall},
        allow_empty=allow_empty,
    )
    quanta: list[Quantum] = []
    notes: list[PlanNote] = []
    data_ids: dict[tuple[tuple[str, Any], ...], DataId] = {}
    for node in pipeline:
        candidates = big_join.candidates(node.dimensions)
        context = TaskContext(
            node, available, relations, candidates, output_run, pipeline.producers, calibrations, data_ids
        )
        made = node.make_task().define_quanta(context)
        _check_made(node, made, output_run)
        quanta.extend(made)
        task_notes = context.notes(made)
        notes.extend(task_notes)
        if not made:
            why = (
                "every candidate data ID was dropped (see its notes)"
                if task_notes
                else "nothing to do: the data query leaves it no candidate data ID"
                if not candidates
                else "its define_quanta() made none"
            )
            notes.append(
                PlanNote(
                    task_label=node.label, kind=NoteKind.NO_QUANTA, message=f"{node.label}: no quanta; {why}"
                )
            )
        for conn in node.outputs().values():
            available.setdefault(conn.dataset_type, _Available())
        for q in made:
            for ref in q.outputs:
                bucket = available[ref.dataset_type.name]
                bucket.refs.append(ref)
                bucket.rows.append(relations.expand(dict(ref.data_id.root)))
    plan_metadata: dict[str, str | int | float | bool | None] = {
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "pipeline_description": pipeline.definition.description,
        "input_runs": ",".join(runs),
    }
    if repository.root is not None:  # where a real repository is: `run` defaults to it
        plan_metadata["repository"] = str(repository.root.resolve())
    if big_join.empty_because:
        plan_metadata["empty_because"] = big_join.empty_because
    plan_metadata.update(metadata or {})
    plan_kwargs: dict[str, Any] = {
        "output_run": output_run,
        "pipeline_digest": pipeline.digest(),
        "pipeline": pipeline.to_yaml(),
        "constraints": where,
        "metadata": plan_metadata,
    }
    if plan_id is not None:
        plan_kwargs["id"] = plan_id
    graph = PlanGraph(Plan(**plan_kwargs), quanta, notes)
    for dataset_id, ref in graph.datasets.items():
        graph.uris[dataset_id] = uris.get(dataset_id) or repository.uri(ref)
    return graph


def _check_inputs(pipeline: Pipeline, registered: Mapping[str, DatasetType]) -> None:
    for node in pipeline:
        for name, conn in node.inputs().items():
            if conn.dataset_type in pipeline.producers:
                continue
            known = registered.get(conn.dataset_type)
            if known is None:
                candidates = sorted(set(registered) | set(pipeline.producers))
                raise PreflightError(
                    f"input {name!r} ({conn.dataset_type}) of task {node.label!r} is neither produced by "
                    "a task of the pipeline nor registered in the repository",
                    hint=suggest(conn.dataset_type, candidates)
                    or "ingest it into the repository, or add the task that produces it",
                )
            if known != conn.as_dataset_type():
                raise PreflightError(
                    f"input {name!r} of task {node.label!r} declares {conn.dataset_type!r} as "
                    f"{conn.dimensions} ({conn.storage_class}); the repository registers "
                    f"{known.dimensions} ({known.storage_class})",
                    hint="make the connection match the registered dataset type",
                )


def _check_outputs(
    pipeline: Pipeline, registered: Mapping[str, DatasetType], repository: RepositoryView, output_run: str
) -> None:
    for dtype_name, label in pipeline.producers.items():
        known = registered.get(dtype_name)
        declared = pipeline.dataset_types[dtype_name]
        if known is not None and known != declared:
            raise PreflightError(
                f"task {label!r} produces {dtype_name!r} as {declared.dimensions} "
                f"({declared.storage_class}); "
                f"the repository registers {known.dimensions} ({known.storage_class})",
                hint="rename the output under 'connections:' in the pipeline file",
            )
    if output_run in repository.runs():
        existing = [
            ref
            for ref, _uri in repository.datasets(runs=[output_run])
            if ref.dataset_type.name in pipeline.producers
        ]
        if existing:
            raise PreflightError(
                f"output run {output_run!r} already holds {len(existing)} dataset(s) this pipeline "
                f"produces, e.g. {existing[0]}",
                hint="choose a new output run",
            )


def _load_existing(
    repository: RepositoryView,
    dataset_type: str,
    runs: Sequence[str],
    expression: Expression,
    relations: Relations,
    uris: dict[str, str],
) -> _Available:
    rank = {run: i for i, run in enumerate(runs)}
    best: dict[str, tuple[int, DatasetRef, str]] = {}
    for ref, uri in repository.datasets(dataset_type, runs):
        key = ref.data_id.key()
        position = rank[ref.run]
        if key not in best or position < best[key][0]:
            best[key] = (position, ref, uri)
    found = _Available()
    for _pos, ref, uri in best.values():
        row = relations.expand(dict(ref.data_id.root))
        if expression.admits(row):
            found.refs.append(ref)
            found.rows.append(row)
            uris[ref.id] = uri
    return found


def _check_made(node: TaskNode, quanta: Sequence[Quantum], output_run: str) -> None:
    outputs = {c.dataset_type for c in node.outputs().values()}
    for q in quanta:
        if not isinstance(q, Quantum) or q.task_label != node.label or q.run != output_run:
            raise PreflightError(
                f"task {node.label!r}: define_quanta() returned {q!r}, which is not one of its quanta",
                hint="build quanta with context.make_quantum()",
            )
        stray = {r.dataset_type.name for r in q.outputs} - outputs
        if stray:
            raise PreflightError(f"task {node.label!r}: quantum {q} writes undeclared {sorted(stray)}")
