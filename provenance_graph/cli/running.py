"""``provgraph run``: plan and run in one command, or run a stored or saved plan; print the outcome."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from provenance_graph.activators import Activator, Failure, LocalActivator, Progress, RunReport, plan_pipeline
from provenance_graph.cli._data_ids import listed
from provenance_graph.cli._hints import stored_plan_hint
from provenance_graph.cli._output import console, err_console
from provenance_graph.cli._rubin import check_options_fit, plan_rubin
from provenance_graph.errors import DatabaseError, PipelineError
from provenance_graph.interop.rubin_preflight import is_rubin_pipeline
from provenance_graph.model import PlanGraph
from provenance_graph.pipeline import Pipeline, YamlLoader
from provenance_graph.planfile import load_plan, save_plan
from provenance_graph.store import GraphStore, open_store, write_plan
from provenance_graph.store.execution import status_counts

__all__ = [
    "parse_config",
    "print_report",
    "progress_bar",
    "run_activator",
    "run_command",
    "stopping_cleanly",
]

STATUS_ORDER = ("succeeded", "skipped", "failed", "blocked", "running", "pending")
STATUS_STYLE = {
    "succeeded": "green",
    "skipped": "cyan",
    "failed": "red",
    "blocked": "yellow",
    "running": "blue",
    "pending": "dim",
}


def parse_config(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """Parse ``LABEL:FIELD=VALUE`` overrides (VALUE is YAML) into ``{label: {field: value}}``."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items or []:
        target, sep, text = item.partition("=")
        label, colon, field = target.partition(":")
        if not sep or not colon or not label or not field:
            raise PipelineError(
                f"config override {item!r} is not LABEL:FIELD=VALUE",
                hint="e.g. -c isr:saturation=60000 or -c isr:fail_on='[{visit: 2}]'",
            )
        try:
            value = yaml.load(text, Loader=YamlLoader)
        except RecursionError:
            raise PipelineError(f"config override {item!r}: the value nests too deeply") from None
        except yaml.MarkedYAMLError as err:  # one line: what is wrong, not PyYAML's marks
            raise PipelineError(f"config override {item!r}: the value is not YAML: {err.problem}") from err
        except (yaml.YAMLError, ValueError) as err:  # ValueError: a value like 2024-13-45 or !!int x
            raise PipelineError(f"config override {item!r}: the value is not YAML: {err}") from err
        overrides.setdefault(label.strip(), {})[field.strip()] = value
    return overrides


def _counts_text(progress: Progress) -> str:
    parts = [
        f"[{STATUS_STYLE[s]}]{s} {progress.counts[s]}[/]" for s in STATUS_ORDER if progress.counts.get(s)
    ]
    return "  ".join(parts)


@contextmanager
def progress_bar(total: int) -> Iterator[Any]:
    """A progress bar of finished quanta with counts per status; yields the update callback."""
    with Bar(
        TextColumn("[bold]running"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task("", total=total)

        def update(progress: Progress) -> None:
            bar.update(task, total=progress.total)
            finished = sum(progress.counts.get(s, 0) for s in ("succeeded", "skipped", "failed", "blocked"))
            bar.update(task, completed=finished, description=_counts_text(progress))

        yield update


def print_report(report: RunReport, store: GraphStore, resume: str | None = None) -> None:
    """Print what a run did, the plan's counts per task and status, and the first failures.

    ``resume`` is the command that retries what failed (default: ``provgraph run --plan PLAN``).
    """
    ran = ", ".join(f"{n} {what}" for what, n in report.ran.items() if n) or "nothing to do"
    console.print(f"plan:       {report.plan_id}")
    console.print(f"execution:  {report.execution_id}  ({report.status}, {report.seconds:.1f} s)")
    console.print(f"this run:   {ran}")
    if report.repaired:
        console.print(f"repaired:   {report.repaired} quanta of an execution that died were given back")
    for message in report.messages:
        console.print(f"finished:   {escape(message)}", highlight=False)
    per_task = status_counts(store, report.plan_id)
    columns = [s for s in STATUS_ORDER if any(c.get(s) for c in per_task.values())]
    table = Table("task", *columns)
    for task, counts in per_task.items():
        table.add_row(task, *(str(counts.get(s, "")) for s in columns))
    console.print(table)
    print_failures(report.failures[:5])
    if len(report.failures) > 5:
        console.print(f"... and {len(report.failures) - 5} more failures")
    if not report.ok:
        resume = resume or f"provgraph run --plan {report.plan_id}"
        console.print(f"Rerun with '{resume}' to retry failed and blocked quanta.")


def print_failures(failures: Sequence[Failure]) -> None:
    """One line per failed quantum: its task, its data ID as a listing shows it, its error's first line."""
    forms, _ = listed([f.data_id for f in failures])
    for failure, form in zip(failures, forms, strict=True):
        first = failure.error.splitlines()[0] if failure.error else ""
        console.print(f"[red]failed[/] {failure.task} {escape(form)}: {escape(first)}", highlight=False)


@contextlib.contextmanager
def stopping_cleanly(plan_id: str, resume: str) -> Iterator[None]:
    """Around a run: Ctrl-C exits 130 in one line, a lost database says how to resume."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print("interrupted: unfinished quanta were given back; rerun to resume")
        raise typer.Exit(130) from None
    except DatabaseError as err:  # the database went away for longer than we retry
        raise type(err)(
            f"{err.message}; the run of plan {plan_id!r} stopped",
            hint=f"once Neo4j answers again, '{resume}' resumes it; what succeeded stays done",
        ) from err


def run_activator(activator: Activator, resume: str) -> RunReport:
    """Run an Activator under a progress bar, `stopping_cleanly`."""
    with progress_bar(len(activator.prepare().graph)) as update, stopping_cleanly(activator.plan_id, resume):
        activator.on_progress = update
        return activator.run()


def _plan_and_store(
    store: GraphStore,
    pipeline_file: Path,
    repo: Path,
    where: str,
    output_run: str | None,
    input_runs: list[str] | None,
    plan_id: str | None,
    config: dict[str, dict[str, Any]],
    replace: bool,
) -> PlanGraph:
    pipeline = Pipeline.from_file(pipeline_file).with_config(config)
    with stored_plan_hint(plan_id_option=True):
        planned = plan_pipeline(
            pipeline,
            repo,
            where,
            output_run=output_run,
            input_runs=input_runs,
            plan_id=plan_id,
            store=store,
            replace=replace,
        )
    graph, result = planned.graph, planned.stored
    assert result is not None
    err_console.print(
        f"planned {graph.plan.id!r}: {len(graph)} quanta, {len(graph.datasets)} datasets ({result.outcome})"
    )
    for note in graph.notes:
        err_console.print(f"note: {note.message}", highlight=False)
    return graph


def run_command(
    pipeline_file: Annotated[
        Path | None,
        typer.Argument(metavar="[PIPELINE]", help="The pipeline YAML file to plan and run (or use --plan)."),
    ] = None,
    plan: Annotated[
        str | None, typer.Option(help="Run a stored plan (its id) or a saved plan file, instead of planning.")
    ] = None,
    repo: Annotated[
        Path | None, typer.Option(help="The data repository; with --plan, default the plan's own.")
    ] = None,
    butler: Annotated[
        str | None,
        typer.Option(
            "--butler",
            "--butler-config",
            "-b",
            help="The Butler repository, for a Rubin pipeline or a plan imported from a QuantumGraph.",
        ),
    ] = None,
    memory_per_quantum: Annotated[
        str | None,
        typer.Option(help="Rubin: memory each quantum may use, e.g. 4GB (as pipetask's option)."),
    ] = None,
    where: Annotated[
        str, typer.Option("--where", "--data-query", "-d", help="Data query, when planning.")
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
    save_qgraph: Annotated[
        Path | None,
        typer.Option(
            help="Rubin: where to keep the QuantumGraph file the plan runs from; default "
            "<data dir>/qgraphs/<output run>.qg ($PROVGRAPH_QGRAPH_DIR)."
        ),
    ] = None,
    plan_id: Annotated[
        str | None, typer.Option(help="The new plan's id; default a fresh one (Rubin: the output run).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Quanta to run at once.")] = 1,
    save_plan_to: Annotated[
        Path | None, typer.Option("--save-plan", help="Also keep the plan in this file (gzip JSON).")
    ] = None,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="Config override LABEL:FIELD=VALUE (repeat)."),
    ] = None,
    fail_fast: Annotated[bool, typer.Option(help="Stop starting quanta after the first failure.")] = False,
    skip_existing: Annotated[bool, typer.Option(help="Skip quanta whose outputs all exist already.")] = True,
    replace: Annotated[
        bool,
        typer.Option(
            help="Replace a stored plan of the same id with other content (planning, or --plan FILE)."
        ),
    ] = False,
) -> None:
    """Plan PIPELINE and run it, or run a stored plan with --plan; resumes what an earlier run left.

    A Rubin pipeline (tasks of lsst.pipe.base) is planned as by 'provgraph plan' (pipe_base's
    QuantumGraph builder against -b/--butler) and then run as 'provgraph run --plan ID --butler'.
    """
    if (pipeline_file is None) == (plan is None):
        raise typer.BadParameter("give either a PIPELINE file to plan and run, or --plan ID_OR_FILE")
    rubin = pipeline_file is not None and is_rubin_pipeline(pipeline_file)
    if pipeline_file is not None:
        check_options_fit(
            rubin, pipeline_file, repo, butler, **{"-o/--output": output, "--save-qgraph": save_qgraph}
        )
    if rubin and save_plan_to is not None:
        raise typer.BadParameter(
            "--save-plan: the plan of a Rubin pipeline is its QuantumGraph (--save-qgraph)"
        )
    overrides = {} if rubin else parse_config(config)
    graph: PlanGraph | None = None
    run_overrides = overrides
    with open_store(say=err_console.print) as store:
        if rubin:
            assert pipeline_file is not None
            assert butler is not None
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
                store,
            )
            graph = planned.graph
        elif plan is None:
            assert pipeline_file is not None
            assert repo is not None
            graph = _plan_and_store(
                store, pipeline_file, repo, where, output_run, input_run, plan_id, overrides, replace
            )
            run_overrides = {}  # already part of the plan
        elif Path(plan).is_file():
            graph = load_plan(Path(plan))
            with stored_plan_hint(plan_id_option=False):
                result = write_plan(store, graph, replace=replace)
            err_console.print(f"stored plan {graph.plan.id!r} from {plan} ({result.outcome})")
        the_plan_id = graph.plan.id if graph is not None else str(plan)
        activator = LocalActivator(
            store,
            the_plan_id,
            repository=repo,
            butler=butler,
            memory_per_quantum=memory_per_quantum,
            jobs=jobs,
            fail_fast=fail_fast,
            skip_existing=skip_existing,
            config=run_overrides,
        )
        if save_plan_to is not None:
            size = save_plan(activator.prepare().graph, save_plan_to)
            err_console.print(f"saved plan to {save_plan_to} ({size} bytes)")
        resume = f"provgraph run --plan {the_plan_id}" + (f" --butler {butler}" if butler else "")
        report = run_activator(activator, resume)
        print_report(report, store, resume)
    if not report.ok:
        raise typer.Exit(1)
