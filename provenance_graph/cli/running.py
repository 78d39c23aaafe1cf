"""``provgraph run``: plan and run in one command, or run a stored or saved plan; print the outcome."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Iterator, Mapping, Sequence
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
from provenance_graph.cli._options import (
    ConfigOpt,
    DataQueryOpt,
    InputOpt,
    OutputOpt,
    OutputRunOpt,
    PipelineArg,
    PipelineOpt,
    RepositoryOpt,
    SaveOpt,
    is_from_quantum_graph,
    processes_option,
    repository_arguments,
)
from provenance_graph.cli._options import pipeline_file as pipeline_file_given
from provenance_graph.cli._output import console, err_console
from provenance_graph.cli._rubin import check_options_fit, plan_rubin, split_collections
from provenance_graph.errors import DatabaseError, ExecutionError, PipelineError
from provenance_graph.interop.rubin_preflight import is_rubin_pipeline
from provenance_graph.model import MetadataValue, Plan, PlanGraph
from provenance_graph.pipeline import Pipeline, YamlLoader
from provenance_graph.planfile import load_plan, save_plan
from provenance_graph.store import GraphStore, open_store, write_plan
from provenance_graph.store.execution import last_options, status_counts
from provenance_graph.store.plan_read import read_plan_header

__all__ = [
    "AllowEmptyOpt",
    "config_metadata",
    "parse_config",
    "print_report",
    "progress_bar",
    "run_activator",
    "run_command",
    "settle_config",
    "show_config",
    "stopping_cleanly",
    "warn_if_empty",
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


#: The plan metadata key recording the ``-c`` overrides a plan was made with (JSON list of texts).
CONFIG_METADATA = "config_overrides"


def config_metadata(items: list[str] | None) -> dict[str, MetadataValue]:
    """The plan metadata recording the ``-c`` items a plan is made with: shown when it is rerun."""
    return {CONFIG_METADATA: json.dumps(list(items))} if items else {}


def override_texts(overrides: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``{label: {field: value}}`` as ``-c`` texts, ``LABEL:FIELD=VALUE`` (the value as JSON: YAML too)."""
    return [
        f"{label}:{field}={json.dumps(value, default=str)}"
        for label, fields in overrides.items()
        for field, value in fields.items()
    ]


def settle_config(
    store: GraphStore, plan: Plan, given: list[str] | None, change: bool
) -> dict[str, dict[str, Any]]:
    """The run-time ``-c`` overrides of a rerun: those of the plan's last run, unless changed explicitly.

    A plan's first run takes ``-c`` as given. Later runs keep the overrides of the last one
    (recorded with its execution); other ``-c`` values are refused without ``--change-config``,
    which runs with exactly the ones given (none, without ``-c``).
    """
    wanted = parse_config(given)
    if is_from_quantum_graph(plan):
        return wanted  # its configs are the QuantumGraph's: the Activator refuses any -c
    last = last_options(store, plan.id)
    if last is None or change:
        return wanted
    before = last.get("config") or {}
    if not given:
        return {str(k): dict(v) for k, v in before.items()}
    if wanted != before:
        old = " ".join(f"-c {shlex.quote(t)}" for t in override_texts(before)) or "no -c overrides"
        raise ExecutionError(
            f"plan {plan.id!r} last ran with {old}; the -c given would change them",
            hint="add --change-config to rerun with the -c given (and only those); leave out -c to "
            "rerun as before",
        )
    return wanted


def show_config(plan: Plan, overrides: Mapping[str, Mapping[str, Any]]) -> None:
    """Say which config overrides a run runs with: the plan's own (made with -c), and this run's."""
    made = plan.metadata.get(CONFIG_METADATA)
    if isinstance(made, str) and made:
        texts = " ".join(f"-c {shlex.quote(t)}" for t in json.loads(made))
        err_console.print(f"config: plan {plan.id!r} was made with {texts}", markup=False, highlight=False)
    if overrides:
        texts = " ".join(f"-c {shlex.quote(t)}" for t in override_texts(overrides))
        err_console.print(
            f"config: this run overrides {texts} (kept for reruns; --change-config changes them)",
            markup=False,
            highlight=False,
        )


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


AllowEmptyOpt = Annotated[
    bool,
    typer.Option(
        "--allow-empty",
        help="Plan (and run) nothing, with a warning, when the data query matches nothing or every "
        "data ID is dropped (else an error, as pipetask refuses an empty graph).",
    ),
]


def warn_if_empty(quanta: int, plan: Plan) -> None:
    """Say, on stderr, that a plan made with --allow-empty has no quanta, and why."""
    if not quanta:
        why = plan.metadata.get("empty_because") or "no task got a quantum"
        err_console.print(f"warning: {why}; the plan is empty", markup=False, highlight=False)


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
    config: list[str] | None,
    replace: bool,
    allow_empty: bool,
) -> PlanGraph:
    pipeline = Pipeline.from_file(pipeline_file).with_config(parse_config(config))
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
            allow_empty=allow_empty,
            metadata=config_metadata(config),
        )
    graph, result = planned.graph, planned.stored
    assert result is not None
    err_console.print(
        f"planned {graph.plan.id!r}: {len(graph)} quanta, {len(graph.datasets)} datasets ({result.outcome})"
    )
    for note in graph.notes:
        err_console.print(f"note: {note.message}", highlight=False)
    warn_if_empty(len(graph), graph.plan)
    return graph


ProcessesOpt = Annotated[int, processes_option("quanta on this machine")]
ChangeConfigOpt = Annotated[
    bool,
    typer.Option(
        "--change-config",
        help="Rerun with the -c overrides given (none without -c) instead of those of the plan's last run.",
    ),
]


def run_command(
    pipeline_argument: PipelineArg = None,
    plan: Annotated[
        str | None, typer.Option(help="Run a stored plan (its id) or a saved plan file, instead of planning.")
    ] = None,
    pipeline_option: PipelineOpt = None,
    repository: RepositoryOpt = None,
    memory_per_quantum: Annotated[
        str | None,
        typer.Option(help="Rubin: memory each quantum may use, e.g. 4GB (as pipetask's option)."),
    ] = None,
    where: DataQueryOpt = "",
    output_run: OutputRunOpt = None,
    input_run: InputOpt = None,
    output: OutputOpt = None,
    save: SaveOpt = None,
    plan_id: Annotated[
        str | None, typer.Option(help="The new plan's id; default a fresh one (Rubin: the output run).")
    ] = None,
    processes: ProcessesOpt = 1,
    config: ConfigOpt = None,
    change_config: ChangeConfigOpt = False,
    fail_fast: Annotated[bool, typer.Option(help="Stop starting quanta after the first failure.")] = False,
    skip_existing: Annotated[bool, typer.Option(help="Skip quanta whose outputs all exist already.")] = True,
    replace: Annotated[
        bool,
        typer.Option(
            help="Replace a stored plan of the same id with other content (planning, or --plan FILE)."
        ),
    ] = False,
    allow_empty: AllowEmptyOpt = False,
) -> None:
    """Plan PIPELINE and run it, or run a stored plan with --plan; resumes what an earlier run left.

    A Rubin pipeline (tasks of lsst.pipe.base) is planned as by 'provgraph plan' (pipe_base's
    QuantumGraph builder against -b/--butler-config) and then run as 'provgraph run --plan ID -b'.
    A rerun of a plan uses the -c overrides of its last run, printed first; --change-config
    changes them.
    """
    pipeline_file = pipeline_file_given(pipeline_argument, pipeline_option)
    if (pipeline_file is None) == (plan is None):
        raise typer.BadParameter("give either a PIPELINE file (or -p) to plan and run, or --plan ID_OR_FILE")
    planning_only = {"-o/--output": output, "-d/--data-query": where, "-i/--input": input_run,
                     "--output-run": output_run, "--plan-id": plan_id}  # fmt: skip
    if plan is not None and (given := [name for name, value in planning_only.items() if value]):
        raise typer.BadParameter(
            f"{', '.join(given)}: for planning a PIPELINE; --plan {plan} runs a plan made already"
        )
    rubin = pipeline_file is not None and is_rubin_pipeline(pipeline_file)
    if pipeline_file is not None:
        check_options_fit(rubin, pipeline_file, repository, output)
        if change_config:
            raise typer.BadParameter("--change-config is for rerunning a plan (--plan); a new plan takes -c")
    if not rubin:
        parse_config(config)  # malformed -c is refused before anything connects
    with open_store(say=err_console.print) as store:
        if rubin:
            assert pipeline_file is not None
            assert repository is not None
            graph = plan_rubin(
                pipeline_file,
                repository,
                where,
                input_run,
                output,
                output_run,
                config,
                save,
                plan_id,
                replace,
                store,
            ).graph
        elif plan is None:
            assert pipeline_file is not None
            assert repository is not None
            graph = _plan_and_store(
                store,
                pipeline_file,
                Path(repository),
                where,
                output_run,
                split_collections(input_run) or None,
                plan_id,
                config,
                replace,
                allow_empty,
            )
        elif Path(plan).is_file():
            graph = load_plan(Path(plan))
            with stored_plan_hint(plan_id_option=False):
                result = write_plan(store, graph, replace=replace)
            err_console.print(f"stored plan {graph.plan.id!r} from {plan} ({result.outcome})")
        else:
            graph = None
        header = graph.plan if graph is not None else read_plan_header(store, str(plan))
        # Planning, -c went into the plan; an existing plan's runs keep their own overrides.
        run_overrides = settle_config(store, header, None if pipeline_file else config, change_config)
        show_config(header, run_overrides)
        located = {"butler": repository} if rubin and repository else repository_arguments(header, repository)
        activator = LocalActivator(
            store,
            header.id,
            **located,
            memory_per_quantum=memory_per_quantum,
            jobs=processes,
            fail_fast=fail_fast,
            skip_existing=skip_existing,
            config=run_overrides,
        )
        if not len(activator.prepare().graph) and not allow_empty:
            raise ExecutionError(
                f"plan {header.id!r} has no quanta: there is nothing to run",
                hint="pass --allow-empty to run it anyway (it does nothing)",
            )
        if save is not None and not rubin:
            size = save_plan(activator.prepare().graph, save)
            err_console.print(f"saved plan to {save} ({size} bytes)")
        resume = f"provgraph run --plan {header.id}" + (
            f" --butler {repository}" if "butler" in located else ""
        )
        report = run_activator(activator, resume)
        print_report(report, store, resume)
    if not report.ok:
        raise typer.Exit(1)
