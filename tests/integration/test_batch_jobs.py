"""Batch jobs in the real Neo4j: stored whole or not at all, read back equal, blast radius, CLI, DAGMan.

The blast radius is checked against an independent networkx computation on the in-memory
plan; the DAGMan export is parsed back and compared with the job DAG.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import networkx as nx
import pytest

from provenance_graph.clustering import (
    BatchJob,
    ClusteringSpec,
    JobGraph,
    QuantumDag,
    cluster_quanta,
    load_clustering,
)
from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.errors import (
    ClusteringError,
    ClusteringNotFoundError,
    NotInGraphError,
    PlanNotFoundError,
)
from provenance_graph.jobfile import JobFile
from provenance_graph.model import PlanGraph
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, read_plan, write_plan
from provenance_graph.store.clustering import (
    blast_radius,
    cluster_plan,
    clustering_id,
    job_id,
    list_clusterings,
    read_job_graph,
    write_clustering,
)
from provenance_graph.synthetic import drp_plan
from tests.integration.test_cli import run

DEMO_RULES = Path(demo_pipeline_path()).with_name("clustering.yaml")


def stored_drp(
    store: GraphStore, namespace: str, plans: list[str], visits: int = 3, detectors: int = 4
) -> PlanGraph:
    plan_id = f"{namespace}-drp-{len(plans)}"
    graph = drp_plan(visits, detectors, plan_id=plan_id, output_run=f"{namespace}/run{len(plans)}")
    write_plan(store, graph)
    plans.append(plan_id)
    return graph


def counts(store: GraphStore, plan_id: str, name: str) -> dict[str, int]:
    cid = clustering_id(plan_id, name)
    with store.driver.session(database=store.settings.database) as session:
        row = session.run(
            "OPTIONAL MATCH (c:Clustering {id: $cid}) "
            "CALL { MATCH (j:BatchJob {clustering_id: $cid}) RETURN count(j) AS jobs } "
            "CALL { MATCH (:BatchJob {clustering_id: $cid})-[r:RUNS]->() RETURN count(r) AS runs } "
            "CALL { MATCH (:BatchJob {clustering_id: $cid})-[d:DEPENDS_ON]->() RETURN count(d) AS deps } "
            "RETURN count(c) AS nodes, jobs, runs, deps",
            cid=cid,
        ).single()
    assert row is not None
    return dict(row)


# --- storing ---------------------------------------------------------------------------------


def test_a_clustering_is_stored_and_read_back_equal_and_storing_it_again_changes_nothing(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans)
    rules = load_clustering(DEMO_RULES)
    jobs, written = cluster_plan(store, graph.plan.id, rules)
    assert written.outcome == "written"
    assert (
        jobs.jobs == cluster_quanta(QuantumDag.from_plan(graph), rules).jobs
    )  # the store's plan == memory's
    back = read_job_graph(store, graph.plan.id, "demo")
    assert back.jobs == jobs.jobs
    assert back.edges == jobs.edges
    assert back.digest() == jobs.digest()
    before = counts(store, graph.plan.id, "demo")
    assert before == {"nodes": 1, "jobs": len(jobs), "runs": len(graph), "deps": len(jobs.edges)}
    again = write_clustering(store, jobs)
    assert again.outcome == "unchanged"
    assert counts(store, graph.plan.id, "demo") == before
    [listed] = list_clusterings(store, graph.plan.id)
    assert (listed.status, listed.jobs, listed.quanta, listed.critical_path) == (
        "complete",
        len(jobs),
        len(graph),
        len(jobs.critical_path()),
    )


def test_deleting_a_plan_deletes_its_clusterings(store: GraphStore, namespace: str, plans: list[str]) -> None:
    graph = stored_drp(store, namespace, plans)
    cluster_plan(store, graph.plan.id, load_clustering(DEMO_RULES))
    assert counts(store, graph.plan.id, "demo")["jobs"] > 0
    assert delete_plan(store, graph.plan.id)
    assert counts(store, graph.plan.id, "demo") == {"nodes": 0, "jobs": 0, "runs": 0, "deps": 0}
    assert list_clusterings(store, graph.plan.id) == []


def test_other_rules_under_the_same_name_are_refused_unless_replaced(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans)
    cluster_plan(store, graph.plan.id, load_clustering(DEMO_RULES))
    other = ClusteringSpec.from_yaml("name: demo\ncluster:\n  isr_batch: {pipetasks: isr, max_quanta: 5}\n")
    with pytest.raises(ClusteringError, match="already has a clustering 'demo'"):
        cluster_plan(store, graph.plan.id, other)
    jobs, written = cluster_plan(store, graph.plan.id, other, replace=True)
    assert written.outcome == "replaced"
    assert counts(store, graph.plan.id, "demo") == {
        "nodes": 1,
        "jobs": len(jobs),
        "runs": len(graph),
        "deps": len(jobs.edges),
    }


def test_a_failed_write_leaves_nothing_and_a_rerun_stores_it(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans)
    jobs = cluster_quanta(QuantumDag.from_plan(graph), load_clustering(DEMO_RULES))
    # a job naming a quantum the plan lacks: its batch makes fewer RUNS edges than it should
    first = next(iter(jobs))
    broken = JobGraph(
        jobs.plan_id,
        jobs.name,
        [first.model_copy(update={"quanta": (*first.quanta, str(uuid.uuid4()))}), *list(jobs)[1:]],
        jobs.edges,
        plan_digest=jobs.plan_digest,
        rules=jobs.rules,
    )
    with pytest.raises(ClusteringError, match="instead of"):
        write_clustering(store, broken)
    assert counts(store, graph.plan.id, "demo") == {"nodes": 0, "jobs": 0, "runs": 0, "deps": 0}
    with pytest.raises(ClusteringNotFoundError):
        read_job_graph(store, graph.plan.id, "demo")
    assert write_clustering(store, jobs).outcome == "written"
    assert read_job_graph(store, graph.plan.id, "demo").jobs == jobs.jobs


def test_a_write_killed_half_way_is_invisible_and_the_next_write_repairs_it(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans)
    jobs = cluster_quanta(QuantumDag.from_plan(graph), load_clustering(DEMO_RULES))
    cid = clustering_id(graph.plan.id, "demo")
    # what a writer killed after its claim and first batch leaves behind
    dead = uuid.uuid4().hex
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.write(
        "clustering_claim",
        plan_id=graph.plan.id,
        clustering_id=cid,
        clustering_name="demo",
        token=dead,
        host=socket.gethostname(),
        pid=gone.pid,
        digest="x",
    )
    half = [
        {
            "id": job_id(graph.plan.id, "demo", j.name),
            "name": j.name,
            "label": j.label,
            "rule": j.rule,
            "data_id": j.data_id.key(),
            "dimensions": list(j.data_id),
            "tasks": list(j.tasks),
            "quanta": list(j.quanta),
        }
        for j in list(jobs)[:5]
    ]
    store.write("clustering_write_jobs", clustering_id=cid, token=dead, jobs=half)
    assert counts(store, graph.plan.id, "demo")["jobs"] == 5
    with pytest.raises(ClusteringNotFoundError, match="no complete clustering 'demo'"):
        read_job_graph(store, graph.plan.id, "demo")
    [listed] = list_clusterings(store, graph.plan.id)
    assert listed.status == "writing"
    assert write_clustering(store, jobs).outcome == "resumed"
    assert counts(store, graph.plan.id, "demo") == {
        "nodes": 1,
        "jobs": len(jobs),
        "runs": len(graph),
        "deps": len(jobs.edges),
    }
    assert read_job_graph(store, graph.plan.id, "demo").jobs == jobs.jobs


def test_a_clustering_of_a_plan_that_is_not_stored_is_refused(store: GraphStore, namespace: str) -> None:
    with pytest.raises(PlanNotFoundError):
        cluster_plan(store, f"{namespace}-nothing", load_clustering(DEMO_RULES))


# --- blast radius ------------------------------------------------------------------------------


def expected_blast(graph: PlanGraph, jobs: JobGraph, quantum: str) -> tuple[set[str], set[str], set[str]]:
    """Lost jobs, downstream quanta and innocent quanta, computed with networkx on the plan itself."""
    qg = nx.DiGraph()
    qg.add_nodes_from(graph.quanta)
    qg.add_edges_from((p, q) for q in graph.quanta for p in graph.parents(q))
    job_of = {q: j.name for j in jobs for q in j.quanta}
    # a lost job loses all its quanta, and with them everything downstream of any of them
    lost_jobs = {job_of[quantum]}
    frontier = set(lost_jobs)
    while frontier:
        quanta = {q for j in frontier for q in jobs.jobs[j].quanta}
        reached = {job_of[d] for q in quanta for d in nx.descendants(qg, q)}
        frontier = reached - lost_jobs
        lost_jobs |= frontier
    # ... but the quanta before it in its own job ran first, and succeeded
    own = list(jobs.jobs[job_of[quantum]].quanta)
    ran_before = set(own[: own.index(quantum)])
    lost_quanta = {q for j in lost_jobs for q in jobs.jobs[j].quanta} - {quantum} - ran_before
    downstream = set(nx.descendants(qg, quantum))
    assert downstream <= lost_quanta
    return lost_jobs, downstream, lost_quanta - downstream


@pytest.mark.parametrize("task", ["isr", "calibrate", "makeWarp", "assembleCoadd", "consolidateObjectTable"])
def test_blast_radius_equals_an_independent_computation(
    store: GraphStore, namespace: str, plans: list[str], task: str
) -> None:
    graph = stored_drp(store, namespace, plans, visits=3, detectors=5)
    rules = ClusteringSpec.from_yaml(
        DEMO_RULES.read_text().replace("max_quanta: 100", "max_quanta: 4")
        + "  warps:\n    pipetasks: makeWarp\n    dimensions: visit\n"
    )
    jobs, _ = cluster_plan(store, graph.plan.id, rules)
    for quantum in [q.id for q in graph.quanta.values() if q.task_label == task][:3]:
        found = blast_radius(store, graph.plan.id, "demo", quantum)
        lost_jobs, downstream, innocent = expected_blast(graph, jobs, quantum)
        assert found.job == jobs.job_of(quantum)
        assert found.jobs[0] == found.job
        assert set(found.jobs) == lost_jobs
        assert {q.id for q in found.downstream} == downstream
        assert {q.id for q in found.innocent} == innocent
        assert all(q.job == jobs.job_of(q.id) for q in found.quanta)


def test_blast_radius_of_a_calibrate_failure_spares_what_ran_before_it_in_its_chain(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans, visits=1, detectors=2)
    cluster_plan(store, graph.plan.id, load_clustering(DEMO_RULES))
    calibrate = next(q for q in graph.quanta.values() if q.task_label == "calibrate")
    found = blast_radius(store, graph.plan.id, "demo", calibrate.id)
    own = {q.task: q.downstream for q in found.quanta if q.job == found.job}
    # isr and characterizeImage run before calibrate in its chain job: they are not lost
    assert own == {"transformSourceTable": True}
    with pytest.raises(NotInGraphError):
        blast_radius(store, graph.plan.id, "demo", str(uuid.uuid4()))
    with pytest.raises(ClusteringNotFoundError, match="its clusterings: demo"):
        blast_radius(store, graph.plan.id, "nope", calibrate.id)


def test_a_clustering_of_a_replaced_plan_is_stale(
    store: GraphStore, namespace: str, plans: list[str]
) -> None:
    graph = stored_drp(store, namespace, plans, visits=2, detectors=2)
    cluster_plan(store, graph.plan.id, load_clustering(DEMO_RULES))
    changed = drp_plan(2, 3, plan_id=graph.plan.id, output_run=graph.plan.output_run)
    write_plan(store, changed, replace=True)
    with pytest.raises(ClusteringNotFoundError, match="another version of plan"):
        read_job_graph(store, graph.plan.id, "demo")
    _, written = cluster_plan(store, graph.plan.id, load_clustering(DEMO_RULES), replace=True)
    assert written.outcome == "replaced"
    assert sum(len(j) for j in read_job_graph(store, graph.plan.id, "demo")) == len(changed)


# --- the commands, on a plan of the demo pipeline ---------------------------------------------


def parse_dag(path: Path) -> tuple[dict[str, str], set[tuple[str, str]], dict[str, int]]:
    """JOB name -> submit file, PARENT/CHILD pairs, RETRY counts, read back from a DAG file."""
    jobs: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    retries: dict[str, int] = {}
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "JOB":
            assert len(words) == 3 and words[1] not in jobs
            jobs[words[1]] = words[2]
        elif words[0] == "PARENT":
            cut = words.index("CHILD")
            edges |= {(p, c) for p in words[1:cut] for c in words[cut + 1 :]}
        elif words[0] == "RETRY":
            retries[words[1]] = int(words[2])
        elif words[:2] == ["SCRIPT", "POST"]:
            assert words[2] in jobs and words[4] == "record"  # records the job's journal
        else:
            raise AssertionError(f"unexpected DAG line {line!r}")
    return jobs, edges, retries


def test_cluster_blast_radius_and_dagman_export_from_the_command_line(
    neo4j_settings: ConnectionSettings, store: GraphStore, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    make_demo_repo(tmp_path / "repo", 2, 4).close()
    plan_id = f"{namespace}-demo"
    planned = run(
        [
            "plan",
            str(demo_pipeline_path()),
            "--repo",
            str(tmp_path / "repo"),
            "--where",
            "instrument = 'DemoCam'",
            "--plan-id",
            plan_id,
            "--output-run",
            f"{namespace}/demo",
        ],
        neo4j_settings,
    )
    assert planned.returncode == 0, planned.stderr
    plans.append(plan_id)

    clustered = run(["cluster", plan_id, "--clustering", str(DEMO_RULES)], neo4j_settings)
    assert clustered.returncode == 0, clustered.stderr
    assert f"Clustering 'demo' of plan '{plan_id}' written" in clustered.stdout
    for words in ("ccd_chain", "job DAG:", "largest job:", "critical path:"):
        assert words in clustered.stdout
    again = run(["cluster", plan_id, "--clustering", str(DEMO_RULES), "--json"], neo4j_settings)
    summary = json.loads(again.stdout)
    assert summary["outcome"] == "unchanged"
    # one job per (visit, detector): its four tasks' quanta
    assert summary["quanta_per_label"]["ccd_chain"] == 4 * summary["jobs_per_label"]["ccd_chain"]

    jobs = read_job_graph(store, plan_id, "demo")
    graph = read_plan(store, plan_id)
    isr = next(q for q in graph.quanta.values() if q.task_label == "isr")
    by_id = run(
        ["blast-radius", plan_id, "--clustering", "demo", "--quantum", isr.id, "--json"], neo4j_settings
    )
    assert by_id.returncode == 0, by_id.stderr
    answer = json.loads(by_id.stdout)
    lost_jobs, downstream, innocent = expected_blast(graph, jobs, isr.id)
    assert set(answer["jobs"]) == lost_jobs
    assert (answer["downstream_quanta"], answer["innocent_quanta"]) == (len(downstream), len(innocent))
    data_id = ",".join(f"{k}={v}" for k, v in isr.data_id.to_dict().items())
    by_data_id = run(
        ["blast-radius", plan_id, "--clustering", "demo", "--task", "isr", "--data-id", data_id, "--json"],
        neo4j_settings,
    )
    assert json.loads(by_data_id.stdout) == answer
    table = run(["blast-radius", plan_id, "--clustering", "demo", "--quantum", isr.id], neo4j_settings)
    assert f"loses {len(lost_jobs)} batch job(s)" in table.stdout and "(its own)" in table.stdout
    cypher = run(
        ["blast-radius", plan_id, "--clustering", "demo", "--quantum", isr.id, "--cypher"], neo4j_settings
    )
    assert cypher.stdout.startswith("// blast_radius:") and f'quantum_id: "{isr.id}"' in cypher.stdout

    out = tmp_path / "dag"
    exported = run(
        ["export-dagman", plan_id, "--clustering", "demo", "--out", str(out), "--retry", "3"], neo4j_settings
    )
    assert exported.returncode == 0, exported.stderr
    dag_jobs, dag_edges, retries = parse_dag(out / f"{plan_id}.dag")
    assert set(dag_jobs) == set(jobs.jobs)  # every batch job is present
    assert dag_edges == set(jobs.edges)  # every PARENT/CHILD pair is a job-DAG edge, and every edge is there
    assert retries == dict.fromkeys(jobs.jobs, 3)
    for name, submit in dag_jobs.items():
        text = (out / submit).read_text()
        assert f'arguments  = "run-job --job-file jobs/{name}.json"' in text  # no database on the node
        assert text.rstrip().endswith("queue")
        job_file = JobFile.load(out / "jobs" / f"{name}.json")
        assert (job_file.plan_id, job_file.clustering, job_file.job) == (plan_id, "demo", name)
        assert [q.id for q in job_file.quanta] == list(jobs.jobs[name].quanta)  # in run order

    bad = run(["cluster", plan_id, "--clustering", str(DEMO_RULES), "--name", "typo"], neo4j_settings)
    assert bad.returncode == 0
    rules = tmp_path / "bad.yaml"
    rules.write_text("cluster:\n  a: {pipetasks: calibrat}\n")
    refused = run(["cluster", plan_id, "--clustering", str(rules)], neo4j_settings)
    assert refused.returncode == 1
    assert "names task 'calibrat'" in refused.stderr and "did you mean 'calibrate'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_batchjob_model_is_frozen() -> None:
    job = BatchJob.model_validate(
        {"name": "a", "label": "a", "rule": None, "data_id": {"visit": 1}, "quanta": ("q",), "tasks": ("t",)}
    )
    with pytest.raises(ValueError, match="frozen"):
        job.name = "b"  # type: ignore[misc]
