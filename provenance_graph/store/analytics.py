"""Runtime and resource analytics, and footprints, answered in the graph (issue 21 items 4 and 7).

- `runtime_stats`: per task (or any data-ID dimensions) the attempts of a plan, or of one of
  its executions: count, p50, p90 and max of wall time (``duration_s``) and peak memory
  (``peak_rss_mb``), summed CPU time and the slowest attempts;
- `compare_stats`: two such answers side by side, regressions flagged (pure);
- `stats_values`: every attempt's duration and memory per group, what a plot draws;
- `resolve_source`: a plan id or an execution id, as ``--compare`` takes either;
- `footprint`: the bytes a plan's outputs will take, per task and in total, estimated from
  the sizes other plans' runs recorded for the same dataset types; with a clustering, the
  peak scratch space of its job DAG (`provenance_graph.clustering.scratch_peak`).

The aggregates are computed by the named queries of ``cypher/analytics.cypher`` (listed in
`QUERIES`, so the command line can print them); docs/operations.md says what each number is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from provenance_graph.clustering import ScratchPeak, scratch_peak
from provenance_graph.errors import NotInGraphError, QuestionError
from provenance_graph.model import DEFAULT_UNIVERSE, DimensionValue, suggest
from provenance_graph.store._missing import check_plan, close_plan_ids
from provenance_graph.store.clustering import clustering_id, read_job_graph
from provenance_graph.store.connection import GraphStore

__all__ = [
    "DEFAULT_MIN_MB",
    "DEFAULT_MIN_SECONDS",
    "DEFAULT_THRESHOLD",
    "QUERIES",
    "ExecutionSummary",
    "Footprint",
    "GroupComparison",
    "GroupStats",
    "RuntimeStats",
    "SlowAttempt",
    "TaskFootprint",
    "TypeEstimate",
    "compare_stats",
    "executions",
    "footprint",
    "footprint_parameters",
    "plan_executions",
    "resolve_source",
    "runtime_stats",
    "stats_parameters",
    "stats_values",
]

#: The named queries behind each question (``--cypher`` prints them).
QUERIES: dict[str, tuple[str, ...]] = {
    "stats": ("stats_groups", "stats_slowest"),
    "footprint": ("footprint_outputs", "footprint_samples"),
    "footprint_clustering": ("footprint_outputs", "footprint_samples", "footprint_jobs"),
}

#: A group regressed when its p50 grew by at least this factor (``--threshold``) ...
DEFAULT_THRESHOLD = 1.2
#: ... and by at least this many seconds (wall time; ``--min-seconds``) ...
DEFAULT_MIN_SECONDS = 1.0
#: ... or megabytes (peak memory; ``--min-mb``): tiny absolute changes are noise.
DEFAULT_MIN_MB = 100.0

#: Attempt statuses the statistics are over by default, and with failed attempts.
SUCCEEDED = ("succeeded",)
ENDED = ("succeeded", "failed")

Key = tuple[DimensionValue, ...]

_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class SlowAttempt:
    """One of the slowest attempts of a group."""

    quantum_id: str
    task: str
    data_id: str
    """Canonical JSON."""
    number: int
    status: str
    duration_s: float
    peak_rss_mb: float | None
    execution_id: str


@dataclass(frozen=True)
class GroupStats:
    """The statistics of one group of attempts."""

    key: Key
    """The group's values, one per name of `RuntimeStats.by`."""
    attempts: int
    duration_p50: float
    duration_p90: float
    duration_max: float
    memory_p50: float | None
    """Megabytes; None when no attempt of the group recorded its peak memory."""
    memory_p90: float | None
    memory_max: float | None
    wall_s: float
    """Wall seconds summed over the attempts."""
    cpu_s: float
    """CPU seconds summed: ``cpu_time_s`` where an attempt recorded it, else its wall time."""
    cpu_recorded: int
    """How many attempts recorded ``cpu_time_s`` (imported Rubin attempts do; ours do not)."""
    slowest: tuple[SlowAttempt, ...] = ()


@dataclass(frozen=True)
class RuntimeStats:
    """Runtime statistics of a plan's attempts, per group."""

    plan_id: str
    execution_id: str | None
    """The one execution counted, or None for every execution of the plan."""
    by: tuple[str, ...]
    """What groups are made of: ``task`` and/or data-ID dimension names."""
    statuses: tuple[str, ...]
    """The attempt statuses counted."""
    groups: list[GroupStats]
    ungrouped: int = 0
    """Attempts whose quantum has no value for some dimension of `by` (counted in no group)."""


@dataclass(frozen=True)
class GroupComparison:
    """One group in two answers: this one and the other (the reference)."""

    key: Key
    this: GroupStats | None
    other: GroupStats | None
    duration_ratio: float | None
    """This p50 duration over the other's (None when either side has no attempts or a 0 p50)."""
    memory_ratio: float | None
    regressed: tuple[str, ...] = field(default=())
    """What regressed: ``duration`` and/or ``memory``."""


def stats_parameters(
    plan_id: str,
    *,
    by: Sequence[str] = ("task",),
    execution_id: str | None = None,
    top: int = 5,
    include_failed: bool = False,
) -> dict[str, Any]:
    """The parameters of the stats queries (``--cypher`` prints them)."""
    return {
        "plan_id": plan_id,
        "by": list(by),
        "execution_id": execution_id,
        "statuses": list(ENDED if include_failed else SUCCEEDED),
        "top": top,
    }


def _check_by(by: Sequence[str]) -> tuple[str, ...]:
    if not by:
        raise QuestionError("--by needs a name", hint="give --by task, or a dimension such as --by visit")
    for name in by:
        if not _NAME.fullmatch(name):
            raise QuestionError(
                f"--by {name!r} is not a dimension name",
                hint="give --by task, or a dimension such as --by visit or --by detector",
            )
    if len(set(by)) != len(by):
        raise QuestionError(f"--by names a group twice: {', '.join(by)}", hint="give each --by once")
    return tuple(by)


def resolve_source(store: GraphStore, text: str) -> tuple[str, str | None]:
    """``(plan id, execution id or None)`` for a text naming a complete plan or an execution."""
    rows = store.read("plan_header", plan_id=text)
    if rows and rows[0]["plan"].get("status") == "complete":
        return text, None
    found = store.read("stats_execution", execution_id=text)
    if found:
        return str(found[0]["plan_id"]), text
    close = close_plan_ids(store, text)
    raise NotInGraphError(
        f"no plan or execution {text!r} is stored",
        hint=("did you mean " + " or ".join(repr(c) for c in close) + "?")
        if close
        else "give a plan id ('provgraph plans list') or an execution id ('provgraph plans executions "
        "PLAN' lists a plan's)",
    )


def executions(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    """The plan's executions, oldest first: ``id``, ``status``, ``activator``, ``started``, ``ended``."""
    return [
        {key: row[key] for key in ("id", "status", "activator", "started", "ended")}
        for row in store.read("plan_executions", plan_id=plan_id)
    ]


@dataclass(frozen=True)
class ExecutionSummary:
    """One execution of a plan, as `plan_executions` lists it."""

    id: str
    status: str
    activator: str | None
    host: str | None
    user: str | None
    started: str | None
    ended: str | None
    message: str | None
    attempts: dict[str, int]
    """Its attempts per status (``succeeded``, ``failed``, ``skipped``, ``lost``...)."""


def plan_executions(store: GraphStore, plan_id: str) -> list[ExecutionSummary]:
    """The executions of a complete plan, oldest first, each with its attempts per status.

    Raises the `NotInGraphError` of `check_plan` for a plan not stored whole.
    """
    check_plan(store, plan_id)
    counts: dict[str, dict[str, int]] = {}
    for row in store.read("plan_execution_attempts", plan_id=plan_id):
        counts.setdefault(row["execution_id"], {})[row["status"]] = int(row["attempts"])
    return [
        ExecutionSummary(**row, attempts=dict(sorted(counts.get(row["id"], {}).items())))
        for row in store.read("plan_executions", plan_id=plan_id)
    ]


def _check_execution(store: GraphStore, plan_id: str, execution_id: str) -> None:
    found = store.read("stats_execution", execution_id=execution_id)
    if not found:
        known = [str(e["id"]) for e in executions(store, plan_id)]
        close = [k for k in known if k.startswith(execution_id[:6])] or known[-3:]
        raise NotInGraphError(
            f"no execution {execution_id!r} is stored",
            hint=f"executions of plan {plan_id!r}: {', '.join(close)}"
            if close
            else f"plan {plan_id!r} has not run: 'provgraph run --plan {plan_id}'",
        )
    if found[0]["plan_id"] != plan_id:
        raise QuestionError(
            f"execution {execution_id!r} ran plan {found[0]['plan_id']!r}, not {plan_id!r}",
            hint=f"ask 'provgraph stats {found[0]['plan_id']} --execution {execution_id}'",
        )


def runtime_stats(
    store: GraphStore,
    plan_id: str,
    *,
    by: Sequence[str] = ("task",),
    execution_id: str | None = None,
    top: int = 5,
    include_failed: bool = False,
) -> RuntimeStats:
    """Per group of ``by``, the statistics of the plan's attempts (of one execution, if given).

    The attempts counted are the succeeded ones, and the failed ones too with
    ``include_failed``; an attempt whose quantum lacks a dimension of ``by`` is counted in
    `RuntimeStats.ungrouped` only. A ``by`` that no attempt has a value for is an error.
    """
    names = _check_by(by)
    check_plan(store, plan_id)
    if execution_id is not None:
        _check_execution(store, plan_id, execution_id)
    params = stats_parameters(plan_id, by=names, execution_id=execution_id, top=top,
                              include_failed=include_failed)  # fmt: skip

    def work(read: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        slow = read("stats_slowest", **params) if top > 0 else []
        return read("stats_groups", **params), slow

    rows, slow_rows = store.read_many("stats_groups", work)
    slowest = {
        tuple(r["key"]): tuple(
            SlowAttempt(
                str(s["quantum_id"]),
                str(s["task"]),
                str(s["data_id"]),
                int(s["number"]),
                str(s["status"]),
                float(s["duration_s"]),
                _float(s["peak_rss_mb"]),
                str(s["execution_id"]),
            )
            for s in r["slowest"]
        )
        for r in slow_rows
    }
    groups, ungrouped = [], 0
    for r in rows:
        key = tuple(r["key"])
        if any(v is None for v in key):
            ungrouped += int(r["attempts"])
            continue
        groups.append(
            GroupStats(
                key,
                int(r["attempts"]),
                float(r["duration_p50"]),
                float(r["duration_p90"]),
                float(r["duration_max"]),
                _float(r["memory_p50"]),
                _float(r["memory_p90"]),
                _float(r["memory_max"]),
                float(r["wall_s"]),
                float(r["cpu_s"]),
                int(r["cpu_recorded"]),
                slowest.get(key, ()),
            )
        )
    if ungrouped and not groups:
        missing = [n for n in names if n != "task"]
        hint = suggest(missing[0], sorted(DEFAULT_UNIVERSE.dimensions)) if len(missing) == 1 else ""
        raise QuestionError(
            f"no quantum of plan {plan_id!r} with attempts has a value for {', '.join(missing)}",
            hint=hint or "group by task, or by a dimension of its tasks' quanta (e.g. --by visit)",
        )
    return RuntimeStats(plan_id, execution_id, names, tuple(params["statuses"]), groups, ungrouped)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _ratio(this: float | None, other: float | None) -> float | None:
    if this is None or other is None or other <= 0:
        return None
    return this / other


def _grew(this: float | None, other: float | None, threshold: float, floor: float) -> bool:
    """Whether ``this`` is at least ``threshold`` times ``other`` and at least ``floor`` more."""
    ratio = _ratio(this, other)
    return (
        ratio is not None
        and this is not None
        and other is not None
        and (ratio >= threshold and this - other >= floor)
    )


def compare_stats(
    this: RuntimeStats,
    other: RuntimeStats,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_seconds: float = DEFAULT_MIN_SECONDS,
    min_mb: float = DEFAULT_MIN_MB,
) -> list[GroupComparison]:
    """Each group of either answer, with the ratios of this p50 to the other's, and what regressed.

    A group's duration regressed when its p50 is at least ``threshold`` times the other's
    and at least ``min_seconds`` longer; its memory, likewise with the p50 of peak memory and
    ``min_mb``. Groups in one answer only are listed, without ratios.
    """
    mine = {g.key: g for g in this.groups}
    theirs = {g.key: g for g in other.groups}
    found = []
    for key in sorted(mine.keys() | theirs.keys(), key=lambda k: tuple(str(v) for v in k)):
        a, b = mine.get(key), theirs.get(key)
        duration = _ratio(a.duration_p50, b.duration_p50) if a and b else None
        memory = _ratio(a.memory_p50, b.memory_p50) if a and b else None
        regressed = []
        if a and b and _grew(a.duration_p50, b.duration_p50, threshold, min_seconds):
            regressed.append("duration")
        if a and b and _grew(a.memory_p50, b.memory_p50, threshold, min_mb):
            regressed.append("memory")
        found.append(GroupComparison(key, a, b, duration, memory, tuple(regressed)))
    return found


def stats_values(
    store: GraphStore,
    plan_id: str,
    *,
    by: Sequence[str] = ("task",),
    execution_id: str | None = None,
    include_failed: bool = False,
) -> dict[Key, tuple[list[float], list[float]]]:
    """Per group, every counted attempt's duration (s) and peak memory (MB): what a plot draws."""
    params = stats_parameters(plan_id, by=_check_by(by), execution_id=execution_id,
                              include_failed=include_failed)  # fmt: skip
    found: dict[Key, tuple[list[float], list[float]]] = {}
    for r in store.read("stats_values", **params):
        key = tuple(r["key"])
        if any(v is None for v in key):
            continue
        found[key] = ([float(x) for x in r["durations"]], [float(x) for x in r["memory"]])
    return found


# --- footprint ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeEstimate:
    """The bytes a plan's datasets of one type are expected to take."""

    dataset_type: str
    datasets: int
    """How many the plan produces."""
    samples: int
    """Sizes recorded for this type by other plans' runs: what the estimate rests on."""
    mean_bytes: float | None
    """Their mean (None without samples)."""
    min_bytes: int | None
    max_bytes: int | None
    recorded: int
    """How many of the plan's own datasets of this type have a recorded size (it ran)."""
    recorded_bytes: int

    @property
    def predicted_bytes(self) -> float | None:
        """``datasets`` times the mean size; None without samples."""
        return None if self.mean_bytes is None else self.datasets * self.mean_bytes


@dataclass(frozen=True)
class TaskFootprint:
    """One task's outputs."""

    task: str
    outputs: tuple[TypeEstimate, ...]

    @property
    def datasets(self) -> int:
        """How many datasets the task produces."""
        return sum(o.datasets for o in self.outputs)

    @property
    def predicted_bytes(self) -> float:
        """Bytes predicted for the output types that have samples."""
        return sum(o.predicted_bytes or 0.0 for o in self.outputs)

    @property
    def samples(self) -> int:
        """The fewest samples any of its output types rests on."""
        return min((o.samples for o in self.outputs), default=0)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Its output types with no sample: not in `predicted_bytes`."""
        return tuple(o.dataset_type for o in self.outputs if o.samples == 0)


@dataclass(frozen=True)
class Footprint:
    """A plan's predicted output bytes, per task and in total, and the peak scratch of a clustering."""

    plan_id: str
    tasks: list[TaskFootprint]
    clustering: str | None = None
    scratch: ScratchPeak | None = None
    """The peak scratch of `clustering`'s job DAG (`provenance_graph.clustering.scratch_peak`)."""
    job_bytes: dict[str, float] = field(default_factory=dict)
    """Bytes predicted per batch job of `clustering`."""

    @property
    def predicted_bytes(self) -> float:
        """Bytes predicted for the plan's outputs whose types have samples."""
        return sum(t.predicted_bytes for t in self.tasks)

    @property
    def recorded_bytes(self) -> int:
        """Bytes the plan's own outputs recorded (it ran)."""
        return sum(o.recorded_bytes for t in self.tasks for o in t.outputs)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Output types with no sample, over every task."""
        return tuple(u for t in self.tasks for u in t.unknown)


def footprint_parameters(
    plan_id: str, dataset_types: Sequence[str], clustering: str | None
) -> dict[str, Any]:
    """The parameters of the footprint queries (``--cypher`` prints them)."""
    params: dict[str, Any] = {"plan_id": plan_id, "dataset_types": list(dataset_types)}
    if clustering is not None:
        params["clustering_id"] = clustering_id(plan_id, clustering)
    return params


def footprint(store: GraphStore, plan_id: str, *, clustering: str | None = None) -> Footprint:
    """The output bytes a plan is expected to write, per task, from other plans' recorded sizes.

    Each output dataset type is estimated at the mean size recorded for datasets of that
    type produced by any other plan (its samples); with ``clustering``, the peak scratch space
    of that clustering's job DAG under the model of `provenance_graph.clustering.scratch_peak`.
    """
    check_plan(store, plan_id)
    if clustering is not None:
        read_job_graph(store, plan_id, clustering)  # a complete, current clustering, else its error
    rows = store.read("footprint_outputs", plan_id=plan_id)
    types = sorted({str(r["dataset_type"]) for r in rows})
    params = footprint_parameters(plan_id, types, clustering)
    samples = {str(r["dataset_type"]): r for r in store.read("footprint_samples", **params)}
    per_task: dict[str, list[TypeEstimate]] = {}
    means: dict[str, float] = {}
    for r in rows:
        s = samples.get(str(r["dataset_type"]))
        n = int(s["samples"]) if s else 0
        estimate = TypeEstimate(
            str(r["dataset_type"]), int(r["datasets"]), n,
            float(s["mean"]) if s and n else None, int(s["min"]) if s and n else None,
            int(s["max"]) if s and n else None, int(r["recorded"]), int(r["recorded_bytes"]),
        )  # fmt: skip
        if estimate.mean_bytes is not None:
            means[estimate.dataset_type] = estimate.mean_bytes
        per_task.setdefault(str(r["task"]), []).append(estimate)
    tasks = [TaskFootprint(task, tuple(outputs)) for task, outputs in per_task.items()]
    if clustering is None:
        return Footprint(plan_id, tasks)
    jobs = store.read("footprint_jobs", clustering_id=params["clustering_id"])
    job_bytes = {
        str(j["job"]): sum(int(o["datasets"]) * means.get(str(o["dataset_type"]), 0.0) for o in j["outputs"])
        for j in jobs
    }
    children = {str(j["job"]): [str(c) for c in j["children"]] for j in jobs}
    return Footprint(plan_id, tasks, clustering, scratch_peak(job_bytes, children), job_bytes)
