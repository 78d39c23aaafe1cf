"""``provgraph plan`` and ``provgraph repo`` as a user runs them, checked in the graph with Cypher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.planfile import load_plan
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from tests.integration.test_cli import run
from tests.support.drp import expected_counts

PIPELINE = str(demo_pipeline_path())


def _count(store: GraphStore, cypher: str, **params: object) -> int:
    with store.driver.session(database=store.settings.database) as session:
        return int(session.run(cypher, **params).single(strict=True)[0])  # type: ignore[arg-type]


def test_plan_stores_counts_derived_from_the_repository(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo_path = tmp_path / "repo"
    make_demo_repo(repo_path, 6, 6, 2, missing_raws={(4, 2)}, missing_biases={5}).close()
    where = "instrument = 'DemoCam' AND visit IN (2..6) AND detector != 0"
    plan_id = f"{namespace}-plan"
    done = run(
        [
            "plan",
            PIPELINE,
            "--repo",
            str(repo_path),
            "--where",
            where,
            "--output-run",
            f"{namespace}/out",
            "--plan-id",
            plan_id,
            "--save",
            str(tmp_path / "plan.json.gz"),
        ],
        neo4j_settings,
    )
    assert done.returncode == 0, done.stderr
    assert f"plan:        {plan_id}" in done.stdout
    with Repository.open(repo_path) as repo:
        expected = expected_counts(repo, lambda v, d: 2 <= v <= 6 and d != 0)
    for task, count in expected.items():
        stored = _count(store, "MATCH (q:Quantum {plan_id: $p, task: $t}) RETURN count(q)", p=plan_id, t=task)
        assert stored == count, task
    # Dependencies are derived: every forcedPhotCcd depends on its tract's consolidateObjectTable.
    parents = _count(
        store,
        "MATCH (q:Quantum {plan_id: $p, task: 'forcedPhotCcd'})-[:CONSUMES]->(:Dataset)"
        "<-[:PRODUCES]-(parent:Quantum {task: 'consolidateObjectTable'}) RETURN count(DISTINCT q)",
        p=plan_id,
    )
    assert parents == expected["forcedPhotCcd"]
    # Notes are data: which input was missing for which data IDs.
    with store.driver.session(database=store.settings.database) as session:
        notes = session.run(
            "MATCH (:Plan {id: $p})-[:HAS_NOTE]->(n:PlanNote) WHERE n.kind <> 'upstream' "
            "RETURN n.kind AS kind, n.dataset_type AS type, n.data_ids AS ids ORDER BY kind",
            p=plan_id,
        ).data()
        upstream = session.run(
            "MATCH (:Plan {id: $p})-[:HAS_NOTE]->(n:PlanNote {kind: 'upstream'}) "
            "RETURN n.task AS task, n.dataset_type AS type, n.upstream_task AS upstream",
            p=plan_id,
        ).data()
    # Later tasks name the task that dropped what they lack, never the missing raw again.
    assert {"task": "characterizeImage", "type": "postISRCCD", "upstream": "isr"} in upstream
    assert all(u["type"] not in ("raw", "bias") for u in upstream)
    assert [(n["kind"], n["type"]) for n in notes] == [
        ("missing_input", "raw"),
        ("missing_prerequisite", "bias"),
    ]
    assert [json.loads(i) for i in notes[0]["ids"]] == [
        {"detector": 2, "exposure": 40, "instrument": "DemoCam"}
    ]
    assert len(notes[1]["ids"]) == 5  # detector 5 of visits 2..6
    # Inputs carry their file's URI; outputs the URI the template gives them.
    uris = _count(
        store,
        "MATCH (:Quantum {plan_id: $p, task: 'isr'})-[:CONSUMES]->(d:Dataset {dataset_type: 'raw'}) "
        "WHERE d.uri STARTS WITH 'file://' AND NOT EXISTS { (d)<-[:PRODUCES]-() } RETURN count(d)",
        p=plan_id,
    )
    assert uris == expected["isr"]
    # The saved file and the stored plan are the same plan.
    assert load_plan(tmp_path / "plan.json.gz") == read_plan(store, plan_id)


MISTAKES = [
    (["--where", "visit IN (1..3"], "ends too early"),
    (["--where", "vist = 1"], "did you mean 'visit'"),
    (["--where", "visit = 'one'"], "takes an integer"),
    (["--input", "DemoCam/raw/al"], "did you mean 'DemoCam/raw/all'"),
    (["--output-run", "bad run"], "invalid run name"),
]


@pytest.mark.parametrize(("extra", "message"), MISTAKES)
def test_bad_input_is_one_clear_error_and_nothing_is_written(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    extra: list[str],
    message: str,
) -> None:
    repo_path = tmp_path / "repo"
    make_demo_repo(repo_path, 3, 2, write_pixels=False).close()
    args = ["plan", PIPELINE, "--repo", str(repo_path), "--plan-id", f"{namespace}-bad"]
    if "--output-run" not in extra:
        args += ["--output-run", f"{namespace}/out"]
    done = run(args + extra, neo4j_settings)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert _count(store, "MATCH (p:Plan {id: $p}) RETURN count(p)", p=f"{namespace}-bad") == 0


def test_bad_pipeline_files_are_refused_before_anything_is_written(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo_path = tmp_path / "repo"
    make_demo_repo(repo_path, 2, 2, write_pixels=False).close()
    broken = tmp_path / "broken.yaml"
    broken.write_text(demo_pipeline_path().read_text().replace("saturation:", "saturaton:"))
    done = run(["plan", str(broken), "--repo", str(repo_path), "--plan-id", f"{namespace}-b"], neo4j_settings)
    assert done.returncode == 1
    assert "unknown config field 'saturaton'" in done.stderr and "did you mean 'saturation'" in done.stderr
    done = run(
        ["plan", PIPELINE, "--repo", str(tmp_path / "nowhere"), "--plan-id", f"{namespace}-b"], neo4j_settings
    )
    assert done.returncode == 1
    assert "provgraph repo create" in done.stderr
    assert _count(store, "MATCH (p:Plan {id: $p}) RETURN count(p)", p=f"{namespace}-b") == 0


def test_export_then_import_of_a_preflight_plan_is_identical(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo_path = tmp_path / "repo"
    make_demo_repo(repo_path, 3, 3, missing_raws={(1, 1)}, write_pixels=False).close()
    plan_id = f"{namespace}-x"
    done = run(
        ["plan", PIPELINE, "--repo", str(repo_path), "--plan-id", plan_id, "--output-run", f"{namespace}/x"],
        neo4j_settings,
    )
    assert done.returncode == 0, done.stderr
    original = read_plan(store, plan_id)
    assert original.notes and original.uris and original.plan.pipeline
    path = tmp_path / "exported.json.gz"
    assert run(["plans", "export", plan_id, str(path)], neo4j_settings).returncode == 0
    assert run(["plans", "delete", plan_id], neo4j_settings).returncode == 0
    assert _count(store, "MATCH (n:PlanNote {plan_id: $p}) RETURN count(n)", p=plan_id) == 0
    imported = run(["plans", "import", str(path)], neo4j_settings)
    assert imported.returncode == 0, imported.stderr
    back = read_plan(store, plan_id)
    assert back == original
    assert back.uris == original.uris
    assert back.digest() == original.digest()


def test_repo_commands_create_ingest_and_register_in_the_graph(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo_path = tmp_path / "repo"
    assert run(["repo", "create", str(repo_path)], neo4j_settings).returncode == 0
    again = run(["repo", "create", str(repo_path)], neo4j_settings)
    assert again.returncode == 1 and "not empty" in again.stderr
    name = f"{namespace}_flat"
    done = run(
        [
            "repo",
            "register-type",
            str(repo_path),
            name,
            "--dimensions",
            "instrument,detector",
            "--storage-class",
            "Image",
        ],
        neo4j_settings,
    )
    assert done.returncode == 0, done.stderr
    image = tmp_path / "flat.npy"
    np.save(image, np.ones((4, 4)))
    ingest = [
        "repo",
        "ingest",
        str(repo_path),
        name,
        str(image),
        "-d",
        "instrument=DemoCam",
        "-d",
        "detector=7",
        "--run",
        f"{namespace}/calib",
    ]
    refused = run(ingest, neo4j_settings)
    assert refused.returncode == 1
    assert (
        "instrument (instrument=DemoCam) has no record; detector (instrument=DemoCam detector=7) has no record"
        in (refused.stderr)
    )
    assert "provgraph repo add-records" in refused.stderr
    records = tmp_path / "records.yaml"
    records.write_text(
        "instrument:\n  - {instrument: DemoCam}\ndetector:\n  - {instrument: DemoCam, detector: 7}\n"
    )
    done = run(["repo", "add-records", str(repo_path), str(records)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    done = run(ingest, neo4j_settings)
    assert done.returncode == 0, done.stderr
    with store.driver.session(database=store.settings.database) as session:
        row = session.run(
            "MATCH (d:Dataset {dataset_type: $t}) RETURN d.uri AS uri, d.detector AS detector, "
            "EXISTS { (d)<-[:PRODUCES]-() } AS produced",
            t=name,
        ).single(strict=True)
        session.run("MATCH (d:Dataset {dataset_type: $t}) DETACH DELETE d", t=name).consume()
        session.run("MATCH (t:DatasetType {name: $t}) DELETE t", t=name).consume()
    assert row["uri"] == image.resolve().as_uri()
    assert row["detector"] == 7 and row["produced"] is False
    bad = run(
        ["repo", "ingest", str(repo_path), "flta", str(image), "-d", "detector=1", "--run", "x"],
        neo4j_settings,
    )
    assert bad.returncode == 1 and "not registered" in bad.stderr
