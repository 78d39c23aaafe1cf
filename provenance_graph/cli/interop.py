"""``provgraph import-qgraph``: store a QuantumGraph file from ``lsst-pipe-base`` as a plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.cli._output import console, err_console
from provenance_graph.interop import load_quantum_graph
from provenance_graph.model import PlanGraph

__all__ = ["import_qgraph_command", "print_imported_plan"]


def print_imported_plan(graph: PlanGraph) -> None:
    """Print an imported plan's id, counts and quanta per task."""
    plan = graph.plan
    console.print(f"plan:        {plan.id}")
    console.print(f"output run:  {plan.output_run}")
    console.print(f"repository:  {plan.repository or '(unknown)'}")
    if plan.constraints:
        console.print(f"where:       {plan.constraints}")
    console.print(f"quanta: {len(graph)}   datasets: {len(graph.datasets)}   edges: {graph.edge_count}")
    counts = graph.task_counts()
    # Tasks in the order their first quantum can run: upstream tasks first.
    labels = dict.fromkeys(q.task_label for q in graph.in_order())
    table = Table("task", "quanta")
    for label in labels:
        table.add_row(label, str(counts[label]))
    console.print(table)


def import_qgraph_command(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A predicted QuantumGraph file (.qg) from lsst-pipe-base.")
    ],
    plan_id: Annotated[
        str | None, typer.Option("--plan-id", help="The plan's id; default the graph's output run.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a stored plan of the same id with other content.")
    ] = False,
    butler: Annotated[
        Path | None,
        typer.Option(
            "--butler",
            "-b",
            metavar="REPO",
            help="The Butler repository the graph belongs to (its root or butler.yaml, as pipetask's "
            "-b/--butler-config); default the one the graph records, if it opens here.",
        ),
    ] = None,
) -> None:
    """Store a QuantumGraph FILE written by lsst-pipe-base as a plan, and print its summary."""
    from provenance_graph.store import open_store, write_plan

    graph = load_quantum_graph(file, plan_id=plan_id, butler=butler)
    if graph.plan.repository is None:
        err_console.print(
            f"warning: {file} records no Butler repository that opens here, so its datasets cannot "
            "be told apart from other repositories' datasets of the same run; give --butler REPO"
        )
    with open_store(say=err_console.print) as store:
        result = write_plan(store, graph, replace=replace)
    err_console.print(f"stored plan {result.plan_id!r} ({result.outcome}, {result.seconds:.1f} s)")
    print_imported_plan(graph)
