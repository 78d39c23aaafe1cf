"""The ``provgraph`` entry point: registers the command groups and prints errors without tracebacks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from provenance_graph import __version__
from provenance_graph.cli import interop, planning, plans, repo, running, server
from provenance_graph.cli._output import console, err_console
from provenance_graph.errors import ProvenanceGraphError

app = typer.Typer(
    help="provenance-graph: execution plans and provenance of pipelines, in Neo4j.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(server.app, name="server")
app.add_typer(plans.app, name="plans")
app.add_typer(repo.app, name="repo")
app.command("plan")(planning.plan_command)
app.command("run")(running.run_command)
app.command("import-qgraph")(interop.import_qgraph_command)


@app.command()
def demo(
    visits: Annotated[int, typer.Option(min=1, help="Visits in the demo repository.")] = 4,
    detectors: Annotated[int, typer.Option(min=1, help="Detectors per visit.")] = 8,
    repo: Annotated[Path | None, typer.Option(help="Where to make the demo repository.")] = None,
) -> None:
    """Make a demo repository, plan the demo pipeline over it, store the plan, print its summary."""
    from provenance_graph.demo import run_demo

    result = run_demo(visits, detectors, repo, say=err_console.print)
    console.print(
        f"Plan {result.write.plan_id!r} {result.write.outcome} in {result.write.seconds:.1f} s "
        f"({result.write.elements} graph elements)."
    )
    planning.print_plan(result.graph, result.pipeline)
    console.print(f"Repository: {result.repo}")
    console.print(f"Neo4j:   {result.uri}")
    if result.browser_url:
        console.print(
            f"Browser: {result.browser_url}  (user neo4j; password: provgraph server status --show-password)"
        )
    console.print(
        "Try in Browser: MATCH p=(:Quantum {task:'assembleCoadd'})-[:CONSUMES]->(:Dataset) RETURN p LIMIT 25"
    )


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"provenance-graph {__version__}")


def main() -> None:
    """Run the command line; our errors print as one message and exit 1."""
    try:
        app()
    except ProvenanceGraphError as err:
        err_console.print(f"error: {err}", markup=False, soft_wrap=True)
        sys.exit(1)
