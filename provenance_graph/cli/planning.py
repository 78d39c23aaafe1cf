"""``provgraph plan``: pre-flight a pipeline over a repository, store the plan, print its summary.

Our own pipelines are pre-flighted by `provenance_graph.preflight` over a repository
(``--repo``); a Rubin pipeline (`is_rubin_pipeline`) by pipe_base over a Butler
(``-b/--butler``), with pipetask's option names (`provenance_graph.cli._rubin`, shared with
``provgraph run``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.activators import plan_pipeline
from provenance_graph.cli._hints import stored_plan_hint
from provenance_graph.cli._output import console, err_console
from provenance_graph.cli._rubin import check_options_fit, plan_rubin, print_rubin_plan
from provenance_graph.cli.running import parse_config
from provenance_graph.interop.rubin_preflight import is_rubin_pipeline
from provenance_graph.model import NoteKind, PlanGraph
from provenance_graph.pipeline import Pipeline
from provenance_graph.store import open_store

__all__ = ["plan_command", "print_plan"]


def print_plan(graph: PlanGraph, pipeline: Pipeline) -> None:
    """Print a plan's id, per-task quanta and the notes on dropped data IDs."""
    console.print(f"plan:        {graph.plan.id}")
    console.print(f"output run:  {graph.plan.output_run}")
    if graph.plan.constraints:
        console.print(f"where:       {graph.plan.constraints}")
    console.print(f"quanta: {len(graph)}   datasets: {len(graph.datasets)}   edges: {graph.edge_count}")
    counts = graph.task_counts()
    table = Table("task", "quanta", "dropped: missing inputs", "dropped upstream")
    dropped: dict[tuple[str, bool], int] = {}
    for note in graph.notes:
        key = (note.task_label, note.kind is NoteKind.UPSTREAM)
        dropped[key] = dropped.get(key, 0) + len(note.data_ids)
    for label in pipeline.labels:
        table.add_row(
            label,
            str(counts.get(label, 0)),
            str(dropped.get((label, False), "")),
            str(dropped.get((label, True), "")),
        )
    console.print(table)
    upstream = [n for n in graph.notes if n.kind is NoteKind.UPSTREAM]
    for note in graph.notes:
        if note.kind is not NoteKind.UPSTREAM:
            console.print(f"note: {note.message}")
    if upstream:
        tasks = len({n.task_label for n in upstream})
        console.print(
            f"note: {sum(len(n.data_ids) for n in upstream)} data ID(s) of {tasks} later task(s) were "
            "dropped because an earlier task dropped them "
            f"('provgraph plans notes {graph.plan.id}' lists them)"
        )


def plan_command(
    pipeline_file: Annotated[Path, typer.Argument(metavar="PIPELINE", help="The pipeline YAML file.")],
    repo: Annotated[Path | None, typer.Option(help="The data repository (our own pipelines).")] = None,
    butler: Annotated[
        str | None,
        typer.Option(
            "--butler",
            "--butler-config",
            "-b",
            help="The Butler repository (Rubin pipelines), as for pipetask.",
        ),
    ] = None,
    where: Annotated[
        str,
        typer.Option(
            "--where",
            "--data-query",
            "-d",
            help="Data query, e.g. \"instrument='HSC' AND visit IN (1..10)\".",
        ),
    ] = "",
    output_run: Annotated[
        str | None,
        typer.Option(
            help="Run to write outputs to; default u/<user>/<timestamp> (Rubin: OUTPUT/<timestamp>)."
        ),
    ] = None,
    input_run: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            help="Run to read inputs from (repeat; first wins). "
            "Rubin: input collections, comma-separated or repeated.",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Rubin: the output CHAINED collection, as for pipetask."),
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="Config override LABEL:FIELD=VALUE (repeat)."),
    ] = None,
    save_qgraph: Annotated[
        Path | None,
        typer.Option(
            help="Rubin: where to keep the QuantumGraph file the plan runs from; default "
            "<data dir>/qgraphs/<output run>.qg ($PROVGRAPH_QGRAPH_DIR)."
        ),
    ] = None,
    plan_id: Annotated[
        str | None, typer.Option(help="The plan's id; default a fresh one (Rubin: the output run).")
    ] = None,
    save: Annotated[Path | None, typer.Option(help="Also write the plan to this file (gzip JSON).")] = None,
    store: Annotated[bool, typer.Option(help="Store the plan in Neo4j.")] = True,
    replace: Annotated[bool, typer.Option(help="Replace a stored plan of the same id.")] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            help="Plan nothing, with a warning, when the data query matches nothing (else an error)."
        ),
    ] = False,
) -> None:
    """Pre-flight PIPELINE over a repository: store the plan and print its id and per-task summary.

    A Rubin pipeline (tasks of lsst.pipe.base) is pre-flighted by pipe_base's own
    QuantumGraph builder against a Butler (-b, -i, -o, -d, -c as for pipetask qgraph); the
    QuantumGraph file is kept (--save-qgraph) and stored as the plan.
    """
    rubin = is_rubin_pipeline(pipeline_file)
    check_options_fit(
        rubin, pipeline_file, repo, butler, **{"-o/--output": output, "--save-qgraph": save_qgraph}
    )
    if rubin:
        assert butler is not None
        if save is not None:
            raise typer.BadParameter(
                "--save: the plan of a Rubin pipeline is its QuantumGraph (--save-qgraph)"
            )
        with contextlib.ExitStack() as stack:
            graph_store = stack.enter_context(open_store(say=err_console.print)) if store else None
            planned = plan_rubin(
                pipeline_file,
                butler,
                where,
                input_run,
                output,
                output_run,
                config,
                save_qgraph,
                plan_id,
                replace,
                graph_store,
            )
        print_rubin_plan(planned)
        return
    assert repo is not None
    pipeline = Pipeline.from_file(pipeline_file).with_config(parse_config(config))
    with contextlib.ExitStack() as stack:
        graph_store = stack.enter_context(open_store(say=err_console.print)) if store else None
        with stored_plan_hint(plan_id_option=True):
            planned_own = plan_pipeline(
                pipeline,
                repo,
                where,
                output_run=output_run,
                input_runs=input_run,
                plan_id=plan_id,
                save=save,
                store=graph_store,
                replace=replace,
                allow_empty=allow_empty,
            )
    graph = planned_own.graph
    if graph.plan.metadata.get("empty_because"):
        err_console.print(f"warning: {graph.plan.metadata['empty_because']}; the plan is empty")
    if save is not None:
        err_console.print(f"saved plan to {save} ({planned_own.saved_bytes} bytes)")
    if planned_own.stored is not None:
        result = planned_own.stored
        err_console.print(f"stored plan {graph.plan.id!r} ({result.outcome}, {result.seconds:.1f} s)")
    print_plan(graph, pipeline)
