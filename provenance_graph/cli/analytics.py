"""``provgraph stats`` and ``provgraph footprint``: what a plan's runs cost, and what its outputs will take.

``stats`` is pegasus-statistics' and pipe_base's runtime report over the graph: per task (or
per data-ID dimension) the wall time and peak memory of the attempts, with the slowest ones,
and with ``--compare`` the regressions against another plan or execution. ``footprint``
predicts a plan's output bytes from what earlier runs recorded, and with ``--clustering`` the
peak scratch space of its job DAG. docs/operations.md says what each number is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from provenance_graph.cli._data_ids import as_object, listed
from provenance_graph.cli._output import console, err_console, print_json
from provenance_graph.cli.query import print_queries
from provenance_graph.errors import QuestionError
from provenance_graph.model import DataId, DimensionValue
from provenance_graph.store import GraphStore, check_plan, open_store
from provenance_graph.store.analytics import (
    DEFAULT_MIN_MB,
    DEFAULT_MIN_SECONDS,
    DEFAULT_THRESHOLD,
    QUERIES,
    Footprint,
    GroupComparison,
    GroupStats,
    RuntimeStats,
    compare_stats,
    executions,
    footprint,
    footprint_parameters,
    resolve_source,
    runtime_stats,
    stats_parameters,
    stats_values,
)

__all__ = ["footprint_command", "stats_command"]

PlanArg = Annotated[str, typer.Argument(help="The stored plan's id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full answer as JSON.")]
CypherOpt = Annotated[
    bool, typer.Option("--cypher", help="Print the Cypher and its parameters; run nothing.")
]


# --- stats -------------------------------------------------------------------------------------


def _group(by: tuple[str, ...], key: tuple[DimensionValue, ...]) -> dict[str, Any]:
    """A group as JSON: ``{"task": ..., "data_id": {...}}`` (each part only when grouped by it)."""
    found: dict[str, Any] = {}
    dims = {name: value for name, value in zip(by, key, strict=True) if name != "task"}
    if "task" in by:
        found["task"] = key[by.index("task")]
    if dims:
        found["data_id"] = dims
    return found


def _group_cells(by: tuple[str, ...], key: tuple[DimensionValue, ...]) -> list[str]:
    """A group's table cells: the task label, then its data-ID values in the human form."""
    group = _group(by, key)
    cells = [str(group["task"])] if "task" in group else []
    if "data_id" in group:
        cells.append(DataId(group["data_id"]).human())
    return cells


def _group_columns(by: tuple[str, ...]) -> list[str]:
    return (["task"] if "task" in by else []) + (["data ID"] if any(n != "task" for n in by) else [])


def _group_name(by: tuple[str, ...], key: tuple[DimensionValue, ...]) -> str:
    return " ".join(_group_cells(by, key))


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _stats_json(g: GroupStats, by: tuple[str, ...]) -> dict[str, Any]:
    return {
        **_group(by, g.key),
        "attempts": g.attempts,
        "duration_s": {"p50": g.duration_p50, "p90": g.duration_p90, "max": g.duration_max},
        "peak_rss_mb": {"p50": g.memory_p50, "p90": g.memory_p90, "max": g.memory_max},
        "wall_s": g.wall_s,
        "cpu_s": g.cpu_s,
        "cpu_recorded": g.cpu_recorded,
        "slowest": [{**vars(s), "data_id": as_object(s.data_id)} for s in g.slowest],
    }


def _cpu_caption(stats: RuntimeStats) -> str:
    recorded = sum(g.cpu_recorded for g in stats.groups)
    total = sum(g.attempts for g in stats.groups)
    if recorded == total:
        return "CPU s: the CPU time the attempts recorded"
    if recorded == 0:
        return "CPU s: wall time (the attempts record no CPU time; one core per quantum)"
    return f"CPU s: recorded CPU time for {recorded} of {total} attempts, wall time for the others"


def _what(stats: RuntimeStats) -> str:
    attempts = " and ".join(stats.statuses)
    where = f"execution {stats.execution_id}" if stats.execution_id else f"plan {stats.plan_id}"
    return f"{where}: {attempts} attempts"


def _print_stats(stats: RuntimeStats) -> None:
    if not stats.groups and not stats.ungrouped:
        where = f"execution {stats.execution_id}" if stats.execution_id else f"plan {stats.plan_id}"
        console.print(
            f"{where} has no {' or '.join(stats.statuses)} attempts recorded: nothing to count "
            f"(run it: 'provgraph run --plan {stats.plan_id}')"
        )
        return
    table = Table(
        *_group_columns(stats.by), "attempts", "p50 s", "p90 s", "max s", "p50 MB", "p90 MB", "max MB",
        "CPU s", title=_what(stats), caption=_cpu_caption(stats),
    )  # fmt: skip
    for g in stats.groups:
        table.add_row(
            *_group_cells(stats.by, g.key), str(g.attempts), _seconds(g.duration_p50),
            _seconds(g.duration_p90), _seconds(g.duration_max), _mb(g.memory_p50), _mb(g.memory_p90),
            _mb(g.memory_max), f"{g.cpu_s:.1f}" if g.cpu_s < 1000 else f"{g.cpu_s:,.0f}",
        )  # fmt: skip
    console.print(table)
    if stats.ungrouped:
        console.print(f"{stats.ungrouped} attempt(s) of quanta without {', '.join(stats.by)} are in no group")
    shown = [(g, s) for g in stats.groups for s in g.slowest]
    if shown:
        forms, context = listed([s.data_id for _, s in shown])
        slow = Table(*_group_columns(stats.by), "quantum data ID", "attempt", "status", "s", "MB",
                     "quantum id", title="slowest attempts", caption=context or None)  # fmt: skip
        for (g, s), form in zip(shown, forms, strict=True):
            slow.add_row(
                *_group_cells(stats.by, g.key), form, str(s.number), s.status, _seconds(s.duration_s),
                _mb(s.peak_rss_mb), s.quantum_id,
            )  # fmt: skip
        console.print(slow)


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _comparison_json(c: GroupComparison, by: tuple[str, ...]) -> dict[str, Any]:
    return {
        **_group(by, c.key),
        "this": _stats_json(c.this, by) if c.this else None,
        "other": _stats_json(c.other, by) if c.other else None,
        "duration_p50_ratio": c.duration_ratio,
        "memory_p50_ratio": c.memory_ratio,
        "regressed": list(c.regressed),
    }


def _print_comparison(this: RuntimeStats, other: RuntimeStats, found: list[GroupComparison],
                      threshold: float) -> None:  # fmt: skip
    table = Table(
        *_group_columns(this.by), "attempts", "p50 s", "other p50 s", "ratio", "p50 MB", "other p50 MB",
        "ratio", "regressed", title=f"{_what(this)}, against {_what(other)}",
        caption=f"regressed: p50 ratio at least {threshold} (and --min-seconds / --min-mb more)",
    )  # fmt: skip
    for c in found:
        a, b = c.this, c.other
        table.add_row(
            *_group_cells(this.by, c.key), f"{a.attempts if a else 0}/{b.attempts if b else 0}",
            _seconds(a.duration_p50 if a else None), _seconds(b.duration_p50 if b else None),
            _ratio(c.duration_ratio), _mb(a.memory_p50 if a else None), _mb(b.memory_p50 if b else None),
            _ratio(c.memory_ratio), ", ".join(c.regressed), style="bold red" if c.regressed else None,
        )  # fmt: skip
    console.print(table)
    flagged = [c for c in found if c.regressed]
    if flagged:
        for c in flagged:
            console.print(f"regression: {_group_name(this.by, c.key)}: {' and '.join(c.regressed)}")
    else:
        console.print("no regression")


def stats_command(
    plan_id: PlanArg,
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help="Group by task (the default) or a data-ID dimension, e.g. visit (repeat)."),
    ] = None,
    execution: Annotated[
        str | None, typer.Option("--execution", help="Only the attempts of this execution (its id).")
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", metavar="OTHER", help="Compare with another plan or execution (its id)."),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", min=1.0, help="Flag a group whose p50 is this many times OTHER's.")
    ] = DEFAULT_THRESHOLD,
    min_seconds: Annotated[
        float, typer.Option("--min-seconds", min=0.0, help="... and at least this many seconds longer.")
    ] = DEFAULT_MIN_SECONDS,
    min_mb: Annotated[
        float, typer.Option("--min-mb", min=0.0, help="... or (memory) at least this many MB more.")
    ] = DEFAULT_MIN_MB,
    top: Annotated[int, typer.Option("--top", min=0, help="The N slowest attempts of each group.")] = 3,
    include_failed: Annotated[
        bool, typer.Option("--include-failed", help="Count failed attempts too (default: succeeded only).")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="FILE", help="Draw the distributions to FILE (.png, .svg, .pdf)."),
    ] = None,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Per task (or dimension): wall time and peak memory of a plan's attempts, the slowest, regressions."""
    names = tuple(by or ["task"])
    options: dict[str, Any] = {"by": names, "include_failed": include_failed}
    with open_store(start_managed=False) as store:
        if cypher:
            params = stats_parameters(plan_id, execution_id=execution, top=top, **options)
            print_queries(store, QUERIES["stats"], params)
            return
        this = runtime_stats(store, plan_id, execution_id=execution, top=top, **options)
        ran = executions(store, plan_id)
        other = None
        if compare is not None:
            other_plan, other_execution = resolve_source(store, compare)
            other = runtime_stats(store, other_plan, execution_id=other_execution, top=top, **options)
        if plot is not None:
            _plot(store, plot, this, other, compare, options)
    if other is not None:
        found = compare_stats(this, other, threshold=threshold, min_seconds=min_seconds, min_mb=min_mb)
        if as_json:
            print_json({"plan_id": plan_id, "execution_id": this.execution_id, "other": compare,
                        "other_plan_id": other.plan_id, "other_execution_id": other.execution_id,
                        "by": list(names), "statuses": list(this.statuses), "threshold": threshold,
                        "min_seconds": min_seconds, "min_mb": min_mb,
                        "groups": [_comparison_json(c, names) for c in found],
                        "regressions": [_group(names, c.key) | {"regressed": list(c.regressed)}
                                        for c in found if c.regressed]})  # fmt: skip
        else:
            _print_comparison(this, other, found, threshold)
        return
    if as_json:
        print_json({"plan_id": plan_id, "execution_id": execution, "executions": ran, "by": list(names),
                    "statuses": list(this.statuses), "ungrouped": this.ungrouped,
                    "groups": [_stats_json(g, names) for g in this.groups]})  # fmt: skip
        return
    _print_stats(this)


def _plot(
    store: GraphStore,
    path: Path,
    this: RuntimeStats,
    other: RuntimeStats | None,
    other_name: str | None,
    options: dict[str, Any],
) -> None:
    from provenance_graph.viz import stats_plot

    if path.suffix.lower().lstrip(".") not in ("png", "svg", "pdf"):
        raise QuestionError(f"--plot {path}: unknown picture format", hint="name a .png, .svg or .pdf file")

    def named(stats: RuntimeStats) -> dict[str, tuple[list[float], list[float]]]:
        values = stats_values(store, stats.plan_id, execution_id=stats.execution_id, **options)
        return {_group_name(stats.by, key): v for key, v in values.items()}

    stats_plot(
        named(this),
        str(path),
        title=_what(this),
        other=named(other) if other else None,
        other_name=other_name or "",
    )
    err_console.print(f"wrote {path}")


# --- footprint ---------------------------------------------------------------------------------


def _bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""  # not reached


def _footprint_json(found: Footprint) -> dict[str, Any]:
    return {
        "plan_id": found.plan_id,
        "predicted_bytes": found.predicted_bytes,
        "recorded_bytes": found.recorded_bytes,
        "unknown_dataset_types": list(found.unknown),
        "tasks": [
            {
                "task": t.task,
                "datasets": t.datasets,
                "predicted_bytes": t.predicted_bytes,
                "samples": t.samples,
                "outputs": [{**vars(o), "predicted_bytes": o.predicted_bytes} for o in t.outputs],
            }
            for t in found.tasks
        ],
        "clustering": found.clustering,
        "scratch": None
        if found.scratch is None
        else {
            "peak_bytes": found.scratch.peak_bytes,
            "peak_job": found.scratch.peak_job,
            "held_jobs": found.scratch.held_jobs,
            "order": list(found.scratch.order),
            "job_bytes": found.job_bytes,
        },
    }


def _print_footprint(found: Footprint) -> None:
    table = Table("task", "dataset type", "datasets", "samples", "mean size", "predicted", "recorded",
                  title=f"plan {found.plan_id}: output footprint",
                  caption="samples: sizes other plans' runs recorded for the type; recorded: this "
                  "plan's own datasets with a size")  # fmt: skip
    for t in found.tasks:
        for o in t.outputs:
            recorded = f"{_bytes(o.recorded_bytes)} ({o.recorded})" if o.recorded else ""
            table.add_row(t.task, o.dataset_type, str(o.datasets), str(o.samples), _bytes(o.mean_bytes),
                          _bytes(o.predicted_bytes), recorded)  # fmt: skip
    recorded_total = _bytes(found.recorded_bytes) if found.recorded_bytes else ""
    known = any(o.samples for t in found.tasks for o in t.outputs)
    total = _bytes(found.predicted_bytes if known else None) + (" + ?" if known and found.unknown else "")
    table.add_row("all", "", str(sum(t.datasets for t in found.tasks)), "", "", total, recorded_total,
                  style="bold")  # fmt: skip
    console.print(table)
    if found.unknown:
        console.print(
            f"no recorded size for {', '.join(found.unknown)}: not in the total (run a plan with them first)"
        )
    if found.scratch is not None:
        s = found.scratch
        console.print(
            f"peak scratch of clustering {found.clustering}: {_bytes(s.peak_bytes)} while job {s.peak_job} "
            f"runs ({s.held_jobs} of {len(s.order)} jobs' outputs held; jobs one at a time, outputs kept "
            "until every dependent job has finished)"
        )


def footprint_command(
    plan_id: PlanArg,
    clustering: Annotated[
        str | None,
        typer.Option(
            "--clustering", help="A stored clustering of the plan: also the peak scratch of its jobs."
        ),
    ] = None,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Predicted output bytes per task and in total, from sizes earlier runs recorded; peak scratch."""
    with open_store(start_managed=False) as store:
        if cypher:
            names = QUERIES["footprint_clustering" if clustering else "footprint"]
            params = footprint_parameters(plan_id, [], clustering)
            params.pop("dataset_types")
            print_queries(store, names, params)
            console.print("// $dataset_types: the dataset types footprint_outputs returns", markup=False)
            return
        check_plan(store, plan_id)
        found = footprint(store, plan_id, clustering=clustering)
    if as_json:
        print_json(_footprint_json(found))
        return
    _print_footprint(found)
