"""``provgraph plans``: list, show and delete stored plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.cli._hints import stored_plan_hint
from provenance_graph.cli._output import console, err_console
from provenance_graph.planfile import load_plan, save_plan
from provenance_graph.store import (
    PlanSummary,
    delete_plan,
    list_plans,
    open_store,
    plan_summary,
    read_plan,
    write_plan,
)

app = typer.Typer(help="Inspect and delete execution plans stored in the graph.")


def print_summary(summary: PlanSummary) -> None:
    """Print a plan's header and per-task counts."""
    plan = summary.plan
    console.print(f"plan:        {plan.id}")
    console.print(f"output run:  {plan.output_run}")
    console.print(f"created:     {plan.created.isoformat()}")
    if plan.constraints:
        console.print(f"constraints: {plan.constraints}")
    console.print(
        f"quanta: {summary.quanta}   datasets: {summary.datasets}   edges: {summary.edges}   "
        f"initial inputs: {summary.initial_inputs}   final outputs: {summary.final_outputs}"
    )
    table = Table("task", "quanta", title=None)
    for task, count in summary.task_counts.items():
        table.add_row(task, str(count))
    console.print(table)


@app.command("list")
def list_command(
    all_: Annotated[bool, typer.Option("--all", help="Include plans whose write is incomplete.")] = False,
) -> None:
    """List stored plans, newest first."""
    with open_store() as store:
        plans = list_plans(store, include_incomplete=all_)
    table = Table("id", "status", "output run", "created", "quanta", "datasets")
    for p in plans:
        table.add_row(
            p.id,
            p.status,
            p.output_run or "",
            p.created or "",
            str(p.quanta or ""),
            str(p.datasets or ""),
        )
    console.print(table)


@app.command()
def show(plan_id: Annotated[str, typer.Argument(help="The plan's id.")]) -> None:
    """Show one plan's summary, computed in the graph."""
    with open_store() as store:
        print_summary(plan_summary(store, plan_id))


@app.command()
def delete(plan_id: Annotated[str, typer.Argument(help="The plan's id.")]) -> None:
    """Delete a plan, its quanta and the datasets only it produced."""
    with open_store() as store:
        if not delete_plan(store, plan_id):
            console.print(f"no plan {plan_id!r} is stored")
            raise typer.Exit(1)
    console.print(f"deleted plan {plan_id!r}")


@app.command("export")
def export_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    file: Annotated[Path, typer.Argument(help="Where to write the plan (gzip JSON, e.g. plan.json.gz).")],
) -> None:
    """Save a stored plan to a file, to run it elsewhere or move it to another database."""
    with open_store() as store:
        graph = read_plan(store, plan_id)
    size = save_plan(graph, file)
    counts = f"{len(graph)} quanta, {len(graph.datasets)} datasets"
    console.print(f"wrote plan {plan_id!r} ({counts}) to {file} ({size:,} bytes)")


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="A plan file written by 'provgraph plans export'.")],
    replace: Annotated[
        bool, typer.Option(help="Replace a stored plan of the same id with other content.")
    ] = False,
) -> None:
    """Store a plan from a file, whole or not at all; rerun it after an interruption to resume."""
    graph = load_plan(file)
    with open_store() as store:

        def progress(phase: str, done: int, total: int) -> None:
            err_console.print(f"{phase}: {done}/{total}")

        with stored_plan_hint(plan_id_option=False):
            result = write_plan(store, graph, replace=replace, progress=progress)
        console.print(f"plan {result.plan_id!r} {result.outcome} in {result.seconds:.1f} s")
        print_summary(plan_summary(store, graph.plan.id))
