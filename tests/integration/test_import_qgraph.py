"""``provgraph import-qgraph``: a QuantumGraph from lsst-pipe-base, stored, answers as pipe_base does.

A DRP-shaped graph is built with pipe_base's mock tasks, written to a ``.qg``
file and imported with the real command. Cypher on the real database must then
give pipe_base's own answers: quanta per task, the datasets, the
quantum-to-quantum dependencies, and the upstream quanta of a final output.
Quanta and datasets are matched by (task label or dataset type, required data
ID), since our ids are not pipe_base's UUIDs.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx
import pytest

from provenance_graph.errors import ConfigurationError, InvalidNameError, PlanFileError
from provenance_graph.interop import LSST_INSTALL_HINT, load_quantum_graph
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, write_plan
from tests.integration.test_cli import run

#: (task label or dataset type, required data ID as a frozenset of items).
Key = tuple[str, frozenset[tuple[str, Any]]]


def key(name: str, data_id: Mapping[str, Any]) -> Key:
    return name, frozenset(data_id.items())


def stored_key(name: str, data_id_json: str) -> Key:
    return key(name, json.loads(data_id_json))


class PipeBaseAnswers:
    """The graph as pipe_base reads it, keyed like the stored one."""

    def __init__(self, path: Path) -> None:
        from lsst.pipe.base.pipeline_graph import TaskImportMode
        from lsst.pipe.base.quantum_graph import PredictedQuantumGraph

        with PredictedQuantumGraph.open(path, import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
            reader.read_all()
            self.qg = reader.finish()
        xq = self.qg.quantum_only_xgraph
        self.quantum_key = {
            qid: key(info["task_label"], dict(info["data_id"].required)) for qid, info in xq.nodes.items()
        }

    def quanta_per_task(self) -> dict[str, int]:
        return {label: len(quanta) for label, quanta in self.qg.quanta_by_task.items() if quanta}

    def datasets(self) -> set[Key]:
        xb = self.qg.bipartite_xgraph
        return {
            key(info["dataset_type_name"], dict(info["data_id"].required))
            for info in (xb.nodes[n] for n in xb)
            if "dataset_type_name" in info
        }

    def dependencies(self) -> set[tuple[Key, Key]]:
        return {(self.quantum_key[a], self.quantum_key[b]) for a, b in self.qg.quantum_only_xgraph.edges}

    def upstream(self, dataset_type: str) -> tuple[Key, set[Key]]:
        """A dataset of ``dataset_type`` (the first by data ID) and its producer with all its ancestors."""
        data_id, dataset_id = min(self.qg.datasets_by_type[dataset_type].items(), key=lambda kv: str(kv[0]))
        (producer,) = self.qg.bipartite_xgraph.predecessors(dataset_id)
        quanta = networkx.ancestors(self.qg.quantum_only_xgraph, producer) | {producer}
        return key(dataset_type, dict(data_id.required)), {self.quantum_key[q] for q in quanta}


@pytest.fixture
def drp_qgraph(tmp_path: Path, namespace: str) -> tuple[Path, str, str]:
    """A DRP-shaped ``.qg`` whose runs start with the test's namespace: (file, output run, where)."""
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    from tests.lsst_graphs import build_drp_graph

    built = build_drp_graph(
        tmp_path / "drp.qg", input_run=f"{namespace}/inputs", output_run=f"{namespace}/run"
    )
    return built.path, built.output_run, built.where


def cypher(store: GraphStore, query: str, **params: Any) -> list[dict[str, Any]]:
    with store.session() as session:
        return [record.data() for record in session.run(query, **params)]


def test_import_qgraph_matches_pipe_base(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    drp_qgraph: tuple[Path, str, str],
) -> None:
    path, output_run, where = drp_qgraph
    plan_id = f"{namespace}-qgraph"
    expected = PipeBaseAnswers(path)
    assert 100 <= len(expected.qg) <= 500, "keep the test graph small and fast"

    done = run(["import-qgraph", str(path), "--plan-id", plan_id], neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert f"plan:        {plan_id}" in done.stdout
    assert f"quanta: {len(expected.qg)}" in done.stdout
    assert "qg_forcedPhotCcd" in done.stdout

    [header] = cypher(
        store,
        "MATCH (p:Plan {id: $plan_id}) RETURN p.status AS status, p.output_run AS output_run, "
        "p.constraints AS constraints, p.metadata_json AS metadata",
        plan_id=plan_id,
    )
    assert header["status"] == "complete"
    assert header["output_run"] == output_run
    assert header["constraints"] == where
    metadata = json.loads(header["metadata"])
    assert metadata["source"] == "lsst-pipe-base"
    assert metadata["file"] == str(path.resolve())

    # Quanta per task.
    rows = cypher(
        store,
        "MATCH (q:Quantum {plan_id: $plan_id}) RETURN q.task AS task, count(*) AS n",
        plan_id=plan_id,
    )
    assert {r["task"]: r["n"] for r in rows} == expected.quanta_per_task()

    # The datasets the plan reads or writes (init-inputs/outputs are not in either).
    rows = cypher(
        store,
        "MATCH (:Quantum {plan_id: $plan_id})-[:CONSUMES|PRODUCES]->(d:Dataset) "
        "RETURN DISTINCT d.dataset_type AS type, d.data_id AS data_id",
        plan_id=plan_id,
    )
    stored_datasets = {stored_key(r["type"], r["data_id"]) for r in rows}
    assert len(stored_datasets) == len(rows), "one node per (dataset type, data ID)"
    assert stored_datasets == expected.datasets()

    # Quantum -> quantum dependencies, derived through datasets.
    rows = cypher(
        store,
        "MATCH (q:Quantum {plan_id: $plan_id})-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(p:Quantum) "
        "RETURN DISTINCT p.task AS p_task, p.data_id AS p_data_id, q.task AS q_task, q.data_id AS q_data_id",
        plan_id=plan_id,
    )
    stored_edges = {
        (stored_key(r["p_task"], r["p_data_id"]), stored_key(r["q_task"], r["q_data_id"])) for r in rows
    }
    assert stored_edges == expected.dependencies()
    assert len(stored_edges) > len(expected.qg), "the graph has many-to-one and one-to-many edges"

    # Everything upstream of one final output, by a variable-length traversal in the graph.
    (target_type, target_data_id), upstream = expected.upstream("qg_forced_src")
    rows = cypher(
        store,
        "MATCH (d:Dataset {dataset_type: $type})<-[:PRODUCES]-(producer:Quantum {plan_id: $plan_id}) "
        "WHERE d.data_id = $data_id "
        "MATCH (producer) ((:Quantum)-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(:Quantum))* (u:Quantum) "
        "RETURN DISTINCT u.task AS task, u.data_id AS data_id",
        plan_id=plan_id,
        type=target_type,
        data_id=json.dumps(dict(sorted(target_data_id)), separators=(",", ":")),
    )
    stored_upstream = {stored_key(r["task"], r["data_id"]) for r in rows}
    assert stored_upstream == upstream
    tasks_upstream = {task for task, _ in upstream}
    assert {"qg_isr", "qg_makeWarp", "qg_assembleCoadd", "qg_consolidateObjectTable"} <= tasks_upstream


def test_import_qgraph_defaults_to_the_output_run_and_is_idempotent(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, drp_qgraph: tuple[Path, str, str]
) -> None:
    path, output_run, _ = drp_qgraph
    done = run(["import-qgraph", str(path)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert f"plan:        {output_run}" in done.stdout, "the plan id defaults to the output run"
    assert "(written," in done.stderr
    # Reading the same file again gives the same plan (header time included): nothing to write.
    again = write_plan(store, load_quantum_graph(path))
    assert (again.plan_id, again.outcome) == (output_run, "unchanged")
    # A bad id is the caller's error, not the file's.
    with pytest.raises(InvalidNameError, match="'no spaces please'"):
        load_quantum_graph(path, plan_id="no spaces please")


def test_import_qgraph_over_another_plan_names_the_options_and_what_differs(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, drp_qgraph: tuple[Path, str, str]
) -> None:
    path, output_run, _ = drp_qgraph
    plan_id = f"{namespace}-taken"
    raw = DatasetType(name="taken_in", dimensions=("instrument", "visit"), storage_class="StructuredData")
    out = DatasetType(name="taken_out", dimensions=("instrument", "visit"), storage_class="StructuredData")
    data_id = DataId({"instrument": "Cam", "visit": 1})
    tiny_run = f"{namespace}/tiny"
    quantum = Quantum(
        task_label="calibrate",
        data_id=data_id,
        run=tiny_run,
        inputs=(DatasetRef(dataset_type=raw, data_id=data_id, run=f"{namespace}/raw"),),
        outputs=(DatasetRef(dataset_type=out, data_id=data_id, run=tiny_run),),
    )
    write_plan(store, PlanGraph(Plan(id=plan_id, output_run=tiny_run), [quantum]))
    done = run(["import-qgraph", str(path), "--plan-id", plan_id], neo4j_settings)
    assert done.returncode == 1
    error = done.stderr.strip().splitlines()[-2]
    assert error.startswith(f"error: plan {plan_id!r} is already stored with different content: ")
    assert "the stored plan has 1 quanta, this one " in error
    assert f"output run {tiny_run!r} stored, {output_run!r} here" in error
    hint = done.stderr.strip().splitlines()[-1]
    assert "--plan-id" in hint and "--replace" in hint
    assert "write_plan" not in done.stderr
    assert (
        run(["import-qgraph", str(path), "--plan-id", plan_id, "--replace"], neo4j_settings).returncode == 0
    )


# --- without a database --------------------------------------------------------------------


def test_a_file_that_is_not_a_qgraph_is_a_plan_file_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.qg"
    text.write_text("not a quantum graph\n")
    with pytest.raises(PlanFileError, match=r"notes\.qg is not a QuantumGraph file"):
        load_quantum_graph(text)
    with pytest.raises(PlanFileError, match=r"no QuantumGraph file .*missing\.qg"):
        load_quantum_graph(tmp_path / "missing.qg")


def test_a_zip_that_is_not_a_qgraph_is_a_plan_file_error(tmp_path: Path) -> None:
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    other = tmp_path / "other.qg"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "a zip, but no quantum graph")
    with pytest.raises(PlanFileError, match=r"cannot read QuantumGraph file .*other\.qg"):
        load_quantum_graph(other)


def test_without_lsst_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive_path = tmp_path / "graph.qg"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("header.json.zst", b"")
    # A None entry in sys.modules makes the import fail as if lsst were not installed.
    monkeypatch.setitem(sys.modules, "lsst.pipe.base.quantum_graph", None)
    with pytest.raises(ConfigurationError) as caught:
        load_quantum_graph(archive_path)
    assert caught.value.hint == LSST_INSTALL_HINT


# --- the Butler's identity (schema version 7) ---------------------------------------------


@pytest.fixture
def two_butlers(tmp_path: Path, namespace: str) -> tuple[Any, Any]:
    """Two real on-disk Butler repositories with the same collections, raws and biases."""
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    from tests.support.butler import make_butler_repo

    return (
        make_butler_repo(tmp_path / "repo_a", prefix=namespace),
        make_butler_repo(tmp_path / "repo_b", prefix=namespace),
    )


def test_two_butlers_with_the_same_run_type_and_data_id_give_two_nodes_and_impact_stays_in_one(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    two_butlers: tuple[Any, Any],
) -> None:
    from provenance_graph.model import repository_uri
    from provenance_graph.store.plan_questions import plan_overview
    from provenance_graph.store.provenance import downstream
    from tests.support.butler import build_qgraph

    repo_a, repo_b = two_butlers
    output_run = f"{namespace}/run"  # the same output run in both repositories
    graph_a = build_qgraph(repo_a, tmp_path / "a.qg", output_run=output_run)
    # As if made elsewhere: the recorded -b does not exist here.
    graph_b = build_qgraph(repo_b, tmp_path / "b.qg", output_run=output_run, butler_argument="/nowhere/repo")
    uri_a, uri_b = repository_uri(repo_a.root), repository_uri(repo_b.root)

    # --butler names a butler.yaml (canonicalised to the root) through a symbolic link.
    link = tmp_path / "link_b"
    link.symlink_to(repo_b.root)
    done_a = run(["import-qgraph", str(graph_a), "--plan-id", f"{namespace}-a"], neo4j_settings)
    done_b = run(
        ["import-qgraph", str(graph_b), "--plan-id", f"{namespace}-b", "-b", str(link / "butler.yaml")],
        neo4j_settings,
    )
    for done in (done_a, done_b):
        assert done.returncode == 0, done.stderr
        assert "warning" not in done.stderr
    assert f"repository:  {uri_a}" in done_a.stdout, "the recorded butler_argument opens here"
    assert f"repository:  {uri_b}" in done_b.stdout, "the link is resolved, butler.yaml names its root"

    plans = cypher(
        store,
        "MATCH (p:Plan) WHERE p.id IN $ids RETURN p.id AS id, p.repository AS repository",
        ids=[f"{namespace}-a", f"{namespace}-b"],
    )
    assert {r["id"]: r["repository"] for r in plans} == {f"{namespace}-a": uri_a, f"{namespace}-b": uri_b}

    # The same raw (run, type, data ID) of the two Butlers: two nodes, each with its UUID, existing.
    raw_data_id = json.dumps({"detector": 1, "instrument": "Cam1", "visit": 1}, separators=(",", ":"))
    raws = cypher(
        store,
        "MATCH (d:Dataset {dataset_type: 'raw', run: $run}) WHERE d.data_id = $data_id "
        "RETURN d.id AS id, d.repository AS repository, d.butler_id AS butler_id, d.exists AS exists",
        run=repo_a.input_run,
        data_id=raw_data_id,
    )
    assert sorted(r["repository"] for r in raws) == sorted([uri_a, uri_b])
    assert len({r["id"] for r in raws}) == 2 and len({r["butler_id"] for r in raws}) == 2
    assert all(r["exists"] is True for r in raws)
    # Quanta of the same run, task and data ID are two as well, each with its pipe_base UUID.
    [quanta] = cypher(
        store,
        "MATCH (q:Quantum {task: 'isr', run: $run}) WHERE q.plan_id IN $plans "
        "RETURN count(q) AS n, count(DISTINCT q.butler_id) AS uuids",
        run=output_run,
        plans=[f"{namespace}-a", f"{namespace}-b"],
    )
    assert quanta == {"n": 8, "uuids": 8}

    # Overall inputs found in the Butler count as existing (raws of visit 1, every bias).
    overview = plan_overview(store, f"{namespace}-a")
    assert overview.initial_inputs == {"mock_bias": (4, 4), "raw": (4, 4)}

    # Impact of one repository's raw stays in that repository's plan.
    raw_a = next(r["id"] for r in raws if r["repository"] == uri_a)
    reached = downstream(store, raw_a)
    assert reached.quanta
    assert {q.plan_id for q in reached.quanta.values()} == {f"{namespace}-a"}

    # The Butler ids round-trip through read_plan and the plan file.
    from provenance_graph.planfile import load_plan, save_plan
    from provenance_graph.store import read_plan

    stored = read_plan(store, f"{namespace}-a")
    assert stored.plan.repository == uri_a
    assert all(q.butler_id and q.repository == uri_a for q in stored.quanta.values())
    assert all(r.butler_id for r in stored.datasets.values())
    save_plan(stored, tmp_path / "a.json.gz")
    back = load_plan(tmp_path / "a.json.gz")
    assert back == stored and back.digest() == stored.digest()


def test_without_a_repository_the_import_warns_once_and_keeps_the_old_ids(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    from provenance_graph.model import dataset_id
    from tests.support.butler import build_qgraph, make_butler_repo, prefixed_pipeline

    # Unscoped dataset types are one per name in the database: keep them this test's own.
    pipeline = prefixed_pipeline(tmp_path / "pipeline.yaml", f"{namespace}_")
    repo = make_butler_repo(tmp_path / "repo", prefix=namespace, pipeline=pipeline)
    path = build_qgraph(
        repo, tmp_path / "g.qg", output_run=f"{namespace}/run", pipeline=pipeline, butler_argument="main"
    )
    done = run(["import-qgraph", str(path), "--plan-id", f"{namespace}-x"], neo4j_settings)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "cannot be told apart from other repositories'" in warnings[0] and "--butler" in warnings[0]
    assert "repository:  (unknown)" in done.stdout
    graph = load_quantum_graph(path)
    assert graph.plan.repository is None and not graph.existing
    raw = next(r for r in graph.initial_inputs() if r.dataset_type.name == f"{namespace}_raw")
    assert raw.id == dataset_id(raw.run, raw.dataset_type.name, raw.data_id.key()), "today's formula"
    assert raw.butler_id is not None
    try:
        # A --butler that does not exist is a one-line error naming it.
        missing = run(["import-qgraph", str(path), "--butler", str(tmp_path / "nope")], neo4j_settings)
        assert missing.returncode != 0
        assert "no Butler repository at" in missing.stderr and "nope" in missing.stderr
        assert "Traceback" not in missing.stderr
    finally:
        from provenance_graph.store import delete_plan

        delete_plan(store, f"{namespace}-x")
        cypher(
            store, "MATCH (t:DatasetType) WHERE t.key STARTS WITH $prefix DELETE t", prefix=f"{namespace}_"
        )


def test_a_mock_graphs_dataset_types_do_not_block_another_repositorys_pipeline(
    store: GraphStore, namespace: str, tmp_path: Path, two_butlers: tuple[Any, Any]
) -> None:
    from provenance_graph.synthetic import drp_plan
    from tests.support.butler import build_qgraph

    repo_a, _ = two_butlers
    imported = load_quantum_graph(
        build_qgraph(repo_a, tmp_path / "g.qg", output_run=f"{namespace}/mock"), butler=repo_a.root
    )
    assert imported.dataset_types["calexp"].storage_class == "_mock_StructuredDataDict"
    ours = drp_plan(1, 2, patches=1, bands=1, output_run=f"{namespace}/ours", plan_id=f"{namespace}-ours")
    assert ours.dataset_types["calexp"] != imported.dataset_types["calexp"]
    # Either order: each is stored in its own scope.
    assert write_plan(store, ours).outcome == "written"
    assert write_plan(store, imported).outcome == "written"
    types = cypher(
        store,
        "MATCH (t:DatasetType {name: 'calexp'}) WHERE t.repository = $repo OR t.repository IS NULL "
        "RETURN t.key AS key, t.storage_class AS storage_class",
        repo=imported.plan.repository,
    )
    assert {r["key"]: r["storage_class"] for r in types} == {
        "calexp": ours.dataset_types["calexp"].storage_class,
        f"{imported.plan.repository} calexp": "_mock_StructuredDataDict",
    }
    from provenance_graph.store import read_plan

    assert (
        read_plan(store, imported.plan.id).dataset_types["calexp"].storage_class == "_mock_StructuredDataDict"
    )
