"""`provgraph viz`: the SVGs it writes hold the nodes, labels and edges of the plan or lineage asked for."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, write_plan
from provenance_graph.store.provenance import upstream
from provenance_graph.viz import STATUS_COLOURS, TooLargeError, lineage_view, render
from tests.integration.test_cli import run
from tests.integration.test_provenance_queries import _diamond

SVG = "{http://www.w3.org/2000/svg}"


def svg_nodes(path: Path) -> dict[str, str]:
    """{node id: its label's text, lines joined by '|'} of a Graphviz SVG."""
    root = ET.parse(path).getroot()
    nodes = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            texts = [t.text or "" for t in group.iter(f"{SVG}text")]
            nodes[str(group.get("id"))] = "|".join(texts)
    return nodes


def svg_edge_count(path: Path) -> int:
    root = ET.parse(path).getroot()
    return sum(1 for g in root.iter(f"{SVG}g") if g.get("class") == "edge")


@pytest.fixture
def diamond(store: GraphStore, namespace: str):  # type: ignore[no-untyped-def]
    graph = _diamond(namespace)
    write_plan(store, graph)
    return graph


def test_plan_rollup_has_one_node_per_task_and_dataset_type(
    diamond, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "plan.svg"
    done = run(["viz", "plan", diamond.plan.id, "-o", str(out)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    nodes = svg_nodes(out)
    tasks = {q.task_label for q in diamond.quanta.values()}
    types = {r.dataset_type.name for r in diamond.datasets.values()}
    assert set(nodes) == {f"task:{t}" for t in tasks} | {f"type:{t}" for t in types} | {"legend"}
    assert nodes["task:task2"] == "task2|2 quanta: 2 pending"
    assert nodes["type:prov_L1"].startswith("prov_L1|2 datasets") and nodes["task:task3"].startswith(
        "task3|1 quantum: "
    )
    # One arrow per (task, PRODUCES/CONSUMES, type), labelled with its count.
    pairs = {(q.task_label, "in", r.dataset_type.name) for q in diamond.quanta.values() for r in q.inputs}
    pairs |= {(q.task_label, "out", r.dataset_type.name) for q in diamond.quanta.values() for r in q.outputs}
    assert svg_edge_count(out) == len(pairs)
    assert STATUS_COLOURS["pending"] in out.read_text()


def test_lineage_by_task_and_by_quantum(
    diamond, store: GraphStore, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    final = next(r for r in diamond.datasets.values() if r.dataset_type.name == "prov_L3")
    by_task = tmp_path / "lineage.svg"
    done = run(["viz", "lineage", final.id, "--stop-task", "task2", "-o", str(by_task)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert {k for k in svg_nodes(by_task) if k.startswith("task:")} == {"task:task2", "task:task3"}

    by_quantum = tmp_path / "lineage-q.svg"
    done = run(["viz", "lineage", final.id, "--level", "quantum", "-o", str(by_quantum)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    want = upstream(store, final.id)
    nodes = svg_nodes(by_quantum)
    assert set(nodes) == {f"q:{q}" for q in want.quanta} | {f"d:{d}" for d in want.datasets}
    edges = sum(len(q.inputs) + len(q.outputs) for q in diamond.quanta.values())  # the whole diamond
    assert svg_edge_count(by_quantum) == edges
    task3 = next(q for q in diamond.quanta.values() if q.task_label == "task3")
    assert nodes[f"q:{task3.id}"] == f"task3|visit={task3.data_id['visit']}"
    # The instrument, the same for every node, is left out of the labels and said in the title.
    visit = final.data_id["visit"]
    assert f"lineage of prov_L3 (instrument=Cam visit={visit}): " in by_quantum.read_text()
    assert "datasets (instrument=Cam)" in by_quantum.read_text()


def test_too_large_a_quantum_picture_is_refused_with_the_rollup_suggested(
    diamond, store: GraphStore, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    final = next(r for r in diamond.datasets.values() if r.dataset_type.name == "prov_L3")
    with pytest.raises(TooLargeError, match="more than the 3"):
        lineage_view(store, final.id, level="quantum", max_nodes=3)
    out = tmp_path / "x.svg"
    done = run(
        ["viz", "lineage", final.id, "--level", "quantum", "--max-nodes", "3", "-o", str(out)], neo4j_settings
    )
    assert done.returncode == 1 and "--level task" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    part = run(["viz", "plan", diamond.plan.id, "--task", "task2", "--max-nodes", "2"], neo4j_settings)
    assert part.returncode == 1 and f"provgraph viz plan {diamond.plan.id}" in part.stderr


def test_plan_subgraph_quantum_by_quantum_and_formats(
    diamond, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "part.svg"
    done = run(["viz", "plan", diamond.plan.id, "--task", "task2", "-o", str(out)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    task2 = [q for q in diamond.quanta.values() if q.task_label == "task2"]
    datasets = {r.id for q in task2 for r in (*q.inputs, *q.outputs)}
    assert set(svg_nodes(out)) == {f"q:{q.id}" for q in task2} | {f"d:{d}" for d in datasets}
    dot = tmp_path / "plan.dot"
    assert run(["viz", "plan", diamond.plan.id, "-o", str(dot)], neo4j_settings).returncode == 0
    assert dot.read_text().startswith("digraph {") and 'id="task:task1"' in dot.read_text()
    png = tmp_path / "plan.png"
    assert run(["viz", "plan", diamond.plan.id, "-o", str(png)], neo4j_settings).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    bad = run(["viz", "plan", diamond.plan.id, "-o", str(tmp_path / "plan.gif")], neo4j_settings)
    assert bad.returncode == 1 and "use --format svg, png or dot" in bad.stderr


def test_render_escapes_hostile_labels() -> None:
    from provenance_graph.viz import Node, View

    view = View(
        'title "quoted" <b>', [Node('k:"1"', 'label with "quotes" & <tags>\nand lines', "task", "#ffffff")]
    )
    svg = render(view, "svg").decode()
    ET.fromstring(svg)  # well-formed
    assert "label with &quot;quotes&quot; &amp; &lt;tags&gt;" in svg
