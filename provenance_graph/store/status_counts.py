"""A plan's quanta counted by status, written as they change instead of counted per question.

Schema v14 keeps, for each complete plan, one ``:TaskSummary`` per task (the dataset types its
quanta read and write, an example data ID, and its quanta per status) and one ``:StatusCell``
per task, dimension and value (its quanta there per status). They make the explorer's
dashboard, heat map and ``provgraph status`` answer from a few thousand nodes at a million
quanta, instead of reading every quantum.

- `summaries_of`: the nodes of a plan about to be written, every quantum pending, which
  ``plan_complete`` creates with the plan;
- `write_counted`: runs a named query that changes quanta's statuses and moves the counts by
  what it returns (``changed``), in the same transaction: the counts never disagree with the
  quanta, whatever crashes;
- `task_summaries`, `task_counts` and `status_cells`: what is counted;
- `recount`: what the quanta say, for checking (`differences`).

The named queries are in ``cypher/status_counts.cypher``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from provenance_graph.errors import DatabaseError
from provenance_graph.model import DataId, DimensionValue, PlanGraph, Quantum, QuantumStatus
from provenance_graph.store._missing import check_plan
from provenance_graph.store.connection import GraphStore, Reader
from provenance_graph.store.signatures import TaskSignatures, quantum_signature

__all__ = [
    "STATUSES",
    "SummaryCounter",
    "TaskSummary",
    "differences",
    "recount",
    "status_cells",
    "summaries_of",
    "task_counts",
    "task_summaries",
    "write_counted",
]

T = TypeVar("T")

STATUSES: tuple[str, ...] = tuple(s.value for s in QuantumStatus)
"""The statuses counted, each a property of the summaries and cells."""

Cells = dict[str, dict[DimensionValue, dict[str, int]]]
"""``{task: {value: {status: quanta}}}`` of one dimension; statuses without quanta left out."""


@dataclass(frozen=True)
class TaskSummary:
    """One task of a plan, as its ``:TaskSummary`` node holds it."""

    task: str
    reads: list[str]
    """The dataset types its quanta read, sorted."""
    writes: list[str]
    """The dataset types its quanta write, sorted."""
    example: DataId
    """One of its quanta's data IDs (the smallest canonical key)."""
    quanta: int
    counts: dict[str, int]
    """``{status: quanta}``; statuses without quanta left out."""


def _nonzero(counts: Mapping[str, Any]) -> dict[str, int]:
    return {s: int(counts[s]) for s in STATUSES if counts.get(s)}


def summaries_of(plan_id: str, graph: PlanGraph) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The properties of the ``:TaskSummary`` and ``:StatusCell`` nodes of ``graph``, all pending."""
    counter = SummaryCounter()
    counter.add(graph.quanta.values())
    return counter.rows(plan_id)


class SummaryCounter:
    """Adds up the ``:TaskSummary`` and ``:StatusCell`` rows of a plan written in parts.

    `add` the quanta of each part (each quantum once), then take `rows`. Each quantum's
    signature (`quantum_signature`) waits in `signatures` until its row is written, which
    takes it (`pop`).
    """

    def __init__(self) -> None:
        self.quanta: Counter[str] = Counter()
        self._reads: dict[str, set[str]] = {}
        self._writes: dict[str, set[str]] = {}
        self._examples: dict[str, str] = {}
        self._cells: Counter[tuple[str, str, DimensionValue]] = Counter()
        self._signed = TaskSignatures()
        self.signatures: dict[str, str] = {}
        """``{quantum id: signature}`` of the quanta added and not yet written."""

    def add(self, quanta: Iterable[Quantum]) -> None:
        """Count these quanta, all pending."""
        for q in quanta:
            task, key = q.task_label, q.data_id.key()
            self.quanta[task] += 1
            self._reads.setdefault(task, set()).update(r.dataset_type.name for r in q.inputs)
            self._writes.setdefault(task, set()).update(r.dataset_type.name for r in q.outputs)
            if task not in self._examples or key < self._examples[task]:
                self._examples[task] = key
            signature = self.signatures[q.id] = quantum_signature(q)
            self._signed.add(task, key, signature)
            for dimension, value in q.data_id.root:
                self._cells[(task, dimension, value)] += 1

    def rows(self, plan_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The ``$tasks`` and ``$cells`` of ``plan_complete``."""
        none = dict.fromkeys(STATUSES, 0)
        tasks = [
            {
                "plan_id": plan_id,
                "task": task,
                "reads": sorted(self._reads[task]),
                "writes": sorted(self._writes[task]),
                "example": self._examples[task],
                "signature": self._signed.of(task),
                "quanta": n,
                **none,
                "pending": n,
            }
            for task, n in sorted(self.quanta.items())
        ]
        cells = [
            {"plan_id": plan_id, "task": t, "dimension": d, "value": v, **none, "pending": n}
            for (t, d, v), n in self._cells.items()
        ]
        return tasks, cells


def _moves(changes: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``$tasks`` and ``$cells`` rows of ``status_counts_apply`` for these status changes."""
    tasks: dict[tuple[str, str], Counter[str]] = {}
    cells: dict[tuple[str, str, str, DimensionValue], Counter[str]] = {}
    for c in changes:
        was, now = c["was"] or QuantumStatus.PENDING.value, c["now"]
        if was == now:
            continue
        plan_id, task = c["plan_id"], c["task"]
        moved = tasks.setdefault((plan_id, task), Counter())
        moved[was] -= 1
        moved[now] += 1
        for dimension, value in json.loads(c["data_id"]).items():
            cell = cells.setdefault((plan_id, task, dimension, value), Counter())
            cell[was] -= 1
            cell[now] += 1

    def row(names: dict[str, Any], moved: Counter[str]) -> dict[str, Any]:
        return {**names, **{s: moved[s] for s in STATUSES}}

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:  # ints and strings never compared
        return tuple((isinstance(k, str), k) for k in key)

    return (
        [row({"plan_id": p, "task": t}, m) for (p, t), m in sorted(tasks.items(), key=lambda i: order(i[0]))],
        [
            row({"plan_id": p, "task": t, "dimension": d, "value": v}, m)
            for (p, t, d, v), m in sorted(cells.items(), key=lambda i: order(i[0]))
        ],
    )


@overload
def write_counted(
    store: GraphStore, name: str, check: None = None, **params: Any
) -> list[dict[str, Any]]: ...


@overload
def write_counted(
    store: GraphStore, name: str, check: Callable[[list[dict[str, Any]]], T], **params: Any
) -> T: ...


def write_counted(
    store: GraphStore,
    name: str,
    check: Callable[[list[dict[str, Any]]], T] | None = None,
    **params: Any,
) -> Any:
    """Run named query ``name``, which changes quanta's statuses, and move the counts by what it changed.

    The query returns a ``changed`` column on each row: a list of ``{plan_id, task, data_id,
    was, now}``. Both happen in one transaction; ``check(rows)``, when given, runs inside it
    (its error rolls both back) and its value is returned, else the rows.
    """

    def work(run: Reader) -> Any:
        rows = run(name, **params)
        tasks, cells = _moves(c for r in rows for c in r.get("changed") or ())
        if tasks:
            [moved] = run("status_counts_apply", tasks=tasks, cells=cells)
            if (moved["tasks"], moved["cells"]) != (len(tasks), len(cells)):
                raise DatabaseError(
                    f"{name}: found {moved['tasks']} of {len(tasks)} task summaries and "
                    f"{moved['cells']} of {len(cells)} status cells to count a status change in",
                    hint="run `provgraph migrate`; if it says the database is current, report this",
                )
        return check(rows) if check is not None else rows

    return store.write_many(name, work)


def task_summaries(store: GraphStore, plan_id: str) -> list[TaskSummary]:
    """The task summaries of a complete plan, by task label; `PlanNotFoundError` for another id."""
    check_plan(store, plan_id)
    return _summaries(store, plan_id)


def task_counts(store: GraphStore, plan_id: str) -> dict[str, dict[str, int]]:
    """``{task: {status: quanta}}`` of a complete plan, by task label; none for another id."""
    return {s.task: s.counts for s in _summaries(store, plan_id)}


def _summaries(store: GraphStore, plan_id: str) -> list[TaskSummary]:
    return [
        TaskSummary(
            r["task"],
            list(r["reads"]),
            list(r["writes"]),
            DataId.from_key(r["example"]),
            int(r["quanta"]),
            _nonzero(r["counts"]),
        )
        for r in store.read("status_counts_tasks", plan_id=plan_id)
    ]


def status_cells(store: GraphStore, plan_id: str, dimension: str) -> Cells:
    """``{task: {value: {status: quanta}}}`` of a complete plan on one dimension (tasks without it absent)."""
    cells: Cells = {}
    for r in store.read("status_counts_cells", plan_id=plan_id, dimension=dimension):
        counts = _nonzero(r["counts"])
        if counts:
            cells.setdefault(r["task"], {})[r["value"]] = counts
    return cells


def recount(store: GraphStore, plan_id: str) -> tuple[dict[str, dict[str, int]], dict[str, Cells]]:
    """What the quanta of a plan say, read from every one: ``({task: {status: n}}, {dimension: cells})``."""
    tasks: dict[str, dict[str, int]] = {}
    by_dimension: dict[str, Cells] = {}
    for r in store.read("status_counts_recount", plan_id=plan_id):
        if r["dimension"] is None:
            tasks.setdefault(r["task"], {})[r["status"]] = int(r["quanta"])
        else:
            cell = by_dimension.setdefault(r["dimension"], {}).setdefault(r["task"], {})
            cell.setdefault(r["value"], {})[r["status"]] = int(r["quanta"])
    return tasks, by_dimension


def differences(store: GraphStore, plan_id: str) -> list[str]:
    """Where the written counts of a complete plan disagree with its quanta (none: they agree)."""
    tasks, by_dimension = recount(store, plan_id)
    found: list[str] = []
    written = {s.task: s for s in task_summaries(store, plan_id)}
    for task in sorted(set(tasks) | set(written)):
        counted = written[task].counts if task in written else None
        if counted is None or counted != tasks.get(task):
            found.append(f"task {task}: written {counted}, quanta say {tasks.get(task)}")
        elif written[task].quanta != sum(counted.values()):
            found.append(f"task {task}: written {written[task].quanta} quanta, by status {counted}")
    for dimension in sorted({d for s in written.values() for d in s.example.dimensions} | set(by_dimension)):
        cells = status_cells(store, plan_id, dimension)
        if cells != by_dimension.get(dimension, {}):
            found.append(f"dimension {dimension}: written {cells}, quanta say {by_dimension.get(dimension)}")
    return found
