"""Planning a pipeline for an Activator: open the repository, pre-flight, store the plan.

Every caller that turns a pipeline into a stored plan (``provgraph plan``, ``provgraph
run PIPELINE``, the demo, the benchmarks) does it through `plan_pipeline`, which also
owns the default output run name (`default_output_run`).

A Rubin pipeline (tasks of ``lsst.pipe.base``) goes through `plan_rubin_pipeline`
instead: pipe_base builds its QuantumGraph against a Butler
(`provenance_graph.interop.rubin_preflight`), the ``.qg`` file is kept (by default
under `provenance_graph.settings.qgraph_dir`), and the importer stores it as a plan
whose ``file`` metadata is that file's absolute path, the file its executor reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import getpass
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance_graph.errors import PreflightError
from provenance_graph.interop import load_quantum_graph
from provenance_graph.interop.rubin_preflight import (
    BuiltQuantumGraph,
    build_quantum_graph,
    default_rubin_output_run,
)
from provenance_graph.model import MetadataValue, NoteKind, PlanGraph, PlanNote, new_plan_id
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import save_plan
from provenance_graph.preflight import SharedReads, merge_notes, part_query, preflight, split_values
from provenance_graph.repository import Repository
from provenance_graph.settings import qgraph_dir
from provenance_graph.store import GraphStore, PartsResult, WriteResult, write_plan, write_plan_parts

__all__ = [
    "PartPlanned",
    "PlannedPipeline",
    "PlannedRubinPipeline",
    "default_output_run",
    "default_qgraph_path",
    "empty_plan_error",
    "plan_pipeline",
    "plan_pipeline_in_parts",
    "plan_rubin_pipeline",
]


def default_output_run(user: str | None = None, now: dt.datetime | None = None) -> str:
    """``u/<user>/<UTC time>``, e.g. ``u/jdoe/20261204T173000Z``: a new run for each plan.

    pipetask's default output collection has the same ``u/<user>/`` prefix.
    """
    when = now or dt.datetime.now(dt.UTC)
    return f"u/{user or getpass.getuser()}/{when.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class PlannedPipeline:
    """What `plan_pipeline` made."""

    graph: PlanGraph
    """The plan."""
    stored: WriteResult | None
    """How it was stored, or None when no store was given."""
    saved_bytes: int | None = None
    """The size of the plan file written, if one was asked for."""


def plan_pipeline(
    pipeline: Pipeline,
    repository: Path | Repository,
    where: str = "",
    *,
    output_run: str | None = None,
    input_runs: Sequence[str] | None = None,
    plan_id: str | None = None,
    save: Path | None = None,
    store: GraphStore | None = None,
    replace: bool = False,
    allow_empty: bool = False,
    metadata: Mapping[str, MetadataValue] | None = None,
) -> PlannedPipeline:
    """Pre-flight ``pipeline`` over a repository and store the plan whole, if ``store`` is given.

    Parameters
    ----------
    pipeline
        The checked pipeline, with any config overrides applied.
    repository
        A repository's path (opened and closed here), or an open repository.
    where
        The data query; empty for everything.
    output_run
        The run to write outputs to; default `default_output_run`.
    input_runs
        The runs to search for inputs, first match wins; default every other run.
    plan_id
        The plan's id; default a fresh one.
    save
        Also write the plan to this plan file (`planfile.save_plan`), before storing it.
    store
        Where to store the plan (`write_plan`: whole or not at all, idempotent).
    replace
        Replace a stored plan of the same id but other content.
    allow_empty
        Plan nothing, with a warning, when the data query matches nothing or every data ID is
        dropped (else an error, as pipetask refuses an empty QuantumGraph: `empty_plan_error`).
    metadata
        Extra scalar metadata for the plan header (the command line records its ``-c`` there).
    """
    run = output_run or default_output_run()
    plan = functools.partial(
        preflight,
        pipeline,
        where=where,
        output_run=run,
        input_runs=input_runs,
        plan_id=plan_id,
        allow_empty=allow_empty,
        metadata=metadata,
    )
    if isinstance(repository, Repository):
        graph = plan(repository)
    else:
        with Repository.open(repository) as opened:
            graph = plan(opened)
    if not len(graph) and not allow_empty:
        raise empty_plan_error(graph.notes)
    saved = save_plan(graph, save) if save is not None else None
    stored = write_plan(store, graph, replace=replace) if store is not None else None
    return PlannedPipeline(graph, stored, saved)


@dataclass(frozen=True)
class PartPlanned:
    """One part of a plan pre-flighted in parts, as `plan_pipeline_in_parts` reports it."""

    index: int
    """Its place, from 0."""
    parts: int
    """How many parts there are."""
    name: str
    """E.g. ``tract=3``."""
    quanta: int
    """The quanta its pre-flight made (a quantum of several parts counts in each)."""
    seconds: float
    """How long its pre-flight took."""


def plan_pipeline_in_parts(
    pipeline: Pipeline,
    repository: Path | Repository,
    where: str,
    split_by: str,
    *,
    store: GraphStore,
    output_run: str | None = None,
    input_runs: Sequence[str] | None = None,
    plan_id: str | None = None,
    replace: bool = False,
    allow_empty: bool = False,
    metadata: Mapping[str, MetadataValue] | None = None,
    on_part: Callable[[PartPlanned], None] = lambda _part: None,
) -> PartsResult:
    """Pre-flight ``pipeline`` once per value of ``split_by`` and store the parts as one plan.

    Each part is pre-flighted under ``(where) AND split_by = value`` (`part_query`) and
    written at once (`write_plan_parts`: whole or not at all, each quantum once), so memory
    holds one part at a time. The plan's data query is ``where``; its metadata records
    ``split_by``. Parameters as for `plan_pipeline`; ``on_part`` is told of each part
    pre-flighted.
    """
    run = output_run or default_output_run()
    meta: dict[str, MetadataValue] = {**(metadata or {}), "split_by": split_by}
    with contextlib.ExitStack() as stack:
        repo = (
            repository
            if isinstance(repository, Repository)
            else stack.enter_context(Repository.open(repository))
        )
        values = split_values(pipeline, repo, split_by)
        shared = SharedReads(repo)  # every part reads the same records, joins and inputs
        fixed_id = plan_id or new_plan_id()

        def describe(index: int) -> str:
            return f"{split_by}={values[index]}"

        def plan_part(index: int) -> PlanGraph:
            began = time.perf_counter()
            graph = preflight(
                pipeline,
                shared,
                part_query(where, split_by, values[index]),
                output_run=run,
                input_runs=input_runs,
                plan_id=fixed_id,
                allow_empty=True,
                metadata=meta,
            )
            on_part(PartPlanned(index, len(values), describe(index), len(graph), time.perf_counter() - began))
            return graph

        # The plan's header is the first part's, with the whole data query; that part is
        # then the first one written, not planned twice.
        first = [plan_part(0)]
        header_metadata = {k: v for k, v in first[0].plan.metadata.items() if k != "empty_because"}
        plan = first[0].plan.model_copy(update={"constraints": where, "metadata": header_metadata})

        def parts() -> Iterator[PlanGraph]:
            for index in range(len(values)):
                yield first.pop() if index == 0 and first else plan_part(index)

        result = write_plan_parts(
            store,
            plan,
            parts,
            describe=describe,
            merge_notes=merge_notes,
            refuse_empty=None if allow_empty else empty_plan_error,
            replace=replace,
        )
    return result


def empty_plan_error(notes: Sequence[PlanNote]) -> PreflightError:
    """The error for a plan without quanta, naming the first reason pre-flight noted."""
    roots = [n for n in notes if n.kind not in (NoteKind.UPSTREAM, NoteKind.NO_QUANTA)]
    noted = roots or list(notes)
    why = f": every data ID was dropped, e.g. {noted[0].message}" if noted else ""
    return PreflightError(
        f"the plan is empty: no task got a quantum{why}",
        hint="check the repository's inputs against the data query, or pass --allow-empty to "
        "store the empty plan anyway",
    )


@dataclass(frozen=True)
class PlannedRubinPipeline:
    """What `plan_rubin_pipeline` made."""

    graph: PlanGraph
    """The plan, as imported from the QuantumGraph file."""
    stored: WriteResult | None
    """How it was stored, or None when no store was given."""
    qgraph: BuiltQuantumGraph
    """The QuantumGraph file pipe_base wrote, and its counts."""


def default_qgraph_path(output_run: str) -> Path:
    """``<qgraph_dir>/<output run>.qg``: the output run's ``/`` make subdirectories, like a Butler's."""
    base = qgraph_dir().absolute()
    parts = output_run.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise PreflightError(
            f"output run {output_run!r} cannot name a file under {base}",
            hint="pass --save-qgraph FILE",
        )
    return base.joinpath(*parts[:-1], parts[-1] + ".qg")


def plan_rubin_pipeline(
    pipeline_file: Path,
    butler: str,
    where: str = "",
    *,
    inputs: Sequence[str],
    output: str | None,
    output_run: str | None = None,
    config: Sequence[tuple[str, str, str]] = (),
    save_qgraph: Path | None = None,
    plan_id: str | None = None,
    store: GraphStore | None = None,
    replace: bool = False,
) -> PlannedRubinPipeline:
    """Pre-flight a Rubin pipeline with pipe_base, keep its QuantumGraph file, store it as a plan.

    Parameters
    ----------
    pipeline_file
        The pipe_base pipeline YAML.
    butler
        The Butler repository (pipetask's ``-b``).
    where
        The data query (pipetask's ``-d``).
    inputs
        The input collections (pipetask's ``-i``).
    output
        The output CHAINED collection (pipetask's ``-o``).
    output_run
        The output RUN; default ``OUTPUT/<UTC time>`` (`default_rubin_output_run`), as pipetask.
    config
        ``(label, field, value)`` config overrides (pipetask's ``-c``).
    save_qgraph
        Where to write the QuantumGraph file; default `default_qgraph_path`. It must not
        exist: a stored plan may be reading it.
    plan_id
        The plan's id; default the output run.
    store
        Where to store the plan (`write_plan`).
    replace
        Replace a stored plan of the same id but other content.
    """
    if output_run is None:
        if output is None:
            raise PreflightError("no output collection given", hint="name one with -o, e.g. -o u/$USER/drp")
        output_run = default_rubin_output_run(output)
    path = save_qgraph if save_qgraph is not None else default_qgraph_path(output_run)
    # A local repository is recorded by absolute path, so the plan can be run from anywhere.
    local = Path(butler).expanduser()
    built = build_quantum_graph(
        pipeline_file,
        str(local.absolute()) if local.exists() else butler,
        where=where,
        inputs=inputs,
        output=output,
        output_run=output_run,
        save_to=path,
        config=config,
        metadata={"built_by": "provgraph plan", "input": ",".join(inputs)},
    )
    graph = load_quantum_graph(built.path, plan_id=plan_id, butler=local if local.exists() else None)
    stored = write_plan(store, graph, replace=replace) if store is not None else None
    return PlannedRubinPipeline(graph, stored, built)
