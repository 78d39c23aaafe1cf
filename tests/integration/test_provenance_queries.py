"""Provenance queries against an independent in-memory answer (networkx), on random and hand-made plans.

Each plan is stored in the real Neo4j; every answer of `provenance_graph.store.provenance`
must equal what a plain breadth-first walk over a networkx graph of the same plan gives,
with the same depth limits and stop rules.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prov.model import ProvDocument

from provenance_graph.errors import NotInGraphError, QuestionError
from provenance_graph.export import prov_document
from provenance_graph.interop.prov import serialize_prov
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, write_plan
from provenance_graph.store.plan_questions import (
    data_id_history,
    missing_outputs,
    plan_diff,
    plan_overview,
    subgraph,
)
from provenance_graph.store.provenance import (
    children,
    dependencies,
    downstream,
    lineage_parameters,
    lineage_summary,
    parents,
    upstream,
)
from tests.integration.test_cli import run

DIMS = ("instrument", "visit")
_counter = itertools.count()


def dtype(name: str) -> DatasetType:
    return DatasetType(name=f"prov_{name}", dimensions=DIMS, storage_class="StructuredData")


def ref(name: str, visit: int, run: str) -> DatasetRef:
    return DatasetRef(
        dataset_type=dtype(name), data_id=DataId({"instrument": "Cam", "visit": visit}), run=run
    )


@st.composite
def random_plans(draw: st.DrawFn) -> list[tuple[int, list[int], int]]:
    """Layers of quanta: (layer, indices of earlier datasets it reads, outputs it writes)."""
    n_raw = draw(st.integers(1, 4))
    quanta: list[tuple[int, list[int], int]] = []
    available = n_raw
    for layer in range(1, draw(st.integers(1, 5)) + 1):
        added = 0
        for _ in range(draw(st.integers(1, 4))):
            reads = draw(st.lists(st.integers(0, available - 1), min_size=1, max_size=3, unique=True))
            writes = draw(st.integers(1, 2))
            quanta.append((layer, reads, writes))
            added += writes
        available += added
    return [(0, [], n_raw), *quanta]


def build(shape: list[tuple[int, list[int], int]], plan_id: str, run: str) -> PlanGraph:
    """A plan of that shape: dataset i is raw (run 'input') or the output of a quantum."""
    (_, _, n_raw), *rest = shape
    datasets: list[DatasetRef] = [ref("raw", i, f"{run}/input") for i in range(n_raw)]
    quanta: list[Quantum] = []
    for n, (layer, reads, writes) in enumerate(rest):
        outputs = [ref(f"L{layer}", len(datasets) + k, run) for k in range(writes)]
        quanta.append(
            Quantum(
                task_label=f"task{layer}",
                data_id=DataId({"instrument": "Cam", "visit": n}),
                run=run,
                inputs=tuple(datasets[i] for i in reads),
                outputs=tuple(outputs),
            )
        )
        datasets.extend(outputs)
    return PlanGraph(Plan(id=plan_id, output_run=run, pipeline_digest="random"), quanta)


def as_networkx(graph: PlanGraph) -> nx.DiGraph:
    """Datasets and quanta as nodes; edges quantum -> output (PRODUCES) and quantum -> input (CONSUMES)."""
    g = nx.DiGraph()
    for ref_ in graph.datasets.values():
        g.add_node(ref_.id, kind="dataset", type=ref_.dataset_type.name)
    for q in graph.quanta.values():
        g.add_node(q.id, kind="quantum", task=q.task_label)
        for r in q.inputs:
            g.add_edge(q.id, r.id, rel="CONSUMES")
        for r in q.outputs:
            g.add_edge(q.id, r.id, rel="PRODUCES")
    return g


def walk(
    g: nx.DiGraph,
    start: str,
    direction: str,
    depth: int | None,
    stop_tasks: set[str],
    stop_types: set[str],
) -> tuple[dict[str, int], dict[str, int]]:
    """Breadth-first: {dataset: level}, {quantum: level}, by the documented rules."""

    def next_quanta(d: str) -> list[str]:  # upstream: its producer; downstream: its readers
        rel = "PRODUCES" if direction == "upstream" else "CONSUMES"
        return [q for q in g.predecessors(d) if g.edges[q, d]["rel"] == rel]

    def next_datasets(q: str) -> list[str]:  # upstream: its inputs; downstream: its outputs
        rel = "CONSUMES" if direction == "upstream" else "PRODUCES"
        return [d for d in g.successors(q) if g.edges[q, d]["rel"] == rel]

    limit = float("inf") if depth is None else depth
    datasets, quanta = {start: 0}, {}
    todo = deque([start])
    while todo:
        d = todo.popleft()
        level = datasets[d]
        if level >= limit or g.nodes[d]["type"] in stop_types:
            continue
        for q in next_quanta(d):
            quanta[q] = min(quanta.get(q, level + 1), level + 1)
            if g.nodes[q]["task"] in stop_tasks:
                continue
            for nxt in next_datasets(q):
                if nxt not in datasets:
                    datasets[nxt] = level + 1
                    todo.append(nxt)
    return datasets, quanta


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=random_plans(), data=st.data())
def test_random_plans_match_networkx(
    store: GraphStore, namespace: str, shape: list, data: st.DataObject
) -> None:  # type: ignore[type-arg]
    n = next(_counter)
    graph = build(shape, f"{namespace}-h{n}", f"{namespace}/h{n}")
    write_plan(store, graph)
    try:
        g = as_networkx(graph)
        tasks = sorted({q.task_label for q in graph.quanta.values()})
        types = sorted({r.dataset_type.name for r in graph.datasets.values()})
        for direction in ("upstream", "downstream"):
            start = data.draw(st.sampled_from(sorted(graph.datasets)), label="start")
            depth = data.draw(st.none() | st.integers(0, 4), label="depth")
            stop_tasks = set(data.draw(st.lists(st.sampled_from(tasks), max_size=2), label="stop tasks"))
            stop_types = set(data.draw(st.lists(st.sampled_from(types), max_size=2), label="stop types"))
            query = upstream if direction == "upstream" else downstream
            got = query(store, start, depth=depth, stop_tasks=stop_tasks, stop_types=stop_types)
            want_d, want_q = walk(g, start, direction, depth, stop_tasks, stop_types)
            assert {d: n.level for d, n in got.datasets.items()} == want_d
            assert {q: n.level for q, n in got.quanta.items()} == want_q
            # The one-query form (what --cypher prints) gives the same answer at any depth.
            params = lineage_parameters([start], depth, stop_tasks, stop_types)
            assert levels(store.read(f"lineage_{direction}", **params)) == (want_d, want_q)
            # The counts (what the CLI's table shows), computed in the server when unbounded.
            counts = lineage_summary(
                store, direction, start, depth=depth, stop_tasks=stop_tasks, stop_types=stop_types
            )
            assert counts.tasks == got.tasks() and counts.quanta == len(want_q)
            assert counts.dataset_types == {
                t: (n, min(want_d[d] for d in want_d if g.nodes[d]["type"] == t))
                for t, n in _per_type(g, want_d).items()
            }
        q_id = data.draw(st.sampled_from(sorted(graph.quanta)), label="quantum")
        assert {p.id for p in parents(store, q_id)} == set(graph.parents(q_id)) == _nx_parents(g, q_id)
        assert {c.id for c in children(store, q_id)} == _nx_children(g, q_id)
        up, down = dependencies(store, q_id)
        assert ({p.id for p in up}, {c.id for c in down}) == (_nx_parents(g, q_id), _nx_children(g, q_id))
        overview = plan_overview(store, graph.plan.id)
        consumed = {d for q in graph.quanta for d in g.successors(q) if g.edges[q, d]["rel"] == "CONSUMES"}
        produced = {d for q in graph.quanta for d in g.successors(q) if g.edges[q, d]["rel"] == "PRODUCES"}
        assert _per_type(g, consumed - produced) == {t: n for t, (n, _e) in overview.initial_inputs.items()}
        assert _per_type(g, produced - consumed) == {t: n for t, (n, _e) in overview.final_outputs.items()}
        assert {t: sum(c.values()) for t, c in overview.tasks.items()} == graph.task_counts()
    finally:
        delete_plan(store, graph.plan.id)


def levels(rows: Iterable[dict]) -> tuple[dict[str, int], dict[str, int]]:  # type: ignore[type-arg]
    """{dataset: level}, {quantum: lowest level} from the rows of lineage_upstream/downstream."""
    datasets = {d[0]: d[4] for r in rows for d in r["datasets"]}
    quanta: dict[str, int] = {}
    for q in (q for r in rows for q in r["quanta"]):
        quanta[q[0]] = min(quanta.get(q[0], q[5]), q[5])
    return datasets, quanta


def paste_into_browser(store: GraphStore, script: str) -> list[list[dict]]:  # type: ignore[type-arg]
    """Run what `--cypher` printed as Neo4j Browser would: `:params` maps, then each statement."""
    params: dict = {}  # type: ignore[type-arg]
    answers = []
    statement: list[str] = []
    with store.session() as session:
        for line in script.splitlines():
            if line.startswith("//") or not line.strip():
                continue
            if line.startswith(":params "):
                params = session.run(f"RETURN {line.removeprefix(':params ')} AS p").single()["p"]  # type: ignore[index]
                continue
            statement.append(line)
            if line.rstrip().endswith(";"):
                answers.append([r.data() for r in session.run("\n".join(statement).rstrip(";"), params)])
                statement = []
    assert not statement, f"unterminated statement: {statement}"
    return answers


def _nx_parents(g: nx.DiGraph, q: str) -> set[str]:
    inputs = [d for d in g.successors(q) if g.edges[q, d]["rel"] == "CONSUMES"]
    return {p for d in inputs for p in g.predecessors(d) if g.edges[p, d]["rel"] == "PRODUCES"}


def _nx_children(g: nx.DiGraph, q: str) -> set[str]:
    outputs = [d for d in g.successors(q) if g.edges[q, d]["rel"] == "PRODUCES"]
    return {c for d in outputs for c in g.predecessors(d) if g.edges[c, d]["rel"] == "CONSUMES"}


def _per_type(g: nx.DiGraph, ids: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in ids:
        out[g.nodes[d]["type"]] = out.get(g.nodes[d]["type"], 0) + 1
    return out


def _diamond(namespace: str) -> PlanGraph:
    """raw0 -> a(task1) -> L1_1 -> b(task2) -> L2_3 -> d(task3) -> L3_5, and L1_2 -> c(task2) -> L2_4 -> d."""
    shape = [(0, [], 1), (1, [0], 2), (2, [1], 1), (2, [2], 1), (3, [3, 4], 1)]
    return build(shape, f"{namespace}-diamond", f"{namespace}/diamond")


def test_hand_made_diamond(store: GraphStore, namespace: str) -> None:
    graph = _diamond(namespace)
    write_plan(store, graph)
    by_type = {r.dataset_type.name: r for r in graph.datasets.values()}
    final = by_type["prov_L3"]
    full = upstream(store, final.id)
    assert full.tasks() == {"task1": {"pending": 1}, "task2": {"pending": 2}, "task3": {"pending": 1}}
    assert full.dataset_types(inputs_only=True) == {"prov_raw": 1}
    assert max(d.level for d in full.datasets.values()) == 3
    one = upstream(store, final.id, depth=1)
    assert one.tasks() == {"task3": {"pending": 1}}
    assert one.dataset_types() == {"prov_L2": 2, "prov_L3": 1}
    stopped = upstream(store, final.id, stop_tasks=["task2"])  # task2 reported, not walked past
    assert stopped.tasks() == {"task2": {"pending": 2}, "task3": {"pending": 1}}
    raw = next(r for r in graph.datasets.values() if r.dataset_type.name == "prov_raw")
    impact = downstream(store, raw.id)
    assert len(impact.quanta) == len(graph) and len(impact.datasets) == len(graph.datasets)
    cut = downstream(store, raw.id, stop_types=["prov_L1"])
    assert cut.tasks() == {"task1": {"pending": 1}} and cut.dataset_types()["prov_L1"] == 2
    [producer] = [q for q in graph.quanta.values() if q.task_label == "task3"]
    from_quantum = upstream(store, quantum_id=producer.id)
    assert set(from_quantum.datasets) <= set(full.datasets) and final.id not in from_quantum.datasets


def test_bad_questions_are_named(store: GraphStore) -> None:
    with pytest.raises(NotInGraphError, match="no quantum 'nope'"):
        parents(store, "nope")
    with pytest.raises(NotInGraphError, match="no quantum 'nope'"):
        dependencies(store, "nope")
    with pytest.raises(QuestionError, match="depth must be 0 or more"):
        upstream(store, "x", depth=-1)
    with pytest.raises(QuestionError, match="not both or neither"):
        upstream(store)


def test_query_commands_print_tables_json_and_cypher(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str
) -> None:
    graph = _diamond(namespace)
    write_plan(store, graph)
    final = next(r for r in graph.datasets.values() if r.dataset_type.name == "prov_L3")
    data_id = "instrument=Cam,visit=" + str(final.data_id["visit"])
    done = run(["query", "lineage", "--type", "prov_L3", "--data-id", data_id, "--json"], neo4j_settings)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["start"] == [final.id] and len(answer["quanta"]) == 4
    # --json gives data IDs as JSON objects, never as JSON text inside JSON.
    [start] = [d for d in answer["datasets"] if d["id"] == final.id]
    assert start["data_id"] == {"instrument": "Cam", "visit": final.data_id["visit"]}
    assert all(isinstance(n["data_id"], dict) for n in answer["quanta"] + answer["datasets"])
    table = run(["query", "lineage", final.id, "--stop-task", "task2"], neo4j_settings)
    assert "task2" in table.stdout and "task1" not in table.stdout
    raw = next(r for r in graph.datasets.values() if r.dataset_type.name == "prov_raw")
    cypher = run(["query", "impact", raw.id, "--depth", "2", "--json", "--cypher"], neo4j_settings)
    assert "ANY SHORTEST" in cypher.stdout and "max_levels: 2" in cypher.stdout
    [pasted] = paste_into_browser(store, cypher.stdout)
    impact = downstream(store, raw.id, depth=2)
    want = {d: n.level for d, n in impact.datasets.items()}, {q: n.level for q, n in impact.quanta.items()}
    assert levels(pasted) == want and len(want[1]) == 3  # task1, then both task2 quanta
    [task3] = [q for q in graph.quanta.values() if q.task_label == "task3"]
    deps = run(["query", "deps", task3.id, "--json"], neo4j_settings)
    parents = json.loads(deps.stdout)["parents"]
    assert {p["task"] for p in parents} == {"task2"}
    assert {p["data_id"]["instrument"] for p in parents} == {"Cam"}
    # A table shows the human form; the instrument, the same in every row, is said once.
    table = run(["query", "deps", task3.id], neo4j_settings)
    parent_rows = [line for line in table.stdout.splitlines() if "task2" in line]
    assert len(parent_rows) == 2 and all(" visit=" in row for row in parent_rows), table.stdout
    assert "instrument" not in " ".join(parent_rows) and '{"' not in table.stdout
    assert "data IDs of instrument=Cam" in table.stdout
    visit = task3.data_id["visit"]
    history = run(["query", "history", f"instrument=Cam visit={visit}"], neo4j_settings)  # typed as printed
    assert history.returncode == 0, history.stderr
    assert f" visit={visit} " in history.stdout and "task3" in history.stdout
    bad = run(["query", "history", "instrument=Cam visit"], neo4j_settings)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith(
        "error: cannot read data ID 'instrument=Cam visit': 'visit' is not dimension=value"
    )
    overview = run(["query", "overview", graph.plan.id], neo4j_settings)
    assert "initial inputs" in overview.stdout and "prov_raw" in overview.stdout
    missing = run(
        ["query", "lineage", "--type", "prov_L3", "--data-id", "instrument=Cam,visit=999"], neo4j_settings
    )
    assert missing.returncode == 1 and "no prov_L3 dataset with data ID" in missing.stderr


def test_subgraph_diff_missing_history_and_prov(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    old = _diamond(namespace)
    # The new plan: task1's quantum reads a second raw, and one more task3 quantum.
    shape = [(0, [], 2), (1, [0, 1], 2), (2, [2], 1), (2, [3], 1), (3, [4, 5], 1), (3, [4], 1)]
    new = build(shape, f"{namespace}-diamond2", f"{namespace}/diamond2")
    for graph in (old, new):
        write_plan(store, graph)

    part = subgraph(store, old.plan.id, tasks=["task2"])
    assert part.graph.task_counts() == {"task2": 2}
    assert part.external_inputs == {"prov_L1": 2}  # what task2 needs from outside the pull

    diff = plan_diff(store, old.plan.id, new.plan.id)
    assert diff.added == [("task3", '{"instrument":"Cam","visit":4}')]
    assert diff.removed == []
    changed = {(task, data_id) for task, data_id, _gone, _came in diff.changed}
    assert ("task1", '{"instrument":"Cam","visit":0}') in changed  # it reads one more raw
    assert not plan_diff(store, old.plan.id, old.plan.id).changed
    back = plan_diff(store, new.plan.id, old.plan.id)  # the other way round: each side swaps
    assert (back.added, back.removed) == (diff.removed, diff.added)
    assert back.changed == [(t, d, came, gone) for t, d, gone, came in diff.changed]
    done = run(["query", "diff", old.plan.id, new.plan.id, "--json"], neo4j_settings)
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert cli["added"] == [{"task": "task3", "data_id": {"instrument": "Cam", "visit": 4}}]
    [task1] = [c for c in cli["changed"] if c["task"] == "task1"]
    assert task1["data_id"] == {"instrument": "Cam", "visit": 0}
    assert ("in", "prov_raw") in [(x["side"], x["dataset_type"]) for x in task1["only_new"]]
    assert isinstance(task1["only_new"][0]["data_id"], dict)
    lines = run(["query", "diff", old.plan.id, new.plan.id], neo4j_settings).stdout.splitlines()
    assert "+ task3 instrument=Cam visit=4" in lines

    missing = missing_outputs(store, old.plan.id)
    assert sum(r["datasets"] for r in missing) == sum(len(q.outputs) for q in old.quanta.values())
    assert {r["status"] for r in missing} == {"pending"}

    history = data_id_history(store, {"instrument": "Cam", "visit": 0})
    assert {(r["plan_id"], r["task"]) for r in history} == {(old.plan.id, "task1"), (new.plan.id, "task1")}

    document = prov_document(store, old.plan.id)
    parsed = ProvDocument.deserialize(content=serialize_prov(document, "json"), format="json")
    records = parsed.get_records()
    kinds: dict[str, int] = {}
    for record in records:
        kinds[type(record).__name__] = kinds.get(type(record).__name__, 0) + 1
    assert kinds["ProvActivity"] == len(old)
    assert kinds["ProvEntity"] == len(old.datasets) + 1  # and the plan
    assert kinds["ProvUsage"] == sum(len(q.inputs) for q in old.quanta.values())
    assert kinds["ProvGeneration"] == sum(len(q.outputs) for q in old.quanta.values())
    assert "wasGeneratedBy(" in serialize_prov(document, "provn")


def test_params_lines_are_cypher_literals_of_the_values(store: GraphStore) -> None:
    """What --cypher prints after ':params' evaluates, in Neo4j, to exactly the parameters."""
    from provenance_graph.cli.query import cypher_literal

    value = {
        "plain": ["a'b", 'q"uote', "back`tick", "new\nline", "ünï", "{brace}", "MATCH (n) DETACH DELETE n"],
        "odd key`s": {"visit": [1, 2], "x y": None, "ok": True, "f": 1.5},
        "empty": [],
    }
    with store.session() as session:
        got = session.run(f"RETURN {cypher_literal(value)} AS v").single()["v"]  # type: ignore[index]
    assert got == value


def test_every_cypher_printout_pasted_into_browser_gives_the_cli_answer(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str
) -> None:
    """Issue 5's 'done when': each question's --cypher, run as Browser runs it, answers as the CLI does."""
    graph = _diamond(namespace)
    write_plan(store, graph)
    plan_id = graph.plan.id
    by_type = {r.dataset_type.name: r for r in graph.datasets.values()}
    [task3] = [q for q in graph.quanta.values() if q.task_label == "task3"]

    def pasted(*args: str) -> list[list[dict]]:  # type: ignore[type-arg]
        printed = run(["query", *args, "--cypher"], neo4j_settings)
        assert printed.returncode == 0, printed.stderr
        return paste_into_browser(store, printed.stdout)

    def answered(*args: str) -> Any:
        done = run(["query", *args, "--json"], neo4j_settings)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    [lineage] = pasted("lineage", by_type["prov_L3"].id, "--stop-task", "task2", "--json")
    cli = answered("lineage", by_type["prov_L3"].id, "--stop-task", "task2")
    assert levels(lineage) == (
        {d["id"]: d["level"] for d in cli["datasets"]},
        {q["id"]: q["level"] for q in cli["quanta"]},
    )
    [counts] = pasted("lineage", by_type["prov_L3"].id, "--stop-task", "task2")  # what the table shows
    assert {(r["name"], r["n"]) for r in counts if r["kind"] == "quantum"} == {("task2", 2), ("task3", 1)}
    assert sum(r["n"] for r in counts if r["kind"] == "dataset") == len(cli["datasets"])

    [from_quantum] = pasted("impact", "--quantum", task3.id, "--json")  # starts at its outputs
    cli = answered("impact", "--quantum", task3.id)
    assert levels(from_quantum)[0] == {d["id"]: d["level"] for d in cli["datasets"]} and cli["datasets"]

    [deps] = pasted("deps", task3.id)
    cli = answered("deps", task3.id)
    assert [p[0] for p in deps[0]["parents"]] == [p["id"] for p in cli["parents"]] and len(
        cli["parents"]
    ) == 2
    assert deps[0]["children"] == cli["children"] == []

    tasks, inputs, outputs = pasted("overview", plan_id)
    cli = answered("overview", plan_id)
    assert {(r["task"], s, n) for r in tasks for s, n in r["counts"].items() if n} == {
        (t, s, n) for t, counts in cli["tasks"].items() for s, n in counts.items()
    }
    assert {r["dataset_type"]: [r["datasets"], r["existing"]] for r in inputs} == cli["initial_inputs"]
    assert {r["dataset_type"]: [r["datasets"], r["existing"]] for r in outputs} == cli["final_outputs"]

    [missing] = pasted("missing", plan_id)
    assert missing == answered("missing", plan_id) and len(missing) == 3  # one row per task and type

    visit = str(task3.data_id["visit"])
    [history] = pasted("history", f"visit={visit}")
    cli = answered("history", f"visit={visit}")
    assert [r["quantum_id"] for r in history] == [r["quantum_id"] for r in cli] and len(cli) >= 1

    [part] = pasted("subgraph", plan_id, "--task", "task2")
    cli = answered("subgraph", plan_id, "--task", "task2")
    assert (
        sorted(q[0] for row in part for q in row["quanta"]) == cli["quantum_ids"]
        and len(cli["quantum_ids"]) == 2
    )


def test_quanta_of_an_unfinished_plan_are_invisible_to_every_walk(store: GraphStore, namespace: str) -> None:
    """A plan being written (or left half-written by a crash) shows up in no lineage, impact or deps."""
    graph = _diamond(namespace)
    write_plan(store, graph)
    raw = next(r for r in graph.datasets.values() if r.dataset_type.name == "prov_raw")
    final = next(r for r in graph.datasets.values() if r.dataset_type.name == "prov_L3")
    [task1] = [q for q in graph.quanta.values() if q.task_label == "task1"]

    def seen() -> tuple[int, ...]:
        return (
            len(downstream(store, raw.id).quanta),
            len(downstream(store, raw.id, depth=2).quanta),
            len(upstream(store, final.id).quanta),
            lineage_summary(store, "upstream", final.id).quanta,
            len(dependencies(store, task1.id)[1]),
        )

    assert seen() == (4, 3, 4, 4, 2)
    with store.session() as session:  # as if its writer were still at work, or had died
        session.run("MATCH (p:Plan {id: $id}) SET p.status = 'writing'", id=graph.plan.id).consume()
    assert seen() == (0, 0, 0, 0, 0)
    with store.session() as session:
        session.run("MATCH (p:Plan {id: $id}) SET p.status = 'complete'", id=graph.plan.id).consume()
    assert seen() == (4, 3, 4, 4, 2)
