"""``provgraph viz``: pictures of a plan (rolled up by task), a lineage, or a few quanta.

The picture goes to ``--output`` (its suffix picks SVG, PNG or DOT unless ``--format``
says), by default ``<what>.svg`` in the current directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer

from provenance_graph.cli._output import err_console
from provenance_graph.cli.query import (
    DataIdOpt,
    DatasetArg,
    DepthOpt,
    RunOpt,
    StopTaskOpt,
    StopTypeOpt,
    TaskFilterOpt,
    TypeOpt,
    WhereOpt,
    data_query_filter,
    resolve_dataset,
)
from provenance_graph.errors import QuestionError
from provenance_graph.store import open_store
from provenance_graph.viz import MAX_NODES, Format, View, lineage_view, plan_rollup, render, subgraph_view

app = typer.Typer(help="Draw plans and lineages with Graphviz (SVG, PNG or DOT).", no_args_is_help=True)

OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the picture.")]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="svg, png or dot; default from --output's suffix, else svg.")
]
LevelOpt = Annotated[
    str, typer.Option("--level", help="task: one node per task label and dataset type; quantum: every node.")
]
MaxNodesOpt = Annotated[
    int, typer.Option("--max-nodes", min=1, help="Refuse quantum-level pictures larger than this.")
]


def _format(output: Path | None, fmt: str | None) -> Format:
    chosen = fmt or (output.suffix.lstrip(".").lower() if output and output.suffix else "svg")
    if chosen not in ("svg", "png", "dot"):
        raise QuestionError(f"cannot draw to format {chosen!r}", hint="use --format svg, png or dot")
    return "svg" if chosen == "svg" else "png" if chosen == "png" else "dot"


def _write(view: View, output: Path | None, fmt: str | None, default_name: str) -> None:
    chosen = _format(output, fmt)
    path = output or Path(f"{default_name}.{chosen}")
    data = render(view, chosen)
    path.write_bytes(data)
    err_console.print(f"wrote {path}: {len(view.nodes):,} nodes, {len(view.edges):,} edges ({view.title})")


@app.command("plan")
def plan_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    task: TaskFilterOpt = None,
    where: WhereOpt = "",
    output: OutputOpt = None,
    fmt: FormatOpt = None,
    max_nodes: MaxNodesOpt = MAX_NODES,
) -> None:
    """A plan rolled up by task, or with --task/-d (a data query), those quanta one by one."""
    admits = data_query_filter(where)
    with open_store(start_managed=False) as store:
        if task or admits is not None:
            view = subgraph_view(store, plan_id, tasks=task, where=admits, max_nodes=max_nodes)
        else:
            view = plan_rollup(store, plan_id)
    _write(view, output, fmt, f"plan-{plan_id}")


def _lineage_command(direction: Literal["upstream", "downstream"], doc: str) -> Callable[..., None]:
    def command(
        dataset_id: DatasetArg = None,
        dataset_type: TypeOpt = None,
        data_id: DataIdOpt = None,
        run: RunOpt = None,
        depth: DepthOpt = None,
        stop_task: StopTaskOpt = None,
        stop_type: StopTypeOpt = None,
        level: LevelOpt = "task",
        max_nodes: MaxNodesOpt = MAX_NODES,
        output: OutputOpt = None,
        fmt: FormatOpt = None,
    ) -> None:
        if level not in ("task", "quantum"):
            raise QuestionError(f"unknown level {level!r}", hint="use --level task or --level quantum")
        with open_store(start_managed=False) as store:
            start = resolve_dataset(store, dataset_id, dataset_type, data_id, run)
            if start is None:
                raise QuestionError("name a dataset: its id, or --type and --data-id")
            view = lineage_view(
                store,
                start,
                direction=direction,
                depth=depth,
                stop_tasks=stop_task or (),
                stop_types=stop_type or (),
                level="task" if level == "task" else "quantum",
                max_nodes=max_nodes,
            )
        word = "lineage" if direction == "upstream" else "impact"
        _write(view, output, fmt, f"{word}-{start[:8]}")

    command.__doc__ = doc
    return command


app.command("lineage")(
    _lineage_command("upstream", "The upstream lineage of a dataset, by task or quantum by quantum.")
)
app.command("impact")(
    _lineage_command("downstream", "The downstream impact of a dataset, by task or quantum by quantum.")
)
