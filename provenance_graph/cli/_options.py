"""Options several commands share, spelled as ``pipetask`` and BPS spell them (docs/options.md).

Each option has one meaning and one canonical spelling (pipetask's); our older spellings
stay as aliases. ``-b`` names the repository of either kind of pipeline: a Butler for a
Rubin pipeline or a plan imported from a QuantumGraph, our data repository otherwise
(`repository_arguments` tells them apart for a stored plan).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from provenance_graph.errors import PipelineError

if TYPE_CHECKING:
    from provenance_graph.model import Plan

__all__ = [
    "ConfigOpt",
    "DataQueryOpt",
    "InputOpt",
    "OutputOpt",
    "OutputRunOpt",
    "PipelineArg",
    "PipelineOpt",
    "RepositoryOpt",
    "SaveOpt",
    "is_from_quantum_graph",
    "pipeline_file",
    "processes_option",
    "refuse_output",
    "repository_arguments",
]

PipelineArg = Annotated[
    Path | None,
    typer.Argument(metavar="[PIPELINE]", help="The pipeline YAML file (or -p/--pipeline)."),
]
PipelineOpt = Annotated[
    Path | None,
    typer.Option("--pipeline", "-p", help="The pipeline YAML file, as for pipetask (or the argument)."),
]
RepositoryOpt = Annotated[
    str | None,
    typer.Option(
        "--butler-config",
        "-b",
        "--butler",
        "--repo",
        help="The repository, as pipetask's -b: a Butler for a Rubin pipeline (or a plan from a "
        "QuantumGraph), else our data repository; a stored plan's default is the one it records.",
    ),
]
DataQueryOpt = Annotated[
    str,
    typer.Option(
        "--data-query",
        "-d",
        "--where",
        help="Data query, as pipetask's -d, e.g. \"instrument='DemoCam' AND visit IN (1..10)\".",
    ),
]
InputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        "-i",
        help="Input runs (Rubin: collections) to read from, comma-separated or repeated; first wins.",
    ),
]
OutputRunOpt = Annotated[
    str | None,
    typer.Option(
        "--output-run",
        help="The run to write outputs to; default u/<user>/<timestamp> (Rubin: OUTPUT/<timestamp>).",
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Rubin: the output CHAINED collection, as for pipetask (refused for our repositories: "
        "they have none; use --output-run).",
    ),
]
ConfigOpt = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", help="Config override LABEL:FIELD=VALUE (repeat), as for pipetask."),
]
SaveOpt = Annotated[
    Path | None,
    typer.Option(
        "--save-qgraph",
        "-q",
        "--save",
        "--save-plan",
        help="Also keep the plan in this file: a Rubin pipeline's QuantumGraph (default "
        "<data dir>/qgraphs/<output run>.qg, $PROVGRAPH_QGRAPH_DIR), else a gzip JSON plan file.",
    ),
]


def processes_option(runs: str) -> Any:
    """``-j/--processes`` (pipetask's), ``--jobs`` kept: how many worker processes run ``runs`` at once."""
    return typer.Option(
        "--processes",
        "-j",
        "--jobs",
        min=1,
        help=f"Worker processes running {runs} at once, as pipetask's -j.",
    )


def pipeline_file(argument: Path | None, option: Path | None) -> Path | None:
    """The pipeline given as the argument or with ``-p`` (not both)."""
    if argument is not None and option is not None:
        raise typer.BadParameter(
            f"the pipeline is given twice ({argument} and -p/--pipeline {option}); give it once"
        )
    return argument if argument is not None else option


def refuse_output(output: str | None, pipeline: Path) -> None:
    """``-o`` names an output CHAINED collection, which our repositories do not have."""
    if output:
        raise PipelineError(
            f"-o/--output {output}: {pipeline} is a provenance-graph pipeline, whose repository has no "
            "CHAINED collections; name the output run with --output-run",
            hint=f"e.g. --output-run {output}/run1",
        )


def is_from_quantum_graph(plan: Plan) -> bool:
    """Whether a plan was imported from a Rubin QuantumGraph (as the Activators tell it)."""
    from provenance_graph.interop.qgraph import SOURCE  # here: the QuantumGraph reader is slow to import

    return plan.metadata.get("source") == SOURCE


def repository_arguments(plan: Plan, value: str | None) -> dict[str, str | Path]:
    """``-b VALUE`` as an Activator takes it: ``butler=`` (a plan from a QuantumGraph) or ``repository=``."""
    if value is None:
        return {}
    if is_from_quantum_graph(plan):
        return {"butler": value}
    return {"repository": Path(value)}
