"""``provgraph plan``: pre-flight a pipeline over a repository, store the plan, print its summary.

Our own pipelines are pre-flighted by `provenance_graph.preflight` over a repository
(``-b/--repo``); a Rubin pipeline (`is_rubin_pipeline`) by pipe_base over a Butler
(``-b/--butler-config``), with pipetask's option names (`provenance_graph.cli._options`,
`provenance_graph.cli._rubin`, shared with ``provgraph run``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.activators import (
    PartPlanned,
    RerunSelection,
    default_output_run,
    extend_run,
    plan_pipeline,
    plan_pipeline_in_parts,
    plan_rerun,
)
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
)
from provenance_graph.cli._options import pipeline_file as pipeline_file_given
from provenance_graph.cli._output import console, err_console
from provenance_graph.cli._rubin import check_options_fit, plan_rubin, print_rubin_plan, split_collections
from provenance_graph.cli.running import AllowEmptyOpt, config_metadata, parse_config, warn_if_empty
from provenance_graph.interop.rubin_preflight import is_rubin_pipeline
from provenance_graph.model import NoteKind, Plan, PlanGraph, PlanNote
from provenance_graph.pipeline import Pipeline
from provenance_graph.store import open_store

__all__ = ["plan_command", "print_plan"]


def print_plan(graph: PlanGraph, pipeline: Pipeline) -> None:
    """Print a plan's id, per-task quanta and the notes on dropped data IDs."""
    _print_summary(
        graph.plan,
        (len(graph), len(graph.datasets), graph.edge_count),
        graph.task_counts(),
        graph.notes,
        pipeline,
    )


def _print_summary(
    plan: Plan,
    sizes: tuple[int, int, int],
    counts: Mapping[str, int],
    notes: Sequence[PlanNote],
    pipeline: Pipeline,
) -> None:
    console.print(f"plan:        {plan.id}")
    console.print(f"output run:  {plan.output_run}")
    if plan.constraints:
        console.print(f"where:       {plan.constraints}")
    if plan.metadata.get("split_by"):
        console.print(f"split by:    {plan.metadata['split_by']}")
    console.print(f"quanta: {sizes[0]}   datasets: {sizes[1]}   edges: {sizes[2]}")
    table = Table("task", "quanta", "dropped: missing inputs", "dropped upstream")
    dropped: dict[tuple[str, bool], int] = {}
    for note in notes:
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
    upstream = [n for n in notes if n.kind is NoteKind.UPSTREAM]
    for note in notes:
        if note.kind is not NoteKind.UPSTREAM:
            console.print(f"note: {note.message}")
    if upstream:
        tasks = len({n.task_label for n in upstream})
        console.print(
            f"note: {sum(len(n.data_ids) for n in upstream)} data ID(s) of {tasks} later task(s) were "
            "dropped because an earlier task dropped them "
            f"('provgraph plans notes {plan.id}' lists them)"
        )


def _plan_rerun(
    rerun_of: str,
    selection: RerunSelection,
    output_run: str | None,
    plan_id: str | None,
    clobber_outputs: bool,
) -> None:
    """``plan --rerun-of``: store the rerun plan and say what it runs and reuses."""
    with open_store(say=err_console.print) as store, stored_plan_hint(plan_id_option=True):
        made = plan_rerun(
            store,
            rerun_of,
            selection,
            output_run=output_run or default_output_run(),
            plan_id=plan_id,
            clobber_outputs=clobber_outputs,
        )
    graph = made.graph
    err_console.print(f"stored plan {graph.plan.id!r} ({made.stored.outcome}, {made.stored.seconds:.1f} s)")
    console.print(f"plan:        {graph.plan.id}")
    console.print(f"output run:  {graph.plan.output_run}")
    console.print(f"rerun of:    {rerun_of} ({selection.reason})")
    console.print(f"quanta: {len(graph)}   reused outputs of {rerun_of}: {made.reused}")
    table = Table("task", "quanta")
    for task, count in graph.task_counts().items():
        table.add_row(task, str(count))
    console.print(table)
    console.print(f"run it with: provgraph run --plan {graph.plan.id}")


def _extend_run(
    rerun_of: str, selection: RerunSelection, output_run: str | None, clobber_outputs: bool
) -> None:
    """``plan --rerun-of PLAN --extend-run``: make the selected quanta of PLAN pending again, in place."""
    with open_store(say=err_console.print) as store:
        done = extend_run(store, rerun_of, selection, output_run=output_run, clobber_outputs=clobber_outputs)
    console.print(
        f"extend-run: {done.quanta} quanta of {done.plan_id} will run again in its run "
        f"{done.output_run} ({done.reason})"
    )
    if done.removed:
        console.print(f"removed {done.removed} output file(s) they had made (--clobber-outputs)")
    table = Table("task", "quanta")
    for task, count in done.task_counts.items():
        table.add_row(task, str(count))
    console.print(table)
    console.print(f"run it with: provgraph run --plan {done.plan_id}")


def plan_command(
    pipeline_argument: PipelineArg = None,
    pipeline_option: PipelineOpt = None,
    repository: RepositoryOpt = None,
    where: DataQueryOpt = "",
    output_run: OutputRunOpt = None,
    input_run: InputOpt = None,
    output: OutputOpt = None,
    config: ConfigOpt = None,
    save: SaveOpt = None,
    plan_id: Annotated[
        str | None, typer.Option(help="The plan's id; default a fresh one (Rubin: the output run).")
    ] = None,
    store: Annotated[bool, typer.Option(help="Store the plan in Neo4j.")] = True,
    replace: Annotated[bool, typer.Option(help="Replace a stored plan of the same id.")] = False,
    allow_empty: AllowEmptyOpt = False,
    split_by: Annotated[
        str | None,
        typer.Option(
            "--split-by",
            metavar="DIMENSION",
            help="Pre-flight and store the plan in parts, one per value of DIMENSION (e.g. tract), "
            "each stored before the next is planned: for a plan too big to hold in memory at once. "
            "One plan all the same, visible when whole. Not with -q/--save or --no-store, nor for a "
            "Rubin pipeline.",
        ),
    ] = None,
    rerun_of: Annotated[
        str | None,
        typer.Option(
            "--rerun-of",
            metavar="PLAN",
            help="Plan again only what --failed, --blocked and --impact-of pick of this stored plan, "
            "into a new output run (--output-run), reading its good outputs where they are; or, with "
            "--extend-run, run them again in its own run. No PIPELINE.",
        ),
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="With --rerun-of: its failed quanta.")] = False,
    blocked: Annotated[
        bool, typer.Option("--blocked", help="With --rerun-of: its blocked quanta (upstream failed).")
    ] = False,
    impact_of: Annotated[
        list[str] | None,
        typer.Option(
            "--impact-of",
            metavar="DATASET",
            help="With --rerun-of: every quantum downstream of this dataset (its id, or "
            "'TYPE DATA_ID', e.g. 'bias instrument=DemoCam detector=1'). Repeatable.",
        ),
    ] = None,
    clobber_outputs: Annotated[
        bool,
        typer.Option(
            "--clobber-outputs",
            help="With --rerun-of: replace outputs the output run holds already (with --extend-run: "
            "remove the selected quanta's outputs now, so that the next run makes them again).",
        ),
    ] = False,
    extend_run_: Annotated[
        bool,
        typer.Option(
            "--extend-run",
            help="With --rerun-of: no new plan; the selected quanta of PLAN become pending again, to run "
            "again in PLAN's own run at its next 'provgraph run --plan PLAN' (as pipetask's --extend-run). "
            "Refused while PLAN runs, and with --plan-id.",
        ),
    ] = False,
) -> None:
    """Pre-flight PIPELINE over a repository (-b): store the plan and print its id and per-task summary.

    A Rubin pipeline (tasks of lsst.pipe.base) is pre-flighted by pipe_base's own
    QuantumGraph builder against a Butler (-b, -i, -o, -d, -c as for pipetask qgraph); the
    QuantumGraph file is kept (-q/--save-qgraph) and stored as the plan.

    With --rerun-of PLAN, no pre-flight: the new plan is the quanta of PLAN that --failed,
    --blocked and --impact-of select, in a new output run; with --extend-run, no new plan:
    those quanta of PLAN run again in its own run.
    """
    selection = RerunSelection(failed, blocked, tuple(impact_of or ()))
    if rerun_of is not None:
        others = {"PIPELINE": pipeline_argument or pipeline_option, "-b": repository, "-d": where,
                  "-i": input_run, "-o": output, "-c": config, "--save": save,
                  "--split-by": split_by}  # fmt: skip
        extra = [name for name, value in others.items() if value]
        if extra:
            allowed = "only what to rerun" if extend_run_ else "only --output-run and --plan-id"
            raise typer.BadParameter(f"--rerun-of PLAN takes {', '.join(extra)} from PLAN; give {allowed}")
        if extend_run_:
            if plan_id is not None:
                raise typer.BadParameter(
                    "--extend-run reruns quanta of PLAN itself, so there is no new plan to name: "
                    "leave out --plan-id, or drop --extend-run to make a new plan"
                )
            _extend_run(rerun_of, selection, output_run, clobber_outputs)
            return
        _plan_rerun(rerun_of, selection, output_run, plan_id, clobber_outputs)
        return
    if not selection.empty or clobber_outputs or extend_run_:
        raise typer.BadParameter(
            "--failed, --blocked, --impact-of, --clobber-outputs and --extend-run go with --rerun-of PLAN"
        )
    pipeline_file = pipeline_file_given(pipeline_argument, pipeline_option)
    if pipeline_file is None:
        raise typer.BadParameter("give the pipeline: PIPELINE or -p/--pipeline FILE")
    rubin = is_rubin_pipeline(pipeline_file)
    check_options_fit(rubin, pipeline_file, repository, output)
    assert repository is not None
    if split_by is not None:
        _check_split_by(rubin, save, store)
    if rubin:
        with contextlib.ExitStack() as stack:
            graph_store = stack.enter_context(open_store(say=err_console.print)) if store else None
            planned = plan_rubin(
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
                graph_store,
            )
        print_rubin_plan(planned)
        return
    pipeline = Pipeline.from_file(pipeline_file).with_config(parse_config(config))
    if split_by is not None:
        _plan_in_parts(pipeline, Path(repository), where, split_by, output_run, input_run, plan_id, replace,
                       allow_empty, config)  # fmt: skip
        return
    with contextlib.ExitStack() as stack:
        graph_store = stack.enter_context(open_store(say=err_console.print)) if store else None
        with stored_plan_hint(plan_id_option=True):
            planned_own = plan_pipeline(
                pipeline,
                Path(repository),
                where,
                output_run=output_run,
                input_runs=split_collections(input_run) or None,
                plan_id=plan_id,
                save=save,
                store=graph_store,
                replace=replace,
                allow_empty=allow_empty,
                metadata=config_metadata(config),
            )
    graph = planned_own.graph
    warn_if_empty(len(graph), graph.plan)
    if save is not None:
        err_console.print(f"saved plan to {save} ({planned_own.saved_bytes} bytes)")
    if planned_own.stored is not None:
        result = planned_own.stored
        err_console.print(f"stored plan {graph.plan.id!r} ({result.outcome}, {result.seconds:.1f} s)")
    print_plan(graph, pipeline)


def _check_split_by(rubin: bool, save: Path | None, store: bool) -> None:
    if rubin:
        raise typer.BadParameter(
            "--split-by is for our pipelines; pipe_base builds a Rubin pipeline's QuantumGraph "
            "whole: give each group its own data query (-d) and plan"
        )
    if save is not None or not store:
        raise typer.BadParameter(
            "--split-by stores the plan part by part and never holds it whole: drop "
            f"{'-q/--save' if save is not None else '--no-store'}"
        )


def _plan_in_parts(
    pipeline: Pipeline,
    repository: Path,
    where: str,
    split_by: str,
    output_run: str | None,
    input_run: list[str] | None,
    plan_id: str | None,
    replace: bool,
    allow_empty: bool,
    config: list[str] | None,
) -> None:
    """``provgraph plan --split-by DIMENSION``: pre-flight and store part by part, saying each."""

    def said(part: PartPlanned) -> None:
        err_console.print(
            f"part {part.index + 1}/{part.parts} ({part.name}): {part.quanta:,} quanta planned "
            f"in {part.seconds:.1f} s"
        )

    with open_store(say=err_console.print) as graph_store, stored_plan_hint(plan_id_option=True):
        done = plan_pipeline_in_parts(
            pipeline,
            repository,
            where,
            split_by,
            store=graph_store,
            output_run=output_run,
            input_runs=split_collections(input_run) or None,
            plan_id=plan_id,
            replace=replace,
            allow_empty=allow_empty,
            metadata=config_metadata(config),
            on_part=said,
        )
    result = done.result
    warn_if_empty(result.quanta, done.plan)
    err_console.print(f"stored plan {result.plan_id!r} ({result.outcome}, {result.seconds:.1f} s)")
    _print_summary(
        done.plan, (result.quanta, result.datasets, result.edges), done.task_counts, done.notes, pipeline
    )
