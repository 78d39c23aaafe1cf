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
