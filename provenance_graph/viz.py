"""Pictures of plans and lineages, drawn by Graphviz, that stay readable at 10^5 quanta and more.

Three views, each a `View` (nodes and edges) that `render` turns into SVG, PNG or DOT:

- `plan_rollup`: a whole plan at pipeline level: one box per task label (its quanta,
  with a bar of their statuses in proportion), one ellipse per dataset type (how many
  datasets, how many exist), arrows for PRODUCES and CONSUMES with their counts, and
  a legend. Counted in the server, so its size is the pipeline's, not the plan's.
  Laid out top to bottom and scaled down, if need be, to fit a 1920x1080 screen.
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

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import graphviz  # type: ignore[import-untyped]

from provenance_graph.errors import QuestionError
from provenance_graph.model import DataId, human_forms
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

#: Fill colours of quanta (and of the status bars of task boxes).
STATUS_COLOURS: dict[str, str] = {
    "failed": "#f28b82",
    "blocked": "#e6b8b7",
    "running": "#fbc36b",
    "pending": "#eeeeee",
    "skipped": "#c5e1a5",
    "succeeded": "#9ccc65",
}
#: Worst first: the order of statuses in labels, bars and the legend.
_SEVERITY = ("failed", "blocked", "running", "pending", "skipped", "succeeded")
_EXISTS_COLOUR = "#bbdefb"
_DATASET_COLOUR = "#ffffff"
#: Width in points of a task box's status bar.
_BAR = 120
#: A roll-up is scaled down to fit this (inches: 1920x1080 pixels at Graphviz's 96 dpi).
_SCREEN = "20,11.25"

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
    kind: Literal["task", "dataset_type", "quantum", "dataset", "legend"]
    fill: str
    html: bool = False
    """Whether ``label`` is a Graphviz HTML-like label (its text already escaped)."""


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
    rollup: bool = False
    """A roll-up: drawn top to bottom, scaled to fit a screen."""
    same_rank: list[list[str]] = field(default_factory=list)
    """Groups of node keys drawn side by side (a task and the dataset types it produces)."""


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _task_label(task: str, counts: Mapping[str, int]) -> str:
    """``task``, its number of quanta, a bar of their statuses in proportion, and their counts.

    An HTML-like label: Graphviz draws the bar as a row of cells as wide as each status's share.
    """
    total = sum(counts.values())
    present = [(s, counts[s]) for s in _SEVERITY if counts.get(s)] or [("pending", 0)]
    widths = [max(2, round(_BAR * n / total)) if total else _BAR for _, n in present]
    sum_widths = sum(widths)
    cells = "".join(
        f'<TD WIDTH="{w}" HEIGHT="7" FIXEDSIZE="TRUE" BGCOLOR="{STATUS_COLOURS[s]}"></TD>'
        for (s, _), w in zip(present, widths, strict=True)
    )
    statuses = ", ".join(f"{n:,} {s}" for s, n in present if n)
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        f"<TR><TD><B>{html.escape(task)}</B></TD></TR>"
        f'<TR><TD><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0" FIXEDSIZE="TRUE" '
        f'WIDTH="{sum_widths}" HEIGHT="7"><TR>{cells}</TR>'
        "</TABLE></TD></TR>"
        f"<TR><TD>{_count(total, 'quantum', 'quanta')}: {html.escape(statuses)}</TD></TR>"
        "</TABLE>>"
    )


def _legend() -> Node:
    """What the colours and shapes of a roll-up mean."""
    rows = "".join(
        f'<TR><TD WIDTH="14" HEIGHT="10" FIXEDSIZE="TRUE" BGCOLOR="{STATUS_COLOURS[s]}"></TD>'
        f'<TD ALIGN="LEFT">{s}</TD></TR>'
        for s in reversed(_SEVERITY)
    )
    return Node(
        "legend",
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
        '<TR><TD COLSPAN="2" ALIGN="LEFT"><B>legend</B></TD></TR>'
        '<TR><TD COLSPAN="2" ALIGN="LEFT">box: a task; its bar: quanta by status</TD></TR>'
        f"{rows}"
        '<TR><TD COLSPAN="2" ALIGN="LEFT">ellipse: a dataset type</TD></TR>'
        f'<TR><TD WIDTH="14" HEIGHT="10" FIXEDSIZE="TRUE" BGCOLOR="{_EXISTS_COLOUR}"></TD>'
        '<TD ALIGN="LEFT">all its datasets exist</TD></TR>'
        '<TR><TD COLSPAN="2" ALIGN="LEFT">arrow: how many datasets made or read</TD></TR>'
        "</TABLE>>",
        "legend",
        "#ffffff",
        html=True,
    )


def _rollup(
    title: str,
    tasks: Mapping[str, Mapping[str, int]],
    flow: Iterable[Flow],
    types: Iterable[TypeCount],
) -> View:
    """Task boxes, dataset-type ellipses and counted arrows, from server-side counts."""
    view = View(title, rollup=True)
    for task, counts in sorted(tasks.items()):
        view.nodes.append(Node(f"task:{task}", _task_label(task, counts), "task", "#ffffff", html=True))
    for count in types:
        name, n, existing = count.dataset_type, count.datasets, count.existing
        fill = _EXISTS_COLOUR if n and existing == n else _DATASET_COLOUR
        label = f"{name}\n{_count(n, 'dataset', 'datasets')}, {existing:,} exist"
        view.nodes.append(Node(f"type:{name}", label, "dataset_type", fill))
    for f in flow:
        task, name, edges = f"task:{f.task}", f"type:{f.dataset_type}", f"{f.edges:,}"
        view.edges.append(Edge(task, name, edges) if f.rel == "PRODUCES" else Edge(name, task, edges))
    made: dict[str, list[str]] = {}
    for edge in view.edges:
        if edge.source.startswith("task:"):
            made.setdefault(edge.source, []).append(edge.target)
    view.same_rank = [[task, *types] for task, types in made.items()]
    view.nodes.append(_legend())
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
    return Node(f"q:{q_id}", f"{task}\n{data_id}", "quantum", STATUS_COLOURS.get(status, "#ffffff"))


def _dataset_node(d_id: str, dataset_type: str, data_id: str, exists: bool | None) -> Node:
    fill = _EXISTS_COLOUR if exists else _DATASET_COLOUR
    return Node(f"d:{d_id}", f"{dataset_type}\n{data_id}", "dataset", fill)


def _shown(data_ids: Mapping[str, DataId]) -> tuple[dict[str, str], str]:
    """Each node's data ID as the picture shows it, and a title suffix naming what all share.

    The picture is a listing: instrument and skymap are shown only where they vary
    (`human_forms`); the values left out are said once, in the title.
    """
    forms, context = human_forms(data_ids.values())
    return dict(zip(data_ids, forms, strict=True)), (f" ({context})" if len(context) else "")


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
        f"{word} of {start.dataset_type} ({DataId.from_key(start.data_id)}): "
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
    keys = [(f"q:{q.id}", q.data_id) for q in found.quanta.values()]
    keys += [(f"d:{d.id}", d.data_id) for d in found.datasets.values()]
    shown, context = _shown({node: DataId.from_key(key) for node, key in keys})
    view = View(title + context)
    view.nodes += [_quantum_node(q.id, q.task, shown[f"q:{q.id}"], q.status) for q in found.quanta.values()]
    view.nodes += [
        _dataset_node(d.id, d.dataset_type, shown[f"d:{d.id}"], d.exists) for d in found.datasets.values()
    ]
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
    ids = {f"q:{q.id}": q.data_id for q in part.quanta.values()}
    ids |= {f"d:{ref.id}": ref.data_id for ref in part.datasets.values()}
    shown, context = _shown(ids)
    view = View(f"plan {plan_id}: {len(part.quanta):,} quanta selected{context}")
    for q in part.quanta.values():
        status = statuses.get(q.id, "pending")
        view.nodes.append(_quantum_node(q.id, q.task_label, shown[f"q:{q.id}"], status))
    for ref in part.datasets.values():
        form = shown[f"d:{ref.id}"]
        view.nodes.append(_dataset_node(ref.id, ref.dataset_type.name, form, exists.get(ref.id)))
    for q in part.quanta.values():
        view.edges += [Edge(f"d:{r.id}", f"q:{q.id}") for r in q.inputs]
        view.edges += [Edge(f"q:{q.id}", f"d:{r.id}") for r in q.outputs]
    return view


def render(view: View, fmt: Format = "svg") -> bytes:
    """Lay the view out with Graphviz's dot; return SVG or PNG bytes, or DOT text.

    Quantum-level views go left to right; roll-ups top to bottom, scaled down (never up)
    to fit a 1920x1080 screen.
    """
    layout = {"rankdir": "LR"}
    if view.rollup:
        layout = {"rankdir": "TB", "size": _SCREEN, "ranksep": "0.3", "nodesep": "0.25"}
    graph = graphviz.Digraph(
        graph_attr={**layout, "label": view.title, "labelloc": "t", "fontname": "Helvetica"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#555555"},
    )
    shapes = {
        "task": "box",
        "quantum": "box",
        "dataset_type": "ellipse",
        "dataset": "ellipse",
        "legend": "note",
    }
    # Graphviz reads "a:b" in an edge as node a, port b: nodes get plain ids, keys go in the SVG.
    ids = {node.key: f"n{i}" for i, node in enumerate(view.nodes)}
    for node in view.nodes:
        style = {"shape": shapes[node.kind], "fillcolor": node.fill, "tooltip": node.key, "id": node.key}
        graph.node(ids[node.key], node.label, **style)
    for group in view.same_rank:
        with graph.subgraph() as rank:
            rank.attr(rank="same")
            for key in group:
                rank.node(ids[key])
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


# --- runtime distributions (`provgraph stats --plot`) -------------------------------------------


def stats_plot(
    values: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str,
    *,
    title: str,
    other: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    other_name: str = "",
) -> None:
    """Draw box plots of duration and peak memory per group to ``path`` (its suffix: the format).

    ``values`` maps a group's name to its attempts' durations (s) and peak memories (MB);
    ``other`` (a comparison's reference) is drawn in grey beside each group. Needs matplotlib
    (``pip install 'provenance-graph[plot]'``).
    """
    try:
        import matplotlib as mpl

        mpl.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise QuestionError(
            "--plot needs matplotlib, which is not installed",
            hint="pip install 'provenance-graph[plot]' (or leave out --plot)",
        ) from err
    names = list(dict.fromkeys([*values, *(other or {})]))
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.7 * len(names) + 2), 8), squeeze=False)
    for row, (what, unit) in enumerate((("duration", "s"), ("peak memory", "MB"))):
        ax = axes[row][0]
        sides = [(values, "tab:blue", 0.0)] + ([(other, "tab:gray", 0.35)] if other else [])
        for data, colour, shift in sides:
            assert data is not None
            shown = [
                (i, [v for v in data[n][row] if v is not None]) for i, n in enumerate(names) if n in data
            ]
            shown = [(i, v) for i, v in shown if v]
            if not shown:
                continue
            boxes = ax.boxplot(
                [v for _, v in shown],
                positions=[i + shift for i, _ in shown],
                widths=0.3,
                patch_artist=True,
                manage_ticks=False,
            )
            for box in boxes["boxes"]:
                box.set_facecolor(colour)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel(f"{what} ({unit})")
        ax.grid(axis="y", alpha=0.3)
    if other:
        from matplotlib.patches import Patch

        axes[0][0].legend(
            handles=[Patch(color="tab:blue", label="this"), Patch(color="tab:gray", label=other_name)]
        )
    axes[0][0].set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
