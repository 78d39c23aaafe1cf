"""``provgraph plans``: list, show, delete, export and import stored plans, and read their notes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.cli._hints import stored_plan_hint
from provenance_graph.cli._output import console, err_console, print_json
from provenance_graph.model import human_forms
from provenance_graph.planfile import load_plan, save_plan
from provenance_graph.store import (
    PlanSummary,
    delete_plan,
    list_plans,
    open_store,
    plan_not_found,
    plan_notes,
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
    if summary.notes:
        counts = ", ".join(
            f"{kind} {n} ({_data_ids(dropped)})" for kind, (n, dropped) in summary.notes.items()
        )
        console.print(f"notes:       {counts}; 'provgraph plans notes {plan.id}' lists them", markup=False)
    table = Table("task", "quanta", title=None)
    for task, count in summary.task_counts.items():
        table.add_row(task, str(count))
    console.print(table)


def _data_ids(n: int) -> str:
    return f"{n} data ID" if n == 1 else f"{n} data IDs"


#: Data IDs of each note that ``plans notes`` prints (``--json`` gives them all).
_SHOWN = 5


@app.command("list")
def list_command(
    all_: Annotated[bool, typer.Option("--all", help="Include plans whose write is incomplete.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plans as JSON.")] = False,
) -> None:
    """List stored plans, newest first: whether each is stored whole, and what running it came to.

    'stored' is the write state (complete, or writing: an interrupted write, with --all);
    'execution' is pending, running, failed (a quantum failed or was blocked) or succeeded.
    """
    with open_store(start_managed=False) as store:
        plans = list_plans(store, include_incomplete=all_)
    if as_json:
        print_json([dataclasses.asdict(p) for p in plans])
        return
    table = Table("id", "stored", "execution", "output run", "created", "quanta", "datasets")
    for p in plans:
        table.add_row(
            p.id,
            p.status,
            p.execution or "",
            p.output_run or "",
            p.created or "",
            str(p.quanta or ""),
            str(p.datasets or ""),
        )
    console.print(table)


@app.command()
def show(plan_id: Annotated[str, typer.Argument(help="The plan's id.")]) -> None:
    """Show one plan's summary, computed in the graph."""
    with open_store(start_managed=False) as store:
        print_summary(plan_summary(store, plan_id))


@app.command()
def notes(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every note with all its data IDs as JSON.")
    ] = False,
) -> None:
    """Pre-flight's notes on a plan: which data IDs of which task got no quantum, and why."""
    with open_store(start_managed=False) as store:
        found = plan_notes(store, plan_id)
    if as_json:
        print_json(
            [
                {
                    "task": n.task_label,
                    "kind": n.kind.value,
                    "connection": n.connection,
                    "dataset_type": n.dataset_type,
                    "message": n.message,
                    "data_id_count": len(n.data_ids),
                    "data_ids": [d.to_dict() for d in n.data_ids],
                }
                for n in found
            ]
        )
        return
    dropped = sum(len(n.data_ids) for n in found)
    console.print(
        f"plan {plan_id}: {len(found)} note(s) on {_data_ids(dropped)} without a quantum", markup=False
    )
    if not found:
        return
    table = Table("task", "kind", "input", "data IDs")
    for n in found:
        what = n.dataset_type + (
            f" ({n.connection})" if n.connection and n.connection != n.dataset_type else ""
        )
        table.add_row(n.task_label, n.kind.value, what, str(len(n.data_ids)))
    console.print(table)
    for n in found:
        console.print(n.message, markup=False)
        forms, _ = human_forms(n.data_ids[:_SHOWN])  # the message names one data ID in full
        for form in forms:
            console.print(f"  {form}", markup=False)
        if len(n.data_ids) > _SHOWN:
            console.print(f"  ... and {len(n.data_ids) - _SHOWN} more (--json lists them all)")


@app.command()
def executions(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the executions as JSON.")] = False,
) -> None:
    """List a plan's executions, oldest first: who ran it, how it ended, its attempts per status.

    Their ids are what 'provgraph diff-outputs', 'stats --compare' and 'triage --execution' take.
    """
    from provenance_graph.store.analytics import plan_executions

    with open_store(start_managed=False) as store:
        found = plan_executions(store, plan_id)
    if as_json:
        print_json([dataclasses.asdict(e) for e in found])
        return
    if not found:
        console.print(f"plan {plan_id} has not run yet", markup=False)
    for e in found:  # lines, not a table: the ids stay whole on a narrow terminal, to be copied
        by = "@".join(x for x in (e.user, e.host) if x)
        when = " to ".join(_second(t) for t in (e.started, e.ended) if t)
        console.print(
            f"{e.id}  {e.activator or ''} {e.status}  {when}" + (f"  by {by}" if by else ""), markup=False
        )
        attempts = ", ".join(f"{n} {status}" for status, n in e.attempts.items()) or "none"
        console.print(f"  attempts: {attempts}" + (f"; {e.message}" if e.message else ""), markup=False)


def _second(time: str) -> str:
    """A recorded time to the second, as a person reads it: ``2026-12-06 03:31:02``."""
    return time[:19].replace("T", " ")


@app.command()
def delete(plan_id: Annotated[str, typer.Argument(help="The plan's id.")]) -> None:
    """Delete a plan, its quanta and the datasets only it produced."""
    with open_store() as store:
        if not delete_plan(store, plan_id):
            raise plan_not_found(store, plan_id)
    console.print(f"deleted plan {plan_id!r}")


@app.command("export")
def export_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    file: Annotated[Path, typer.Argument(help="Where to write the plan (gzip JSON, e.g. plan.json.gz).")],
) -> None:
    """Save a stored plan to a file, to run it elsewhere or move it to another database."""
    with open_store(start_managed=False) as store:
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
