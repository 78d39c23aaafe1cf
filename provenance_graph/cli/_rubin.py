"""The command line's part of planning a Rubin pipeline, shared by ``provgraph plan`` and ``run``.

pipetask's option names map onto `provenance_graph.activators.plan_rubin_pipeline`:
``-i`` collections comma-separated or repeated (`split_collections`), ``-c
LABEL:FIELD=VALUE`` as strings for pipe_base, and what does not fit the kind of
pipeline refused by name (`check_options_fit`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from provenance_graph.activators import PlannedRubinPipeline, plan_rubin_pipeline
from provenance_graph.cli._hints import stored_plan_hint
from provenance_graph.cli._options import refuse_output
from provenance_graph.cli._output import console, err_console
from provenance_graph.cli.interop import print_imported_plan
from provenance_graph.errors import PipelineError
from provenance_graph.interop.rubin_preflight import parse_rubin_config
from provenance_graph.store import GraphStore

__all__ = ["check_options_fit", "plan_rubin", "print_rubin_plan", "split_collections"]


def split_collections(values: list[str] | None) -> list[str]:
    """``-i a,b -i c`` as pipetask reads it: ``[a, b, c]``."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def check_options_fit(rubin: bool, pipeline_file: Path, repository: str | None, output: str | None) -> None:
    """Refuse what does not fit the kind of pipeline: no repository, or ``-o`` for one of ours."""
    if rubin:
        if repository is None:
            raise PipelineError(
                f"{pipeline_file} is a Rubin pipeline (tasks of lsst.pipe.base): no Butler given",
                hint="give its Butler with -b/--butler-config REPO",
            )
        return
    refuse_output(output, pipeline_file)
    if repository is None:
        raise typer.BadParameter("-b/--repo REPO is required to plan a pipeline (its data repository)")


def print_rubin_plan(planned: PlannedRubinPipeline) -> None:
    """Print a Rubin pipeline's stored plan: id, QuantumGraph file, and quanta per task."""
    console.print(f"QuantumGraph: {planned.qgraph.path}")
    print_imported_plan(planned.graph)


def plan_rubin(
    pipeline_file: Path,
    butler: str,
    where: str,
    inputs: list[str] | None,
    output: str | None,
    output_run: str | None,
    config: list[str] | None,
    save_qgraph: Path | None,
    plan_id: str | None,
    replace: bool,
    store: GraphStore | None,
) -> PlannedRubinPipeline:
    """Plan a Rubin pipeline with the command line's options, and say what was written and stored."""
    with stored_plan_hint(plan_id_option=True):
        planned = plan_rubin_pipeline(
            pipeline_file,
            butler,
            where,
            inputs=split_collections(inputs),
            output=output,
            output_run=output_run,
            config=parse_rubin_config(config),
            save_qgraph=save_qgraph,
            plan_id=plan_id,
            store=store,
            replace=replace,
        )
    err_console.print(
        f"saved QuantumGraph to {planned.qgraph.path} ({planned.qgraph.n_quanta} quanta)", highlight=False
    )
    if planned.stored is not None:
        result = planned.stored
        err_console.print(f"stored plan {result.plan_id!r} ({result.outcome}, {result.seconds:.1f} s)")
    return planned
