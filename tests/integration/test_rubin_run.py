"""``provgraph run --plan PLAN --butler REPO``: Rubin's real tasks, run by our Activator, as pipetask runs them.

A real Butler repository (SQLite registry, file datastore) and a QuantumGraph made by the
real ``pipetask qgraph`` from pipe_base's mock tasks (real PipelineTasks: six tasks, a
calibration prerequisite, two many-to-one gathers, a spatial join). The graph is
imported with ``provgraph import-qgraph`` and run with ``provgraph run --plan``; what is
checked is what a Rubin user would check: the Butler's registry after the run, the
statuses and attempts in our graph, and the command's output.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from tests.integration.test_cli import run
from tests.integration.test_run import _start_run

pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")

from tests.support.butler import (
    RUN_PIPELINE,
    ButlerRepoInfo,
    copy_repo,
    lsst,
    make_butler_repo,
    pipetask_qgraph,
    prefixed_pipeline,
    registered,
)

pytestmark = pytest.mark.integration

#: Quanta per task of the one-visit graph, as ``pipetask qgraph`` reports them.
QUANTA = {
    "isr": 4,
    "calibrate": 4,
    "consolidateVisitSummary": 1,
    "consolidateSourceTable": 1,
    "analyzeVisit": 1,
    "makeCoadd": 5,
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> ButlerRepoInfo:
    """One Butler repository per module; each test works on a copy."""
    return make_butler_repo(tmp_path_factory.mktemp("butler") / "pristine", pipeline=RUN_PIPELINE)


@pytest.fixture
def repo(pristine: ButlerRepoInfo, tmp_path: Path) -> ButlerRepoInfo:
    return copy_repo(pristine, tmp_path / "repo")


def statuses(store: GraphStore, plan_id: str) -> Counter[tuple[str, str]]:
    """(task, status) counts of a plan's quanta."""
    with store.session() as session:
        rows = session.run(
            "MATCH (q:Quantum {plan_id: $plan}) RETURN q.task AS task, q.status AS status", plan=plan_id
        )
        return Counter((r["task"], r["status"]) for r in rows)


def import_graph(path: Path, plan_id: str, settings: ConnectionSettings) -> None:
    done = run(["import-qgraph", str(path), "--plan-id", plan_id], settings)
    assert done.returncode == 0, done.stderr


def test_provgraph_run_leaves_the_datasets_pipetask_run_leaves(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    repo: ButlerRepoInfo,
    tmp_path: Path,
) -> None:
    output_run = f"u/{namespace}/run"
    graph = pipetask_qgraph(repo, tmp_path / "g.qg", output=f"u/{namespace}", output_run=output_run)
    twin = copy_repo(repo, tmp_path / "twin")
    by_pipetask = lsst("pipetask", "run", "-b", str(twin.root), "-g", str(graph), "--register-dataset-types")
    assert by_pipetask.returncode == 0, by_pipetask.stderr
    import_graph(graph, namespace, neo4j_settings)

    done = run(["run", "--plan", namespace, "--butler", str(repo.root), "-j", "2"], neo4j_settings)

    assert done.returncode == 0, done.stderr
    assert "registered" in done.stdout and str(repo.root) in done.stdout
    ours, theirs = registered(repo, output_run), registered(twin, output_run)
    assert ours == theirs
    assert len(ours) == len(theirs) > sum(QUANTA.values())  # outputs, metadata, logs, configs
    assert statuses(store, namespace) == Counter({(t, "succeeded"): n for t, n in QUANTA.items()})
    # Every attempt recorded as for our own tasks: its worker, time, memory and outputs with sizes.
    plan = read_plan(store, namespace)
    with store.session() as session:
        attempts = session.run(
            "MATCH (q:Quantum {plan_id: $plan})-[:HAS_ATTEMPT]->(a:Attempt) RETURN q.id AS q, a",
            plan=namespace,
        ).data()
    assert {row["q"] for row in attempts} == set(plan.quanta)
    assert all(row["a"]["duration_s"] > 0 and row["a"]["peak_rss_mb"] > 0 for row in attempts)
    with store.session() as session:
        sizes = session.run(
            "MATCH (q:Quantum {plan_id: $plan})-[:PRODUCES]->(d:Dataset) RETURN d.exists AS e, d.size AS size",
            plan=namespace,
        ).data()
    assert sizes and all(row["e"] and row["size"] > 0 for row in sizes)

    # Lineage and impact answer with the Butler's UUIDs, and take one as the start.
    from lsst.pipe.base.pipeline_graph import TaskImportMode
    from lsst.pipe.base.quantum_graph import PredictedQuantumGraph

    with PredictedQuantumGraph.open(graph, import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
        reader.read_thin_graph()
        reader.read_quantum_datasets()
        qg = reader.finish()
    coadd = str(next(iter(qg.datasets_by_type["deepCoadd"].values())))
    upstream = run(["query", "lineage", coadd, "--json"], neo4j_settings)
    assert upstream.returncode == 0, upstream.stderr
    walk = json.loads(upstream.stdout)
    butler_quanta = {str(q) for quanta in qg.quanta_by_task.values() for q in quanta.values()}
    assert walk["quanta"] and all(q["butler_id"] in butler_quanta for q in walk["quanta"])
    assert all(d["butler_id"] for d in walk["datasets"])
    raws = {d["butler_id"] for d in walk["datasets"] if d["dataset_type"] == "raw"}
    impact = json.loads(run(["query", "impact", sorted(raws)[0], "--json"], neo4j_settings).stdout)
    assert "visitMetrics" in {d["dataset_type"] for d in impact["datasets"]}  # every raw leads there
    assert all(d["butler_id"] for d in impact["datasets"])

    again = run(["run", "--plan", namespace, "--butler", str(repo.root)], neo4j_settings)
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout
    assert registered(repo, output_run) == theirs


def test_a_failing_quantum_blocks_its_dependants_and_a_rerun_with_more_memory_completes(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    repo: ButlerRepoInfo,
    tmp_path: Path,
) -> None:
    output_run = f"u/{namespace}/run"
    # calibrate on detector 2 needs 4 GB: with 1 GB per quantum it fails, as an out-of-memory quantum.
    graph = pipetask_qgraph(
        repo,
        tmp_path / "g.qg",
        output=f"u/{namespace}",
        output_run=output_run,
        config=("calibrate:fail_condition=detector IN (2)", "calibrate:memory_required=4GB"),
    )
    import_graph(graph, namespace, neo4j_settings)
    command = ["run", "--plan", namespace, "--butler", str(repo.root), "-j", "2"]

    failed = run([*command, "--memory-per-quantum", "1GB"], neo4j_settings)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    failures = [line for line in failed.stdout.splitlines() if line.startswith("failed ")]
    assert (
        len(failures) == 1 and failures[0].startswith("failed calibrate") and " detector=2: " in failures[0]
    )
    assert "ValueError: Simulated failure" in failures[0]
    assert f"provgraph run --plan {namespace} --butler {repo.root}" in failed.stdout
    counts = statuses(store, namespace)
    assert counts[("calibrate", "failed")] == 1
    assert counts[("consolidateVisitSummary", "blocked")] == counts[("analyzeVisit", "blocked")] == 1
    assert counts[("isr", "succeeded")] == 4
    with store.session() as session:
        error = session.run(
            "MATCH (q:Quantum {plan_id: $plan, status: 'failed'})-[:HAS_ATTEMPT]->(a:Attempt) RETURN a.error AS e",
            plan=namespace,
        ).single()
    assert error is not None and error["e"].startswith("ValueError: Simulated failure")
    done_before = registered(repo, output_run)
    assert ("calibrate_metadata", str({"instrument": "Cam1", "visit": 1, "detector": 2})) not in done_before

    rerun = run([*command, "--memory-per-quantum", "8GB"], neo4j_settings)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert statuses(store, namespace) == Counter({(t, "succeeded"): n for t, n in QUANTA.items()})
    with store.session() as session:
        per_quantum = session.run(
            "MATCH (q:Quantum {plan_id: $plan})-[:HAS_ATTEMPT]->(a:Attempt) "
            "WITH q, count(a) AS n, collect(a.exit_status) AS exits RETURN q.task AS task, n, exits",
            plan=namespace,
        ).data()
    # Nothing that succeeded ran twice; the failed quantum has its failed and its good attempt.
    assert [(r["task"], sorted(r["exits"])) for r in per_quantum if r["n"] > 1] == [("calibrate", [0, 1])]
    assert len(registered(repo, output_run)) > len(done_before)


def test_running_an_imported_plan_needs_its_butler(
    neo4j_settings: ConnectionSettings, namespace: str, repo: ButlerRepoInfo, tmp_path: Path
) -> None:
    graph = pipetask_qgraph(repo, tmp_path / "g.qg", output=f"u/{namespace}", output_run=f"u/{namespace}/run")
    import_graph(graph, namespace, neo4j_settings)  # the graph's header names the repository
    lsst("butler", "create", str(tmp_path / "empty"))
    # A plan whose repository is unknown: the repository named in the graph has moved since.
    # Its dataset types are then not scoped by a repository: prefixed, they block no other test's.
    pipeline = prefixed_pipeline(tmp_path / "lost.yaml", "lost_", RUN_PIPELINE)
    moved = make_butler_repo(tmp_path / "moved", pipeline=pipeline)
    lost = pipetask_qgraph(
        moved,
        tmp_path / "lost.qg",
        output=f"u/{namespace}",
        output_run=f"u/{namespace}/lost",
        pipeline=pipeline,
    )
    shutil.move(moved.root, tmp_path / "elsewhere")
    import_graph(lost, f"{namespace}-lost", neo4j_settings)
    elsewhere = str(tmp_path / "elsewhere")
    cases = {
        "no --butler, none recorded": ([f"{namespace}-lost"], "--butler REPO"),
        "not a repository": ([f"{namespace}-lost", "--butler", str(tmp_path)], "is not a Butler repository"),
        "without the inputs": (
            [f"{namespace}-lost", "--butler", str(tmp_path / "empty")],
            "lacks the QuantumGraph's input collection",
        ),
        "another repository": ([namespace, "--butler", elsewhere], f"belongs to Butler {repo.root}"),
        "overrides": ([namespace, "-c", "isr:sleep=1"], "config overrides do not apply"),
        "no such repository": ([namespace, "--butler", str(tmp_path / "nowhere")], "the path does not exist"),
        "memory": ([namespace, "--memory-per-quantum", "lots"], "is not a memory size"),
    }
    for case, (args, says) in cases.items():
        done = run(["run", "--plan", *args], neo4j_settings)
        assert done.returncode == 1, case
        assert "Traceback" not in done.stderr, case
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and says in done.stderr, (case, done.stderr)
    # Given its new place, the plan whose repository moved runs there.
    moved_run = run(["run", "--plan", f"{namespace}-lost", "--butler", elsewhere], neo4j_settings)
    assert moved_run.returncode == 0, moved_run.stdout + moved_run.stderr


def test_a_run_killed_mid_way_is_repaired_and_finished_by_the_next(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    repo: ButlerRepoInfo,
    tmp_path: Path,
) -> None:
    output_run = f"u/{namespace}/run"
    graph = pipetask_qgraph(repo, tmp_path / "g.qg", output=f"u/{namespace}", output_run=output_run)
    import_graph(graph, namespace, neo4j_settings)
    command = ["run", "--plan", namespace, "-j", "2"]  # the plan knows its Butler

    killed = run(command, neo4j_settings, PROVGRAPH_CRASH_AT="run.recorded:3")
    assert killed.returncode == -9, killed.stderr
    resumed = run(command, neo4j_settings)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # Quanta whose files were written but not recorded when the kill came are found done: skipped.
    final = statuses(store, namespace)
    assert {status for _, status in final} <= {"succeeded", "skipped"}
    assert sum(final.values()) == sum(QUANTA.values())
    with store.session() as session:
        twice = session.run(
            "MATCH (q:Quantum {plan_id: $plan})-[:HAS_ATTEMPT]->(a:Attempt {exit_status: 0}) "
            "WITH q, count(a) AS n WHERE n > 1 RETURN count(q) AS c",
            plan=namespace,
        ).single()
    assert twice is not None and twice["c"] == 0
    produced = registered(repo, output_run)
    assert sum(1 for dataset_type, _ in produced if dataset_type.endswith("_metadata")) == sum(
        QUANTA.values()
    )


RULES = """\
name: rubin
cluster:
  ccd_chain:
    pipetasks: isr, calibrate
    dimensions: visit, detector
  visit_tables:
    pipetasks: consolidateSourceTable, consolidateVisitSummary, analyzeVisit
    dimensions: visit
"""


def test_submit_on_parsl_runs_an_imported_plan_in_batch_jobs(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    repo: ButlerRepoInfo,
    tmp_path: Path,
) -> None:
    output_run = f"u/{namespace}/run"
    graph = pipetask_qgraph(repo, tmp_path / "g.qg", output=f"u/{namespace}", output_run=output_run)
    import_graph(graph, namespace, neo4j_settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)

    done = run(["submit", namespace, "--clustering", str(rules), "-j", "2"], neo4j_settings)

    assert done.returncode == 0, done.stdout + done.stderr
    # 4 detector chains, 1 visit's tables, 5 coadds each a job of its own.
    assert f"Clustering 'rubin' of plan '{namespace}' written: 10 batch jobs" in done.stdout
    assert "registered" in done.stdout and str(repo.root) in done.stdout
    assert statuses(store, namespace) == Counter({(t, "succeeded"): n for t, n in QUANTA.items()})
    produced = registered(repo, output_run)
    assert sum(1 for dataset_type, _ in produced if dataset_type.endswith("_metadata")) == sum(
        QUANTA.values()
    )
    with store.session() as session:
        runs = session.run(
            "MATCH (e:Execution)-[:EXECUTES]->(:Plan {id: $plan}) RETURN e.activator AS activator",
            plan=namespace,
        ).data()
    assert [r["activator"] for r in runs] == ["parsl"]


def test_ctrl_c_gives_back_the_running_quanta_and_the_rerun_finishes(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    repo: ButlerRepoInfo,
    tmp_path: Path,
) -> None:
    output_run = f"u/{namespace}/run"
    # calibrate takes 2 s a quantum: the interrupt comes while two of them run.
    graph = pipetask_qgraph(
        repo, tmp_path / "g.qg", output=f"u/{namespace}", output_run=output_run, config=("calibrate:sleep=2",)
    )
    import_graph(graph, namespace, neo4j_settings)
    child = _start_run(
        neo4j_settings,
        store,
        namespace,
        until_succeeded=QUANTA["isr"],
        args=("run", "--plan", namespace, "-j", "2"),
    )
    time.sleep(0.5)  # the first calibrate quanta start
    os.killpg(child.pid, signal.SIGINT)  # what a terminal sends to the foreground group
    _out, err = child.communicate(timeout=60)

    assert child.returncode == 130, err
    assert "Traceback" not in err
    stopped = statuses(store, namespace)
    assert not any(status == "running" for _, status in stopped)  # given back, not left to repair
    assert stopped[("isr", "succeeded")] == QUANTA["isr"]
    with store.session() as session:
        execution = session.run(
            "MATCH (e:Execution)-[:EXECUTES]->(:Plan {id: $plan}) RETURN e.status AS s", plan=namespace
        ).data()
    assert [r["s"] for r in execution] == ["interrupted"]

    rerun = run(["run", "--plan", namespace, "-j", "2"], neo4j_settings)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    final = statuses(store, namespace)
    assert {status for _, status in final} <= {"succeeded", "skipped"}
    produced = registered(repo, output_run)  # what the interrupted run wrote is registered now too
    assert sum(1 for dataset_type, _ in produced if dataset_type.endswith("_metadata")) == sum(
        QUANTA.values()
    )
