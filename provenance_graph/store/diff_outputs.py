"""Content diff with cause: which outputs differ between two executions, and why.

**The outputs of an execution** are the outputs of its plan that exist and were made by it
or by an earlier execution of that plan (a second ``run --plan`` after a failure completes
the first); for a plan made by ``plan --rerun-of``, also the outputs of the plan it reran
(and so on up that chain) that it did not remake, made by executions that started before
it. So a rerun's answer is the old run with some outputs replaced, which is how an operator
sees it. The checksums are those the graph holds now: one dataset has one.

Outputs of the two executions are matched by dataset type and data ID. For each pair whose
checksums differ, both lineages are walked **in step**, from the two producers upstream:

- the two quanta's inputs are matched by type and data ID; inputs present on one side only
  (or produced on one side and pre-existing on the other) are a **plan** difference;
- a pair of produced inputs whose checksums differ is walked further up; one dataset on
  both sides, or equal checksums, explains nothing;
- a pair of inputs that no quantum produced (a raw, a calibration) is compared by the
  checksums the two attempts recorded when they read them (``:Attempt.input_checksums_json``,
  schema v13): different checksums are an **input** difference;
- when nothing upstream explains a pair, the quanta themselves are compared: the ``config``
  or ``source`` digest that their executions recorded for the task (``tasks_json``, schema
  v12) differs: a **config** or **code** difference; else the difference is **unexplained**
  (the task is not deterministic, or what it read was not recorded).

Each changed output gets the root causes reached this way: the differences found furthest
upstream on each path, not what they caused on the way down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from provenance_graph.errors import NotInGraphError
from provenance_graph.model import DataId
from provenance_graph.store.connection import GraphStore

__all__ = [
    "QUERIES",
    "Cause",
    "ChangedOutput",
    "ExecutionOutputs",
    "Output",
    "OutputDiff",
    "diff_cypher_parameters",
    "diff_outputs",
    "execution_outputs",
    "resolve_execution",
]

#: The queries of the question, in the order it runs them (``--cypher``).
QUERIES = ("diff_execution", "diff_plan_origin", "diff_executions_before", "diff_outputs", "diff_lineage")

CauseKind = Literal["input", "config", "code", "plan", "unexplained"]


@dataclass(frozen=True)
class Output:
    """One output of an execution's answer."""

    id: str
    dataset_type: str
    data_id: str
    """Canonical JSON."""
    checksum: str | None
    plan_id: str
    execution_id: str
    """The execution that made it."""
    quantum_id: str


@dataclass(frozen=True)
class ExecutionOutputs:
    """An execution, the plans its answer spans and its outputs by (dataset type, data ID)."""

    execution_id: str
    plan_id: str
    started: str
    plans: tuple[str, ...]
    """Its plan, then the plan it reran, and so on."""
    executions: tuple[str, ...]
    """The executions whose outputs count (see the module docstring)."""
    outputs: dict[tuple[str, str], Output]
    tasks: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """Per execution, the task versions it recorded (``tasks_json``)."""


@dataclass(frozen=True)
class Cause:
    """One difference upstream of a changed output."""

    kind: CauseKind
    name: str
    """The dataset type (``input``, ``plan``) or the task label (the others)."""
    data_id: str
    """Canonical JSON: the dataset's (``input``) or the quantum's."""
    a: str | None
    """What side A had: the input's checksum, the task's digest, or the inputs only A read."""
    b: str | None
    """The same for side B."""
    dataset_ids: tuple[str, ...] = ()
    """``input``: the dataset on each side (one id if it is one dataset)."""

    def describe(self) -> str:
        """For people: ``input bias (detector=1)``, ``config of calibrate``."""
        if self.kind == "input":
            return f"input {self.name} ({DataId.from_key(self.data_id)})"
        if self.kind == "plan":
            return f"plan: inputs of {self.name} ({DataId.from_key(self.data_id)})"
        if self.kind == "unexplained":
            return f"unexplained at {self.name} ({DataId.from_key(self.data_id)})"
        return f"{self.kind} of {self.name}"


@dataclass(frozen=True)
class ChangedOutput:
    """A pair of outputs with one type and data ID whose checksums differ, and why."""

    a: Output
    b: Output
    causes: tuple[Cause, ...]


@dataclass(frozen=True)
class OutputDiff:
    """The answer of ``provgraph diff-outputs``."""

    a: ExecutionOutputs
    b: ExecutionOutputs
    changed: list[ChangedOutput]
    same: int
    """Pairs with equal checksums (or one dataset on both sides)."""
    unknown: int
    """Pairs of which a side has no checksum recorded."""
    only_a: list[Output]
    only_b: list[Output]


def resolve_execution(store: GraphStore, name: str) -> tuple[str, str, str, bool]:
    """``(execution id, plan id, started, by plan)`` of an execution id, or of a plan's latest execution."""
    rows = store.read("diff_execution", given=name)
    if not rows:
        plan = store.read("diff_plan_origin", plan_id=name)
        if plan:
            raise NotInGraphError(
                f"plan {name!r} has no execution to compare",
                hint=f"run it first: 'provgraph run --plan {name}'",
            )
        raise NotInGraphError(
            f"there is no execution or plan {name!r} in the graph",
            hint="give an execution id ('provgraph plans executions PLAN' lists a plan's) "
            "or a plan id for its latest execution ('provgraph plans list')",
        )
    row = rows[0]
    return str(row["id"]), str(row["plan_id"]), str(row["started"]), bool(row["latest"])


def _plan_chain(store: GraphStore, plan_id: str) -> list[str]:
    """The plan, then the plan it reran (``rerun_of``), and so on."""
    chain: list[str] = []
    current: str | None = plan_id
    while current is not None and current not in chain:
        rows = store.read("diff_plan_origin", plan_id=current)
        if not rows:  # the plan it reran was deleted since: the chain ends here
            break
        chain.append(current)
        metadata = json.loads(rows[0]["metadata_json"] or "{}")
        origin = metadata.get("rerun_of")
        current = str(origin) if origin else None
    return chain


def execution_outputs(store: GraphStore, name: str) -> ExecutionOutputs:
    """The outputs of an execution (or of a plan's latest one), as the module docstring defines them."""
    execution_id, plan_id, started, _ = resolve_execution(store, name)
    plans = _plan_chain(store, plan_id)
    executions = store.read("diff_executions_before", plan_ids=plans, started=started)
    ids = sorted({str(r["id"]) for r in executions} | {execution_id})
    tasks = {str(r["id"]): json.loads(r["tasks_json"]) for r in executions if r["tasks_json"]}
    rank = {p: i for i, p in enumerate(plans)}
    outputs: dict[tuple[str, str], Output] = {}
    for row in store.read("diff_outputs", plan_ids=plans, execution_ids=ids):
        found = Output(
            str(row["id"]),
            str(row["dataset_type"]),
            str(row["data_id"]),
            row["checksum"],
            str(row["plan_id"]),
            str(row["execution_id"]),
            str(row["quantum_id"]),
        )
        key = (found.dataset_type, found.data_id)
        held = outputs.get(key)
        if held is None or rank[found.plan_id] < rank[held.plan_id]:  # the newest plan's wins
            outputs[key] = found
    return ExecutionOutputs(execution_id, plan_id, started, tuple(plans), tuple(ids), outputs, tasks)


@dataclass(frozen=True)
class _Input:
    id: str
    dataset_type: str
    data_id: str
    checksum: str | None
    producer: str | None


@dataclass(frozen=True)
class _Quantum:
    id: str
    task: str
    data_id: str
    execution_id: str | None
    read: Mapping[str, str]
    """Input checksums its attempt recorded, by dataset id."""
    inputs: dict[tuple[str, str], _Input]


def _lineage(store: GraphStore, dataset_ids: list[str]) -> dict[str, _Quantum]:
    found: dict[str, _Quantum] = {}
    for row in store.read("diff_lineage", dataset_ids=dataset_ids):
        inputs = [
            _Input(str(i[0]), str(i[1]), str(i[2]), i[3], None if i[4] is None else str(i[4]))
            for i in row["inputs"]
        ]
        found[str(row["id"])] = _Quantum(
            str(row["id"]),
            str(row["task"]),
            str(row["data_id"]),
            row["execution_id"],
            json.loads(row["input_checksums_json"] or "{}"),
            {(i.dataset_type, i.data_id): i for i in inputs},
        )
    return found


def diff_outputs(store: GraphStore, name_a: str, name_b: str) -> OutputDiff:
    """Outputs whose checksums differ between two executions (or plans' latest), each with its causes."""
    a = execution_outputs(store, name_a)
    b = execution_outputs(store, name_b)
    pairs = _pairs(a, b)
    differing = _differing(pairs)
    unknown = sum(1 for x, y in pairs if x.id != y.id and (x.checksum is None or y.checksum is None))
    quanta_a = _lineage(store, [x.id for x, _ in differing]) if differing else {}
    quanta_b = _lineage(store, [y.id for _, y in differing]) if differing else {}
    walk = _Walk(quanta_a, quanta_b, a.tasks, b.tasks)
    changed = [ChangedOutput(x, y, walk.causes(x.quantum_id, y.quantum_id)) for x, y in differing]
    return OutputDiff(
        a,
        b,
        changed,
        same=len(pairs) - len(differing) - unknown,
        unknown=unknown,
        only_a=[a.outputs[k] for k in sorted(a.outputs.keys() - b.outputs.keys())],
        only_b=[b.outputs[k] for k in sorted(b.outputs.keys() - a.outputs.keys())],
    )


def _pairs(a: ExecutionOutputs, b: ExecutionOutputs) -> list[tuple[Output, Output]]:
    return [(a.outputs[k], b.outputs[k]) for k in sorted(a.outputs.keys() & b.outputs.keys())]


def _differing(pairs: list[tuple[Output, Output]]) -> list[tuple[Output, Output]]:
    return [
        (x, y)
        for x, y in pairs
        if x.id != y.id and x.checksum is not None and y.checksum is not None and x.checksum != y.checksum
    ]


def diff_cypher_parameters(store: GraphStore, name_a: str, name_b: str) -> list[dict[str, Any]]:
    """Per side, the parameters of the question's queries (``--cypher``); runs every read but the walk."""
    a = execution_outputs(store, name_a)
    b = execution_outputs(store, name_b)
    differing = _differing(_pairs(a, b))
    return [
        {
            "given": name,
            "plan_id": side.plan_id,
            "plan_ids": list(side.plans),
            "started": side.started,
            "execution_ids": list(side.executions),
            "dataset_ids": [pair[n].id for pair in differing],
        }
        for n, (name, side) in enumerate(((name_a, a), (name_b, b)))
    ]


#: The recorded task-version fields compared, and the cause each names.
_VERSIONS: dict[str, CauseKind] = {"config": "config", "source": "code"}


class _Walk:
    """The walk in step of two lineages, each pair of quanta explained once."""

    def __init__(
        self,
        quanta_a: Mapping[str, _Quantum],
        quanta_b: Mapping[str, _Quantum],
        tasks_a: Mapping[str, Mapping[str, Mapping[str, str]]],
        tasks_b: Mapping[str, Mapping[str, Mapping[str, str]]],
    ) -> None:
        self.quanta_a, self.quanta_b = quanta_a, quanta_b
        self.tasks_a, self.tasks_b = tasks_a, tasks_b
        self.causes = cache(self._causes)

    def _causes(self, id_a: str, id_b: str) -> tuple[Cause, ...]:
        """The root causes of the difference between what quanta ``id_a`` and ``id_b`` made."""
        if id_a == id_b:
            return ()
        qa, qb = self.quanta_a[id_a], self.quanta_b[id_b]
        found: list[Cause] = []
        only_a = sorted(qa.inputs.keys() - qb.inputs.keys())
        only_b = sorted(qb.inputs.keys() - qa.inputs.keys())
        if only_a or only_b:
            found.append(Cause("plan", qa.task, qa.data_id, _listed(only_a), _listed(only_b)))
        for key in sorted(qa.inputs.keys() & qb.inputs.keys()):
            x, y = qa.inputs[key], qb.inputs[key]
            if x.producer is not None and y.producer is not None:
                if x.id != y.id and x.checksum != y.checksum:
                    found += self.causes(x.producer, y.producer)
            elif x.producer is None and y.producer is None:
                cx, cy = qa.read.get(x.id), qb.read.get(y.id)
                known_same = x.id == y.id if cx is None or cy is None else cx == cy
                if not known_same:
                    ids = (x.id,) if x.id == y.id else (x.id, y.id)
                    found.append(Cause("input", x.dataset_type, x.data_id, cx, cy, ids))
            else:
                found.append(
                    Cause("plan", qa.task, qa.data_id, _made(x), _made(y))
                )  # made on one side, pre-existing on the other
        if not found:
            found += self._versions(qa, qb)
        if not found:
            found.append(Cause("unexplained", qa.task, qa.data_id, None, None))
        return tuple(dict.fromkeys(found))

    def _versions(self, qa: _Quantum, qb: _Quantum) -> list[Cause]:
        va = self.tasks_a.get(qa.execution_id or "", {}).get(qa.task)
        vb = self.tasks_b.get(qb.execution_id or "", {}).get(qb.task)
        if va is None or vb is None:
            return []
        return [
            Cause(kind, qa.task, qa.data_id, _version(va, name), _version(vb, name))
            for name, kind in _VERSIONS.items()
            if va.get(name) != vb.get(name)
        ]


def _version(versions: Mapping[str, str], name: str) -> str | None:
    """A recorded digest, with the git commit beside the source's."""
    value = versions.get(name)
    if name == "source" and versions.get("git"):
        return f"{value} (git {versions['git']})"
    return value


def _listed(keys: list[tuple[str, str]]) -> str | None:
    return "; ".join(f"{t} ({DataId.from_key(d)})" for t, d in keys) or None


def _made(i: _Input) -> str:
    return f"{i.dataset_type} ({DataId.from_key(i.data_id)}) " + (
        "made in the plan" if i.producer else "pre-existing"
    )
