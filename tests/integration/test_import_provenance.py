"""``provgraph import-provenance``: what a real ``pipetask run`` did, as ``pipetask report`` tells it.

A real Butler repository (SQLite registry, file datastore) is built with pipe_base's mock tasks
(``tests/provenance_pipeline.yaml``: six tasks, a prerequisite calibration, many-to-one gathers).
Then, with the real commands: ``pipetask qgraph`` with one quantum made to fail (a mock
``fail_condition`` gated by ``memory_required``, so the same graph can succeed on a rerun with
more memory) -> ``provgraph import-qgraph`` -> ``pipetask run`` -> ``butler aggregate-graph`` ->
``provgraph import-provenance``. The stored statuses per task must equal ``pipetask report
--force-v2``'s; the failed quantum keeps its exception, its dependants are blocked; importing
again changes nothing; a second ``pipetask run`` that fixes the failure is a second execution.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provenance_graph.errors import ConfigurationError, PlanFileError
from provenance_graph.interop import LSST_INSTALL_HINT, load_provenance_graph
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from provenance_graph.store.execution import status_counts
from tests.integration.test_cli import run

BIN = Path(sys.executable).parent
PIPELINE = Path(__file__).parents[1] / "provenance_pipeline.yaml"
INPUTS = "Cam1/defaults"
#: calibrate fails on one (visit, detector) when it gets less than 4 GB: 1 GB in the first run.
FAILURE = [
    "-c",
    "pv_calibrate:fail_condition=visit > 1 AND detector IN (3)",
    "-c",
    "pv_calibrate:memory_required=4GB",
]


def make_repo(root: Path) -> None:
    """A Butler repository with daf_butler's test dimensions, ``pv_raw`` and a certified ``pv_mock_bias``.

    Prototype of the shared builder (``tests/support/butler.py``, being written on another branch).
    """
    from lsst.daf.butler import Butler, CollectionType, DatasetRef, Timespan
    from lsst.pipe.base import Pipeline
    from lsst.pipe.base.tests.mocks import DirectButlerRepo, MockDataset

    config = Butler.makeRepo(str(root))
    with Butler.from_config(config, writeable=True) as butler:
        repo = DirectButlerRepo(
            butler,
            "base.yaml",
            "spatial.yaml",
            input_run="Cam1/raw/all",
            input_chain=INPUTS,
            use_import_collections_as_input=False,
        )
        pipeline_graph = Pipeline.from_uri(str(PIPELINE)).to_graph(registry=butler.registry)
        repo.pipeline_graph = pipeline_graph
        repo.insert_datasets("pv_raw")
        bias_type = pipeline_graph.dataset_types["pv_mock_bias"].dataset_type
        butler.registry.registerDatasetType(bias_type)
        butler.collections.register("Cam1/calib/bias")
        butler.collections.register("Cam1/calib", CollectionType.CALIBRATION)
        refs = []
        for data_id in butler.query_data_ids(
            ["instrument", "detector"], with_dimension_records=True, explain=False
        ):
            ref = DatasetRef(bias_type, data_id, run="Cam1/calib/bias")
            mock = MockDataset(
                dataset_id=ref.id,
                dataset_type=bias_type.to_simple(),
                data_id=dict(ref.dataId.mapping),
                run=ref.run,
            )
            butler.put(mock, ref)
            refs.append(ref)
        butler.registry.certify("Cam1/calib", refs, Timespan(None, None))
        butler.collections.extend_chain(INPUTS, ["Cam1/calib"])


def lsst(command: str, *args: str, expect: int = 0, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(BIN / command), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
        check=False,
    )
    assert done.returncode == expect, (
        f"{command} {' '.join(args)}: rc {done.returncode}\n{done.stderr[-3000:]}"
    )
    return done


def report_counts(path: Path) -> dict[str, dict[str, int]]:
    """``pipetask report --force-v2`` per-task counts, in our status names."""
    tasks = json.loads(path.read_text())["tasks"]
    names = {
        "n_successful": "succeeded",
        "n_failed": "failed",
        "n_blocked": "blocked",
        "n_unknown": "pending",
    }
    return {
        label: {ours: t[theirs] for theirs, ours in names.items() if t[theirs]} for label, t in tasks.items()
    }


def cypher(store: GraphStore, query: str, **params: Any) -> list[dict[str, Any]]:
    with store.session() as session:
        return [record.data() for record in session.run(query, **params)]


def graph_size(store: GraphStore) -> tuple[int, int]:
    [row] = cypher(store, "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS n, count(r) AS r")
    return row["n"], row["r"]


@dataclass
class Rubin:
    """The repository, the graph and where the commands run."""

    repo: Path
    work: Path
    graph: Path
    output_run: str

    def run(self, *extra: str, expect: int) -> None:
        lsst(
            "pipetask",
            "run",
            "-b",
            str(self.repo),
            "-g",
            str(self.graph),
            "-j",
            "1",
            *extra,
            expect=expect,
            cwd=self.work,
        )

    def aggregate(self, name: str) -> Path:
        out = self.work / name
        lsst(
            "butler",
            "aggregate-graph",
            str(self.graph),
            str(self.repo),
            "-o",
            str(out),
            "--mock-storage-classes",
            cwd=self.work,
        )
        return out

    def report(self, name: str) -> dict[str, dict[str, int]]:
        out = self.work / name
        lsst(
            "pipetask",
            "report",
            str(self.repo),
            str(self.graph),
            "--force-v2",
            "--full-output-filename",
            str(out),
            cwd=self.work,
        )
        return report_counts(out)


@pytest.fixture
def rubin(tmp_path: Path, namespace: str) -> Rubin:
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    repo = tmp_path / "repo"
    make_repo(repo)
    output_run = f"{namespace}/run"
    graph = tmp_path / "G.qg"
    lsst(
        "pipetask",
        "qgraph",
        "-b",
        str(repo),
        "-p",
        str(PIPELINE),
        "-i",
        INPUTS,
        "-o",
        f"u/{namespace}",
        "--output-run",
        output_run,
        *FAILURE,
        "--qgraph-datastore-records",
        "--save-qgraph",
        str(graph),
        cwd=tmp_path,
    )
    return Rubin(repo, tmp_path, graph, output_run)


def test_import_provenance_gives_pipetask_reports_counts(
    store: GraphStore, neo4j_settings: ConnectionSettings, rubin: Rubin
) -> None:
    plan = rubin.output_run
    done = run(["import-qgraph", str(rubin.graph)], neo4j_settings)
    assert done.returncode == 0, done.stderr

    # First run: one calibrate quantum fails (1 GB < 4 GB), its dependants are blocked.
    rubin.run("--register-dataset-types", "--memory-per-quantum", "1GB", expect=1)
    first = rubin.aggregate("P1.qg")
    expected = rubin.report("r1.json")
    assert expected["pv_calibrate"] == {"succeeded": 7, "failed": 1}

    done = run(["import-provenance", str(first)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert "recorded 32 quanta" in done.stderr
    assert "failed pv_calibrate visit=2 detector=3: ValueError: Simulated failure" in done.stdout
    assert status_counts(store, plan) == expected

    [failed] = cypher(
        store,
        "MATCH (q:Quantum:Failed {plan_id: $plan})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.lsst_status AS lsst_status, a.number AS number, "
        "a.status AS status, a.exception_type AS type, a.exception_message AS message, a.error AS error, "
        "a.exit_status AS exit_status, a.started AS started, a.duration_s AS duration, a.run_time_s AS run_time, "
        "a.cpu_time_s AS cpu, a.peak_rss_mb AS rss, a.execution_id AS execution_id",
        plan=plan,
    )
    assert (failed["task"], json.loads(failed["data_id"])) == (
        "pv_calibrate",
        {"instrument": "Cam1", "visit": 2, "detector": 3},
    )
    assert (failed["lsst_status"], failed["number"], failed["status"], failed["exit_status"]) == (
        "FAILED",
        1,
        "failed",
        1,
    )
    assert failed["type"] == "ValueError"
    assert failed["message"].startswith("Simulated failure: task=pv_calibrate")
    assert failed["error"].startswith("ValueError: Simulated failure")
    assert failed["started"] is not None and failed["duration"] >= failed["run_time"] >= 0
    assert failed["cpu"] >= 0 and failed["rss"] > 10

    blocked = cypher(
        store,
        "MATCH (q:Quantum:Blocked {plan_id: $plan}) RETURN q.task AS task, q.blocked_by AS by, "
        "EXISTS { (q)-[:HAS_ATTEMPT]->() } AS attempted",
        plan=plan,
    )
    assert sorted(b["task"] for b in blocked) == [
        "pv_analyzeVisit",
        "pv_consolidateSourceTable",
        "pv_consolidateVisitSummary",
        "pv_makeCoadd",
        "pv_makeCoadd",
    ]
    assert all(b["by"] == failed["id"] and not b["attempted"] for b in blocked)
    [succeeded] = cypher(
        store,
        "MATCH (q:Quantum:Succeeded {plan_id: $plan, task: 'pv_isr'})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN count(*) AS n, min(a.peak_rss_mb) AS rss, min(a.cpu_time_s) AS cpu",
        plan=plan,
    )
    assert succeeded["n"] == 8 and succeeded["rss"] > 10 and succeeded["cpu"] > 0
    [execution] = cypher(
        store,
        "MATCH (e:Execution {plan_id: $plan})-[:EXECUTES]->(:Plan {id: $plan}) RETURN e.id AS id, e.status AS status, "
        "e.activator AS activator, e.counts_json AS counts, e.started AS started, e.ended AS ended",
        plan=plan,
    )
    assert (execution["status"], execution["activator"]) == ("failed", "lsst-provenance")
    assert json.loads(execution["counts"]) == {"succeeded": 26, "failed": 1, "blocked": 5}
    assert execution["id"] == failed["execution_id"] and execution["started"] < execution["ended"]

    # The same file again (and a copy of it): nothing changes.
    before = graph_size(store)
    again = run(["import-provenance", str(first)], neo4j_settings)
    assert again.returncode == 0, again.stderr
    assert "imported before" in again.stderr
    copy = rubin.work / "copy.qg"
    copy.write_bytes(first.read_bytes())
    assert run(["import-provenance", str(copy)], neo4j_settings).returncode == 0
    assert graph_size(store) == before
    assert status_counts(store, plan) == expected

    check_a_rerun_is_a_second_execution(store, neo4j_settings, rubin, failed["id"], execution["id"])


def check_a_rerun_is_a_second_execution(
    store: GraphStore, neo4j_settings: ConnectionSettings, rubin: Rubin, failed_id: str, first_id: str
) -> None:
    """A second ``pipetask run`` of the graph with enough memory: retries the failure, runs the blocked."""
    plan = rubin.output_run
    rubin.run(
        "--memory-per-quantum",
        "8GB",
        "-o",
        f"u/{plan.split('/')[0]}",
        "--output-run",
        plan,
        "--extend-run",
        "--skip-existing-in",
        plan,
        "--clobber-outputs",
        expect=0,
    )
    second = rubin.aggregate("P2.qg")
    expected = rubin.report("r2.json")
    assert all(set(c) == {"succeeded"} for c in expected.values())
    done = run(["import-provenance", str(second), "--plan-id", plan], neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert status_counts(store, plan) == expected

    executions = cypher(
        store,
        "MATCH (e:Execution {plan_id: $plan}) OPTIONAL MATCH (a:Attempt {execution_id: e.id}) "
        "WITH e, count(a) AS attempts RETURN e.id AS id, e.status AS status, attempts ORDER BY e.started, e.status",
        plan=plan,
    )
    assert [(e["status"], e["attempts"]) for e in executions] == [("failed", 27), ("succeeded", 6)]
    assert executions[0]["id"] == first_id
    retried = cypher(
        store,
        "MATCH (q:Quantum {id: $id})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN q.status AS quantum, q.attempt_count AS count, a.number AS number, a.status AS status, "
        "a.execution_id AS execution ORDER BY a.number",
        id=failed_id,
    )
    assert [(r["quantum"], r["count"], r["number"], r["status"]) for r in retried] == [
        ("succeeded", 2, 1, "failed"),
        ("succeeded", 2, 2, "succeeded"),
    ]
    assert [r["execution"] for r in retried] == [first_id, executions[1]["id"]]


def test_a_provenance_file_of_another_graph_names_the_file_and_the_plan(
    neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    provenance = _small_provenance_file(tmp_path, namespace)
    done = run(["import-provenance", str(provenance)], neo4j_settings)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: provenance file ") and str(provenance) in lines[0]
    assert f"plan '{namespace}/run'" in lines[0] or f"no plan '{namespace}/run'" in lines[0]
    assert "provgraph import-qgraph" in done.stderr
    assert "Traceback" not in done.stderr


def _small_provenance_file(tmp_path: Path, namespace: str) -> Path:
    """A provenance file of a run nobody imported a plan for (one task, nothing run: all unknown)."""
    repo = tmp_path / "repo"
    make_repo(repo)
    graph = tmp_path / "G.qg"
    lsst(
        "pipetask",
        "qgraph",
        "-b",
        str(repo),
        "-p",
        f"{PIPELINE}#pv_isr",
        "-i",
        INPUTS,
        "-o",
        f"u/{namespace}",
        "--output-run",
        f"{namespace}/run",
        "--save-qgraph",
        str(graph),
        cwd=tmp_path,
    )
    out = tmp_path / "P.qg"
    lsst(
        "butler",
        "aggregate-graph",
        str(graph),
        str(repo),
        "-o",
        str(out),
        "--mock-storage-classes",
        cwd=tmp_path,
    )
    return out


# --- without a database --------------------------------------------------------------------


def test_a_file_that_is_not_a_provenance_graph_is_a_plan_file_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.qg"
    text.write_text("not a quantum graph\n")
    with pytest.raises(PlanFileError, match=r"notes\.qg is not a provenance QuantumGraph file"):
        load_provenance_graph(text)
    with pytest.raises(PlanFileError, match=r"no provenance QuantumGraph file .*missing\.qg"):
        load_provenance_graph(tmp_path / "missing.qg")
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    other = tmp_path / "other.qg"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "a zip, but no quantum graph")
    with pytest.raises(PlanFileError, match=r"cannot read provenance QuantumGraph file .*other\.qg"):
        load_provenance_graph(other)


def test_a_predicted_graph_is_refused_with_what_to_do(tmp_path: Path) -> None:
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    from tests.lsst_graphs import build_drp_graph

    built = build_drp_graph(
        tmp_path / "drp.qg", input_run="in", output_run="out", visits=1, detectors=1, patches=1
    )
    with pytest.raises(
        PlanFileError, match=r"drp\.qg is a predicted QuantumGraph, not a provenance one"
    ) as caught:
        load_provenance_graph(built.path)
    assert "import-qgraph" in (caught.value.hint or "")


def test_without_lsst_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive_path = tmp_path / "prov.qg"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("header.json.zst", b"")
    monkeypatch.setitem(sys.modules, "lsst.pipe.base.quantum_graph", None)
    with pytest.raises(ConfigurationError) as caught:
        load_provenance_graph(archive_path)
    assert caught.value.hint == LSST_INSTALL_HINT
