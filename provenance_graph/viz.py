"""Pictures of plans and lineages, drawn by Graphviz, that stay readable at 10^5 quanta and more.

Three views, each a `View` (nodes and edges) that `render` turns into SVG, PNG or DOT:

- `plan_rollup`: a whole plan at pipeline level: one box per task label (its quanta
  by status, coloured by the worst status), one ellipse per dataset type (how many
  datasets, how many exist), arrows for PRODUCES and CONSUMES with their counts.
  Counted in the server, so its size is the pipeline's, not the plan's.
- `lineage_view`: the upstream lineage or downstream impact of a dataset, with the
  lineage query's depth limit and stop rules, rolled up the same way (``level="task"``)
  or drawn quantum by quantum (``level="quantum"``).
- `subgraph_view`: a plan's quanta selected by task and data-ID values, quantum by
  quantum, with their datasets.

A quantum-level request larger than ``max_nodes`` raises `TooLargeError`, which names
the size and suggests the roll-up: Graphviz can lay out a few hundred nodes readably,
not tens of thousands.

Every read goes through typed store functions (`provenance_graph.store.views` and
`provenance_graph.store.provenance`); this module holds no Cypher and runs no query
by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import graphviz  # type: ignore[import-untyped]

from provenance_graph.errors import QuestionError
from provenance_graph.store import GraphStore
from provenance_graph.store.datasets import dataset_facts
from provenance_graph.store.plan_questions import plan_task_statuses, subgraph
from provenance_graph.store.plan_read import DataIdFilter
from provenance_graph.store.provenance import Lineage, downstream, upstream
from provenance_graph.store.views import (
    Flow,
    TypeCount,
    lineage_flow,
    plan_dataset_types,
    plan_flow,
    quantum_edges,
    quantum_states,
)

__all__ = [
    "STATUS_COLOURS",
    "Edge",
    "Node",
    "TooLargeError",
    "View",
    "lineage_view",
    "plan_rollup",
    "render",
    "subgraph_view",
]

#: Fill colours of quanta (and of task boxes, by their worst status).
STATUS_COLOURS: dict[str, str] = {
    "failed": "#f28b82",
    "blocked": "#e6b8b7",
    "running": "#fbc36b",
    "pending": "#eeeeee",
    "skipped": "#c5e1a5",
    "succeeded": "#9ccc65",
}
#: Worst first: a task box takes the colour of the worst status among its quanta.
_SEVERITY = ("failed", "blocked", "running", "pending", "skipped", "succeeded")
_EXISTS_COLOUR = "#bbdefb"
_DATASET_COLOUR = "#ffffff"

#: Quantum-level views refuse more nodes than this unless told otherwise.
MAX_NODES = 300

Format = Literal["svg", "png", "dot"]


class TooLargeError(QuestionError):
    """A quantum-level picture was asked of more nodes than can be drawn readably."""


@dataclass(frozen=True)
class Node:
    """One node of a picture."""

    key: str
    label: str
    kind: Literal["task", "dataset_type", "quantum", "dataset"]
    fill: str


@dataclass(frozen=True)
class Edge:
    """An arrow: producer to dataset, or dataset to its reader."""

    source: str
    target: str
    label: str = ""


@dataclass
class View:
    """What to draw: a title, nodes and edges."""

    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def worst_status(counts: Mapping[str, int]) -> str:
    """The status that colours a task box: the most severe one any of its quanta has."""
    present = [s for s in _SEVERITY if counts.get(s)]
    return present[0] if present else "pending"


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _task_label(task: str, counts: Mapping[str, int]) -> str:
    """``task``, its number of quanta, and the count of each status present."""
    total = sum(counts.values())
    statuses = ", ".join(f"{counts[s]:,} {s}" for s in _SEVERITY if counts.get(s))
    return f"{task}\n{_count(total, 'quantum', 'quanta')}\n{statuses}"


def _rollup(
    title: str,
    tasks: Mapping[str, Mapping[str, int]],
    flow: Iterable[Flow],
    types: Iterable[TypeCount],
) -> View:
    """Task boxes, dataset-type ellipses and counted arrows, from server-side counts."""
    view = View(title)
    for task, counts in sorted(tasks.items()):
        fill = STATUS_COLOURS[worst_status(counts)]
        view.nodes.append(Node(f"task:{task}", _task_label(task, counts), "task", fill))
    for count in types:
        name, n, existing = count.dataset_type, count.datasets, count.existing
        fill = _EXISTS_COLOUR if n and existing == n else _DATASET_COLOUR
        label = f"{name}\n{_count(n, 'dataset', 'datasets')}, {existing:,} exist"
        view.nodes.append(Node(f"type:{name}", label, "dataset_type", fill))
    for f in flow:
        task, name, edges = f"task:{f.task}", f"type:{f.dataset_type}", f"{f.edges:,}"
        view.edges.append(Edge(task, name, edges) if f.rel == "PRODUCES" else Edge(name, task, edges))
    return view


def plan_rollup(store: GraphStore, plan_id: str) -> View:
    """A whole plan at pipeline level (see the module docstring)."""
    tasks = plan_task_statuses(store, plan_id)  # raises PlanNotFoundError, naming the plan
    quanta = sum(n for counts in tasks.values() for n in counts.values())
    return _rollup(
        f"plan {plan_id}: {quanta:,} quanta",
        tasks,
        plan_flow(store, plan_id),
        plan_dataset_types(store, plan_id),
    )


def _too_large(what: str, nodes: int, max_nodes: int, rollup: str) -> TooLargeError:
    return TooLargeError(
        f"{what} has {nodes:,} nodes, more than the {max_nodes:,} a quantum-level picture can show readably",
        hint=f"draw the roll-up instead ({rollup}), narrow the question, or raise --max-nodes",
    )


def _quantum_node(q_id: str, task: str, data_id: str, status: str) -> Node:
    return Node(f"q:{q_id}", f"{task}\n{_compact(data_id)}", "quantum", STATUS_COLOURS.get(status, "#ffffff"))


def _dataset_node(d_id: str, dataset_type: str, data_id: str, exists: bool | None) -> Node:
    fill = _EXISTS_COLOUR if exists else _DATASET_COLOUR
    return Node(f"d:{d_id}", f"{dataset_type}\n{_compact(data_id)}", "dataset", fill)


def _compact(data_id: str) -> str:
    """A data ID's canonical JSON, shown as ``visit=1 detector=2`` (instrument and skymap left out)."""
    values = json.loads(data_id)
    return " ".join(f"{k}={v}" for k, v in values.items() if k not in ("instrument", "skymap"))


def _edges(store: GraphStore, quantum_ids: Sequence[str], dataset_ids: Sequence[str]) -> list[Edge]:
    return [
        Edge(f"q:{e.quantum}", f"d:{e.dataset}")
        if e.rel == "PRODUCES"
        else Edge(f"d:{e.dataset}", f"q:{e.quantum}")
        for e in quantum_edges(store, quantum_ids, dataset_ids)
    ]


def lineage_view(
    store: GraphStore,
    dataset_id: str,
    *,
    direction: Literal["upstream", "downstream"] = "upstream",
    depth: int | None = None,
    stop_tasks: Iterable[str] = (),
    stop_types: Iterable[str] = (),
    level: Literal["task", "quantum"] = "task",
    max_nodes: int = MAX_NODES,
) -> View:
    """The lineage (or impact) of a dataset, rolled up by task or drawn quantum by quantum."""
    walk = upstream if direction == "upstream" else downstream
    found: Lineage = walk(store, dataset_id, depth=depth, stop_tasks=stop_tasks, stop_types=stop_types)
    word = "lineage" if direction == "upstream" else "impact"
    start = found.datasets[dataset_id]
    title = (
        f"{word} of {start.dataset_type} {_compact(start.data_id)}: "
        f"{len(found.quanta):,} quanta, {len(found.datasets):,} datasets"
    )
    quantum_ids, dataset_ids = list(found.quanta), list(found.datasets)
    if level == "task":
        flow = lineage_flow(store, quantum_ids, dataset_ids)
        types: dict[str, list[int]] = {}
        for d in found.datasets.values():
            counts = types.setdefault(d.dataset_type, [0, 0])
            counts[0] += 1
            counts[1] += bool(d.exists)
        type_counts = [TypeCount(t, n, e) for t, (n, e) in sorted(types.items())]
        return _rollup(title, found.tasks(), flow, type_counts)
    size = len(quantum_ids) + len(dataset_ids)
    if size > max_nodes:
        raise _too_large(f"the {word} of {dataset_id}", size, max_nodes, "--level task")
    view = View(title)
    view.nodes += [_quantum_node(q.id, q.task, q.data_id, q.status) for q in found.quanta.values()]
    view.nodes += [_dataset_node(d.id, d.dataset_type, d.data_id, d.exists) for d in found.datasets.values()]
    view.edges = _edges(store, quantum_ids, dataset_ids)
    return view


def subgraph_view(
    store: GraphStore,
    plan_id: str,
    *,
    tasks: Sequence[str] | None = None,
    where: DataIdFilter | None = None,
    max_nodes: int = MAX_NODES,
) -> View:
    """A plan's quanta selected by task labels and data-ID values, quantum by quantum."""
    part = subgraph(store, plan_id, tasks=tasks, where=where).graph
    size = len(part.quanta) + len(part.datasets)
    if size > max_nodes:
        raise _too_large(f"this part of plan {plan_id}", size, max_nodes, f"provgraph viz plan {plan_id}")
    statuses = {q.id: q.status for q in quantum_states(store, list(part.quanta))}
    exists = {d_id: facts.exists for d_id, facts in dataset_facts(store, list(part.datasets)).items()}
    view = View(f"plan {plan_id}: {len(part.quanta):,} quanta selected")
    for q in part.quanta.values():
        view.nodes.append(_quantum_node(q.id, q.task_label, q.data_id.key(), statuses.get(q.id, "pending")))
    for ref in part.datasets.values():
        view.nodes.append(_dataset_node(ref.id, ref.dataset_type.name, ref.data_id.key(), exists.get(ref.id)))
    for q in part.quanta.values():
        view.edges += [Edge(f"d:{r.id}", f"q:{q.id}") for r in q.inputs]
        view.edges += [Edge(f"q:{q.id}", f"d:{r.id}") for r in q.outputs]
    return view


def render(view: View, fmt: Format = "svg") -> bytes:
    """Lay the view out left to right with Graphviz's dot; return SVG or PNG bytes, or DOT text."""
    graph = graphviz.Digraph(
        graph_attr={"rankdir": "LR", "label": view.title, "labelloc": "t", "fontname": "Helvetica"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#555555"},
    )
    shapes = {"task": "box", "quantum": "box", "dataset_type": "ellipse", "dataset": "ellipse"}
    # Graphviz reads "a:b" in an edge as node a, port b: nodes get plain ids, keys go in the SVG.
    ids = {node.key: f"n{i}" for i, node in enumerate(view.nodes)}
    for node in view.nodes:
        style = {"shape": shapes[node.kind], "fillcolor": node.fill, "tooltip": node.key, "id": node.key}
        graph.node(ids[node.key], node.label, **style)
    for edge in view.edges:
        graph.edge(ids[edge.source], ids[edge.target], label=edge.label)
    if fmt == "dot":
        return str(graph.source).encode()
    try:
        return bytes(graph.pipe(format=fmt))
    except graphviz.ExecutableNotFound as err:
        raise QuestionError(
            "Graphviz's 'dot' program is not installed, so pictures cannot be drawn",
            hint="install the 'graphviz' system package (apt-get install graphviz), or use --format dot",
        ) from err
