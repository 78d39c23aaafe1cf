"""The ``provgraph`` entry point: registers the command groups and prints errors without tracebacks."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from provenance_graph import __version__, logs
from provenance_graph.cli._options import processes_option
from provenance_graph.cli._output import console, err_console
from provenance_graph.crashpoints import crash_target
from provenance_graph.errors import ProvenanceGraphError

if TYPE_CHECKING:
    from provenance_graph.activators import Progress
    from provenance_graph.model import PlanGraph
    from provenance_graph.pipeline import Pipeline
    from provenance_graph.store import WriteResult


#: The commands and command groups, in the order ``provgraph --help`` lists them, each as
#: ``module:attribute`` (a command function or a `typer.Typer` group). A command's module is
#: imported only when that command runs (or ``--help`` lists them all): ``provgraph query``
#: never loads pre-flight, Parsl or the LSST stack.
LAZY_COMMANDS: dict[str, str] = {
    "server": "provenance_graph.cli.server:app",
    "plans": "provenance_graph.cli.plans:app",
    "repo": "provenance_graph.cli.repo:app",
    "query": "provenance_graph.cli.query:app",
    "viz": "provenance_graph.cli.viz:app",
    "plan": "provenance_graph.cli.planning:plan_command",
    "run": "provenance_graph.cli.running:run_command",
    "import-qgraph": "provenance_graph.cli.interop:import_qgraph_command",
    "import-provenance": "provenance_graph.cli.interop:import_provenance_command",
    "browse": "provenance_graph.cli.server:browse",
    "serve": "provenance_graph.cli.serve:serve_command",
    "cluster": "provenance_graph.cli.batch:cluster_command",
    "blast-radius": "provenance_graph.cli.batch:blast_radius_command",
    "export": "provenance_graph.cli.export:app",
    "export-dagman": "provenance_graph.cli.batch:export_dagman_command",
    "run-job": "provenance_graph.cli.batch:run_job_command",
    "record": "provenance_graph.cli.batch:record_command",
    "report": "provenance_graph.cli.operate:report_command",
    "cancel": "provenance_graph.cli.operate:cancel_command",
    "triage": "provenance_graph.cli.diagnose:triage_command",
    "suspects": "provenance_graph.cli.diagnose:suspects_command",
    "diff-outputs": "provenance_graph.cli.diagnose:diff_outputs_command",
    "stats": "provenance_graph.cli.analytics:stats_command",
    "footprint": "provenance_graph.cli.analytics:footprint_command",
    "submit": "provenance_graph.cli.batch:submit_command",
    "status": "provenance_graph.cli.operate:status_command",
    "restart": "provenance_graph.cli.batch:restart_command",
    "migrate": "provenance_graph.cli.migrate:migrate_command",
}


def _load_command(name: str, target: str) -> Any:  # typer's own click Command
    """The click command ``name`` made from ``target`` (``module:attribute``), importing its module."""
    module, attribute = target.split(":")
    found = getattr(importlib.import_module(module), attribute)
    if isinstance(found, typer.Typer):
        command: Any = typer.main.get_group(found)
    else:
        single = typer.Typer()
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _Commands(TyperGroup):
    """The root command: lazy sub-commands, and Ctrl-C in any command says ``interrupted``.

    Sub-commands (`LAZY_COMMANDS`) are imported when asked for. Ctrl-C in one prints
    ``interrupted`` in one line and exits 130: Typer alone exits 130 without a word; a command
    that has more to say (``run``: what was given back) says it and exits 130 itself. The
    store has dropped any connection the interrupt cut into
    (`provenance_graph.store.connection`), so nothing else is printed.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*LAZY_COMMANDS, *(name for name in super().list_commands(ctx) if name not in LAZY_COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(_load_command(cmd_name, LAZY_COMMANDS[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(INTERRUPTED) from None


#: The exit status after Ctrl-C: 128 + SIGINT, as a shell reports a command killed by it.
INTERRUPTED = 130

app = typer.Typer(
    cls=_Commands,
    help="provenance-graph: execution plans and provenance of pipelines, in Neo4j.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # as pipetask; subcommands inherit it
)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"provenance-graph {__version__}")
        raise typer.Exit


@app.callback()
def _logging_options(
    ctx: typer.Context,
    log_level: Annotated[
        list[str] | None,
        typer.Option(
            "--log-level",
            metavar="LEVEL|COMPONENT=LEVEL",
            envvar=logs.LEVEL_ENV,
            show_default=False,
            help="Logging level of provenance_graph (default WARNING), or of one logger and those "
            "below it (e.g. provenance_graph.store=DEBUG, neo4j=INFO; '.' for the root logger, so "
            f"every library). Repeatable. Levels: {', '.join(logs.LEVELS)}, any case.",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            metavar="PATH",
            envvar=logs.LOG_FILE_ENV,
            help="Append log lines (time, level, logger, message) to this file instead of stderr.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    # For the command's duration: undone when it ends, so an in-process caller (a test) keeps its own.
    if ctx.resilient_parsing:
        return
    ctx.call_on_close(logs.configure(log_level or (), log_file))


@app.command()
def demo(
    visits: Annotated[int, typer.Option(min=1, help="Visits in the demo repository.")] = 4,
    detectors: Annotated[int, typer.Option(min=1, help="Detectors per visit.")] = 8,
    repo: Annotated[Path | None, typer.Option(help="Where to make the demo repository.")] = None,
    jobs: Annotated[int, processes_option("quanta")] = 2,
) -> None:
    """Make a demo repository, plan and run the demo pipeline, and show where one coadd came from."""
    from provenance_graph.cli import planning, running
    from provenance_graph.demo import run_demo
    from provenance_graph.model import DataId

    with contextlib.ExitStack() as stack:
        bar: dict[str, Callable[[Progress], None]] = {}

        def planned(graph: PlanGraph, pipeline: Pipeline, write: WriteResult) -> None:
            # The plan as soon as it is stored, then the run's progress bar: its clock starts now.
            console.print(
                f"Plan {write.plan_id!r} {write.outcome} in {write.seconds:.1f} s "
                f"({write.elements} graph elements)."
            )
            planning.print_plan(graph, pipeline)
            bar["update"] = stack.enter_context(running.progress_bar(len(graph)))

        def progress(update: Progress) -> None:
            if "update" in bar:
                bar["update"](update)

        result = run_demo(
            visits,
            detectors,
            repo,
            say=err_console.print,
            jobs=jobs,
            on_progress=progress,
            on_planned=planned,
        )
    report = result.report
    ran = ", ".join(f"{n} {what}" for what, n in report.ran.items() if n) or "nothing to do"
    console.print(f"Run: {report.status} in {report.seconds:.1f} s ({ran}); execution {report.execution_id}")
    if result.coadd is not None and result.lineage is not None:
        console.print(f"Provenance of deepCoadd ({DataId.from_key(str(result.coadd['data_id']))}):")
        console.print(f"  file:     {result.coadd['uri']}")
        console.print(f"  checksum: {result.coadd['checksum']}")
        made_by = result.lineage.tasks()
        for task in [label for label in result.pipeline.labels if label in made_by]:
            counts = made_by[task]
            statuses = ", ".join(f"{n} {s}" for s, n in counts.items())
            console.print(f"  made by   {task}: {statuses}")
        for dataset_type, n in sorted(result.lineage.dataset_types(inputs_only=True).items()):
            console.print(f"  from      {n} {dataset_type}", highlight=False)
    console.print(f"Repository: {result.repo}")
    console.print(f"Neo4j:   {result.uri}")
    if result.browser_url:
        console.print(
            f"Browser: {result.browser_url}  (user neo4j; password: provgraph server status --show-password)"
        )
    console.print(
        "Try in Browser: MATCH p=(:Dataset {dataset_type:'deepCoadd'})<-[:PRODUCES]-(:Quantum)"
        "-[:CONSUMES]->(:Dataset) RETURN p LIMIT 25"
    )
    if result.browser_url:  # the managed server: it keeps running, holding memory, until stopped
        console.print(
            "The Neo4j server keeps running for the commands above; stop it with 'provgraph server stop'."
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"provenance-graph {__version__}")


def main() -> None:
    """Run the command line; our errors print as one message, passwords redacted, and exit 1."""
    try:
        crash_target()  # a malformed PROVGRAPH_CRASH_AT is refused before any work
        app()
    except KeyboardInterrupt:  # before or after a command: at start-up, or while printing
        err_console.print("interrupted")
        sys.exit(INTERRUPTED)
    except ProvenanceGraphError as err:
        text = logs.redact(f"error: {err}", (os.environ.get("NEO4J_PASSWORD", ""),))
        err_console.print(text, markup=False, soft_wrap=True)
        sys.exit(1)
