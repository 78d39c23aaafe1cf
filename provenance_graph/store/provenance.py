"""Provenance questions, answered by Cypher traversals of the stored plans.

- `upstream`: what a dataset (or a quantum) was made from, with a depth limit and
  stop rules ("don't walk past these task labels or dataset types");
- `downstream`: what must be recomputed if a dataset or a quantum changes;
- `parents` / `children`: a quantum's dependencies, derived through datasets;

Questions about whole plans (overview, subgraphs, diffs, planned against actual) are
`store.plan_questions`.

Each function runs named queries of ``cypher/provenance.cypher`` and returns
plain, typed results; `QUERIES` names the queries each function runs (here and in
`store.plan_questions`), so the
command line can show them (``--cypher``). No export format is known here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from provenance_graph.errors import QuestionError
from provenance_graph.store._missing import quantum_not_found
from provenance_graph.store.connection import GraphStore, Reader

__all__ = [
    "QUERIES",
    "DatasetNode",
    "Lineage",
    "LineageSummary",
    "QuantumNode",
    "children",
    "dataset_by_butler_id",
    "dependencies",
    "downstream",
    "lineage_parameters",
    "lineage_summary",
    "parents",
    "start_ids",
    "upstream",
]

#: "No limit" for depths: more levels than any plan has.
UNLIMITED = 1_000_000

#: The named queries behind each question.
QUERIES: dict[str, tuple[str, ...]] = {
    "upstream": ("lineage_upstream",),
    "downstream": ("lineage_downstream",),
    "upstream_summary": ("lineage_upstream_summary",),
    "downstream_summary": ("lineage_downstream_summary",),
    "parents": ("quantum_parents",),
    "children": ("quantum_children",),
    "deps": ("quantum_deps",),
    "overview": ("status_counts_tasks", "plan_overview_inputs", "plan_overview_outputs"),
    "subgraph": ("plan_quanta",),  # then datasets_in_chunks on the ids it lists
    "diff": ("plan_diff_task",),  # once per task of either plan
    "missing": ("plan_missing_outputs",),
    "history": ("data_id_history",),
    "why": ("plan_task_counts", "plan_notes", "plan_task_examples", "plan_quanta_at"),
    "stale": ("stale_outputs_made", "stale_inputs_read", "stale_execution_versions"),
}


@dataclass(frozen=True)
class DatasetNode:
    """A dataset reached by a traversal."""

    id: str
    dataset_type: str
    data_id: str
    """Canonical JSON."""
    run: str
    level: int
    """Quanta between it and the start (0: a start dataset)."""
    exists: bool | None
    """True once produced (or found existing) by a run; None when not known."""
    producer: str | None = None
    """Upstream only: the id of the quantum reached that produces it (None: made outside the
    walk, i.e. pre-existing, of a stop type, or beyond the depth limit)."""
    butler_id: str | None = None
    """Its Butler UUID, for a dataset of a plan imported from a QuantumGraph."""


@dataclass(frozen=True)
class QuantumNode:
    """A quantum reached by a traversal, or a quantum's neighbour."""

    id: str
    task: str
    data_id: str
    plan_id: str
    status: str
    level: int = 0
    """Its level: that of the dataset through which it was reached, plus one."""
    butler_id: str | None = None
    """Its Butler UUID, for a quantum of a plan imported from a QuantumGraph."""


@dataclass
class Lineage:
    """The result of `upstream` or `downstream`: datasets and quanta reached, with levels."""

    direction: Literal["upstream", "downstream"]
    start: tuple[str, ...]
    """The start datasets' ids."""
    datasets: dict[str, DatasetNode] = field(default_factory=dict)
    quanta: dict[str, QuantumNode] = field(default_factory=dict)

    def tasks(self) -> dict[str, dict[str, int]]:
        """``{task: {status: quanta}}`` of the quanta reached."""
        out: dict[str, dict[str, int]] = {}
        for q in self.quanta.values():
            counts = out.setdefault(q.task, {})
            counts[q.status] = counts.get(q.status, 0) + 1
        return out

    def dataset_types(self, *, inputs_only: bool = False) -> dict[str, int]:
        """Datasets reached per type; ``inputs_only`` (upstream): only those no reached quantum made."""
        out: dict[str, int] = {}
        for d in self.datasets.values():
            if not (inputs_only and d.producer is not None):
                out[d.dataset_type] = out.get(d.dataset_type, 0) + 1
        return dict(sorted(out.items()))


def lineage_parameters(
    dataset_ids: Sequence[str],
    depth: int | None,
    stop_tasks: Iterable[str],
    stop_types: Iterable[str],
) -> dict[str, Any]:
    """The parameters of ``lineage_upstream`` / ``lineage_downstream``."""
    if depth is not None and depth < 0:
        raise QuestionError(f"depth must be 0 or more, not {depth}", hint="leave it out for no limit")
    levels = UNLIMITED if depth is None else depth
    return {
        "dataset_ids": list(dataset_ids),
        "max_levels": levels,
        "max_hops": 2 * levels,
        "stop_tasks": sorted(stop_tasks),
        "stop_types": sorted(stop_types),
    }


def start_ids(
    store: GraphStore,
    direction: Literal["upstream", "downstream"],
    dataset_id: str | None = None,
    quantum_id: str | None = None,
) -> list[str]:
    """The start datasets of a walk: the dataset, or a quantum's inputs (upstream) or outputs."""
    if (dataset_id is None) == (quantum_id is None):
        raise QuestionError("give a dataset id or a quantum id, not both or neither")
    if dataset_id is not None:
        return [dataset_id]
    side = "inputs" if direction == "upstream" else "outputs"
    return list(_quantum_io(store, str(quantum_id))[side])


def _quantum_io(store: GraphStore, quantum_id: str) -> dict[str, Any]:
    rows = store.read("quantum_io", quantum_id=quantum_id)
    if not rows:
        raise quantum_not_found(store, quantum_id)
    return rows[0]


def _lineage(
    store: GraphStore,
    direction: Literal["upstream", "downstream"],
    start: list[str],
    params: Mapping[str, Any],
) -> Lineage:
    """Run the walk: in one query when the depth is unlimited, else level by level."""
    if params["max_levels"] == UNLIMITED:
        rows = store.read(f"lineage_{direction}", **params)
    else:
        rows = store.read_many("lineage_start", lambda read: _walk_levels(read, direction, params))
    result = Lineage(direction, tuple(start))
    for row in rows:
        dataset_type = row["dataset_type"]
        for d_id, data_id, run, exists, level, producer in row["datasets"]:
            result.datasets[d_id] = DatasetNode(d_id, dataset_type, data_id, run, level, exists, producer)
        for q_id, task, q_data_id, plan_id, status, level in row["quanta"]:
            known = result.quanta.get(q_id)
            if known is None or known.level > level:
                result.quanta[q_id] = QuantumNode(q_id, task, q_data_id, plan_id, status, level)
    _add_butler_ids(store, result)
    return result


def _add_butler_ids(store: GraphStore, result: Lineage) -> None:
    """Give the datasets and quanta of plans imported from a QuantumGraph their Butler UUIDs."""
    rows = store.read("butler_ids", dataset_ids=list(result.datasets), quantum_ids=list(result.quanta))
    for d_id, butler_id in rows[0]["datasets"] if rows else ():
        result.datasets[d_id] = replace(result.datasets[d_id], butler_id=butler_id)
    for q_id, butler_id in rows[0]["quanta"] if rows else ():
        result.quanta[q_id] = replace(result.quanta[q_id], butler_id=butler_id)


def dataset_by_butler_id(store: GraphStore, butler_id: str) -> str | None:
    """Our id of the dataset a Butler UUID names, or None if no stored dataset has it."""
    rows = store.read("dataset_by_butler_id", butler_id=butler_id)
    return str(rows[0]["id"]) if rows else None


def _walk_levels(read: Reader, direction: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A depth-limited walk, one ``lineage_*_level`` query per level; rows shaped as the walk's.

    Each level asks only for the neighbours of the datasets first reached at the
    level before, so the work is bounded by what is returned (the one-query walk
    cannot be bounded: Cypher 5 quantifiers take literals only).
    """
    stop_types = set(params["stop_types"])
    datasets: dict[str, list[Any]] = {}  # id -> [type, data_id, run, exists, level, producer]
    quanta: dict[str, list[Any]] = {}  # id -> [task, data_id, plan_id, status, level]
    for row in read("lineage_start", dataset_ids=params["dataset_ids"]):
        for d_id, data_id, run, exists, level, producer in row["datasets"]:
            datasets[d_id] = [row["dataset_type"], data_id, run, exists, level, producer]
    frontier = [d for d, v in datasets.items() if v[0] not in stop_types]
    for level in range(params["max_levels"]):
        if not frontier:
            break
        reached: list[str] = []
        for q in read(
            f"lineage_{direction}_level",
            frontier=frontier,
            stop_tasks=params["stop_tasks"],
        ):
            if direction == "upstream":
                for d_id in q["via"]:
                    datasets[d_id][5] = q["id"]
            if q["id"] in quanta:
                continue
            quanta[q["id"]] = [q["task"], q["data_id"], q["plan_id"], q["status"], level + 1]
            for d_id, dataset_type, data_id, run, exists in q["next"]:
                if d_id not in datasets:
                    datasets[d_id] = [dataset_type, data_id, run, exists, level + 1, None]
                    if dataset_type not in stop_types:
                        reached.append(d_id)
        frontier = reached
    return _as_walk_rows(datasets, quanta)


def _as_walk_rows(datasets: dict[str, list[Any]], quanta: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """What `_walk_levels` found, in the row shape of ``lineage_upstream`` / ``lineage_downstream``."""
    by_type: dict[str, dict[str, list[Any]]] = {}
    for d_id, (dataset_type, data_id, run, exists, level, producer) in datasets.items():
        group = by_type.setdefault(dataset_type, {"datasets": [], "quanta": []})
        group["datasets"].append([d_id, data_id, run, exists, level, producer])
    rows = [{"dataset_type": t, **g} for t, g in sorted(by_type.items())]
    if rows:
        rows[0]["quanta"] = [[q_id, *fields] for q_id, fields in quanta.items()]
    return rows


def upstream(
    store: GraphStore,
    dataset_id: str | None = None,
    *,
    quantum_id: str | None = None,
    depth: int | None = None,
    stop_tasks: Iterable[str] = (),
    stop_types: Iterable[str] = (),
) -> Lineage:
    """What a dataset (or a quantum's inputs) was made from.

    Parameters
    ----------
    dataset_id, quantum_id
        Where to start: one dataset, or the inputs of one quantum.
    depth
        At most this many quanta up (None: all the way).
    stop_tasks, stop_types
        Do not walk past quanta of these task labels or datasets of these types:
        they are reported, what lies beyond them is not.
    """
    start = start_ids(store, "upstream", dataset_id, quantum_id)
    params = lineage_parameters(start, depth, stop_tasks, stop_types)
    return _lineage(store, "upstream", start, params)


def downstream(
    store: GraphStore,
    dataset_id: str | None = None,
    *,
    quantum_id: str | None = None,
    depth: int | None = None,
    stop_tasks: Iterable[str] = (),
    stop_types: Iterable[str] = (),
) -> Lineage:
    """Everything that must be recomputed if a dataset (or a quantum's outputs) changes.

    For a quantum, its outputs are the start datasets (level 0); the quantum
    itself is not listed. Parameters as for `upstream`.
    """
    start = start_ids(store, "downstream", dataset_id, quantum_id)
    params = lineage_parameters(start, depth, stop_tasks, stop_types)
    return _lineage(store, "downstream", start, params)


@dataclass(frozen=True)
class LineageSummary:
    """A lineage in counts: what `Lineage.tasks` and `Lineage.dataset_types` give, without the members."""

    direction: Literal["upstream", "downstream"]
    start: tuple[str, ...]
    tasks: dict[str, dict[str, int]]
    """``{task: {status: quanta}}``."""
    dataset_types: dict[str, tuple[int, int]]
    """``{dataset type: (datasets, nearest level)}``."""

    @property
    def quanta(self) -> int:
        """How many quanta were reached."""
        return sum(n for counts in self.tasks.values() for n in counts.values())

    @property
    def datasets(self) -> int:
        """How many datasets were reached (the start datasets included)."""
        return sum(n for n, _level in self.dataset_types.values())


def lineage_summary(
    store: GraphStore,
    direction: Literal["upstream", "downstream"],
    dataset_id: str | None = None,
    *,
    quantum_id: str | None = None,
    depth: int | None = None,
    stop_tasks: Iterable[str] = (),
    stop_types: Iterable[str] = (),
) -> LineageSummary:
    """`upstream` or `downstream` in counts per task and status and per dataset type.

    Without a depth limit the counting is done in the server (``lineage_*_summary``),
    so a lineage of tens of thousands of quanta costs the walk, not its transfer.
    With one, the bounded level-by-level walk is counted here.
    """
    start = start_ids(store, direction, dataset_id, quantum_id)
    params = lineage_parameters(start, depth, stop_tasks, stop_types)
    tasks: dict[str, dict[str, int]] = {}
    types: dict[str, tuple[int, int]] = {}
    if params["max_levels"] != UNLIMITED:
        walk = _lineage(store, direction, start, params)
        for d in walk.datasets.values():
            n, nearest = types.get(d.dataset_type, (0, d.level))
            types[d.dataset_type] = (n + 1, min(nearest, d.level))
        tasks = walk.tasks()
    else:
        for r in store.read(f"lineage_{direction}_summary", **params):
            if r["kind"] == "dataset":
                types[r["name"]] = (r["n"], r["nearest"])
            else:
                tasks.setdefault(r["name"], {})[r["status"]] = r["n"]
    return LineageSummary(direction, tuple(start), dict(sorted(tasks.items())), dict(sorted(types.items())))


def _neighbours(store: GraphStore, query: str, quantum_id: str) -> list[QuantumNode]:
    rows = store.read(query, quantum_id=quantum_id)  # one round trip: no rows means no quantum
    if not rows:
        _quantum_io(store, quantum_id)  # raises NotInGraphError, naming it
    return [
        QuantumNode(r["id"], r["task"], r["data_id"], r["plan_id"], r["status"])
        for r in rows
        if r["id"] is not None
    ]


def dependencies(store: GraphStore, quantum_id: str) -> tuple[list[QuantumNode], list[QuantumNode]]:
    """A quantum's parents and children, in one query (one round trip)."""
    rows = store.read("quantum_deps", quantum_id=quantum_id)
    if not rows:
        _quantum_io(store, quantum_id)  # raises NotInGraphError, naming it
    found = rows[0]
    return (
        [QuantumNode(*q) for q in found["parents"]],
        [QuantumNode(*q) for q in found["children"]],
    )


def parents(store: GraphStore, quantum_id: str) -> list[QuantumNode]:
    """The quanta a quantum depends on (the producers of its inputs)."""
    return _neighbours(store, "quantum_parents", quantum_id)


def children(store: GraphStore, quantum_id: str) -> list[QuantumNode]:
    """The quanta that depend on a quantum (the consumers of its outputs)."""
    return _neighbours(store, "quantum_children", quantum_id)
