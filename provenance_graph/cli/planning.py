"""``provgraph plan``: pre-flight a pipeline over a repository, store the plan, print its summary."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.activators import plan_pipeline
from provenance_graph.cli._output import console, err_console
from provenance_graph.model import PlanGraph
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
    table = Table("task", "quanta", "dropped data IDs")
    dropped: dict[str, int] = {}
    for note in graph.notes:
        dropped[note.task_label] = dropped.get(note.task_label, 0) + len(note.data_ids)
    for label in pipeline.labels:
        table.add_row(label, str(counts.get(label, 0)), str(dropped.get(label, "")))
    console.print(table)
    for note in graph.notes:
        console.print(f"note: {note.message}")


def plan_command(
    pipeline_file: Annotated[Path, typer.Argument(metavar="PIPELINE", help="The pipeline YAML file.")],
    repo: Annotated[Path, typer.Option(help="The data repository.")],
    where: Annotated[
        str, typer.Option(help="Data query, e.g. \"instrument='HSC' AND visit IN (1..10)\".")
    ] = "",
    output_run: Annotated[
        str | None, typer.Option(help="Run to write outputs to; default u/<user>/<timestamp>.")
    ] = None,
    input_run: Annotated[
        list[str] | None, typer.Option("--input", help="Run to read inputs from (repeat; first wins).")
    ] = None,
    plan_id: Annotated[str | None, typer.Option(help="The plan's id; default a fresh one.")] = None,
    save: Annotated[Path | None, typer.Option(help="Also write the plan to this file (gzip JSON).")] = None,
    store: Annotated[bool, typer.Option(help="Store the plan in Neo4j.")] = True,
    replace: Annotated[bool, typer.Option(help="Replace a stored plan of the same id.")] = False,
) -> None:
    """Pre-flight PIPELINE over a repository: store the plan and print its id and per-task summary."""
    pipeline = Pipeline.from_file(pipeline_file)
    with contextlib.ExitStack() as stack:
        graph_store = stack.enter_context(open_store(say=err_console.print)) if store else None
        planned = plan_pipeline(
            pipeline,
            repo,
            where,
            output_run=output_run,
            input_runs=input_run,
            plan_id=plan_id,
            save=save,
            store=graph_store,
            replace=replace,
        )
    graph = planned.graph
    if save is not None:
        err_console.print(f"saved plan to {save} ({planned.saved_bytes} bytes)")
    if planned.stored is not None:
        result = planned.stored
        err_console.print(f"stored plan {graph.plan.id!r} ({result.outcome}, {result.seconds:.1f} s)")
    print_plan(graph, pipeline)
