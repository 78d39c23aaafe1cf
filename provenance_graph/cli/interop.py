"""``provgraph import-qgraph`` and ``import-provenance``: Rubin's QuantumGraphs, planned and run.

``import-qgraph`` stores a predicted QuantumGraph file from ``lsst-pipe-base`` as a plan;
``import-provenance`` records what a ``pipetask run`` of it did, read from the provenance
QuantumGraph ``butler aggregate-graph`` writes, as an execution of that plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from provenance_graph.cli._hints import stored_plan_hint
from provenance_graph.cli._output import console, err_console
from provenance_graph.interop import load_provenance_graph, load_quantum_graph
from provenance_graph.model import PlanGraph, human_forms

__all__ = ["import_provenance_command", "import_qgraph_command", "print_imported_plan"]


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
            "--butler-config",
            "-b",
            "--butler",
            "--repo",
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
    with open_store(say=err_console.print) as store, stored_plan_hint(plan_id_option=True):
        result = write_plan(store, graph, replace=replace)
    err_console.print(f"stored plan {result.plan_id!r} ({result.outcome}, {result.seconds:.1f} s)")
    print_imported_plan(graph)


#: Quantum statuses in the order tables show them.
_STATUS_ORDER = ("succeeded", "failed", "blocked", "skipped", "running", "pending")


def import_provenance_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="A provenance QuantumGraph (.qg), from 'butler aggregate-graph ... -o FILE'."
        ),
    ],
    plan_id: Annotated[
        str | None,
        typer.Option(
            "--plan-id", help="The plan imported from the predicted graph; default the graph's output run."
        ),
    ] = None,
) -> None:
    """Record what a pipetask run did, from a provenance QuantumGraph FILE, as an execution of its plan."""
    from provenance_graph.store import open_store, record_imported_execution
    from provenance_graph.store.execution import status_counts

    run = load_provenance_graph(file)
    plan = plan_id or run.output_run
    with open_store(say=err_console.print) as store:
        result = record_imported_execution(store, run, plan)
        per_task = status_counts(store, plan)
    attempts = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
    if result.outcome == "unchanged":
        err_console.print(f"{file} was imported before, as execution {result.execution_id}: nothing to do")
    else:
        err_console.print(f"recorded {len(run.quanta)} quanta and {attempts} from {file}")
    console.print(f"plan:       {plan}")
    console.print(f"execution:  {result.execution_id}  ({result.status}, imported from pipe_base provenance)")
    columns = [s for s in _STATUS_ORDER if any(c.get(s) for c in per_task.values())]
    table = Table("task", *columns)
    for task, counts in per_task.items():
        table.add_row(task, *(str(counts.get(s, "")) for s in columns))
    console.print(table)
    failed = [q for q in run.quanta if q.status.value == "failed"]
    forms, _ = human_forms(q.data_id for q in failed[:5])
    for quantum, form in zip(failed[:5], forms, strict=True):
        last = quantum.attempts[-1] if quantum.attempts else None
        why = "no exception recorded"
        if last is not None and last.exception_type:
            why = f"{last.exception_type}: {last.exception_message or ''}".splitlines()[0]
        console.print(f"[red]failed[/] {quantum.task_label} {escape(form)}: {escape(why)}", highlight=False)
    if len(failed) > 5:
        console.print(f"... and {len(failed) - 5} more failures")
