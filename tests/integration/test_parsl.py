"""Batch jobs run as a user runs them: ``provgraph submit`` on Parsl, ``status``, ``restart``, ``run-job``.

Parsl's HighThroughputExecutor starts on this machine (loopback only) for each submit, which
costs seconds, so each test uses the smallest demo repository that shows its point (1 visit x
3 detectors: 50 quanta in 30 batch jobs). Everything is checked from outside: exit codes,
output, files and checksums on disk, and the records in the graph.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shlex
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from provenance_graph.demo import CALIB_RUN, make_demo_repo
from provenance_graph.journal import JOURNAL_DIR, JournalRecord, read_journals
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from provenance_graph.store.clustering import blast_radius, find_quantum, read_job_graph
from tests.integration.test_batch_jobs import DEMO_RULES, parse_dag
from tests.integration.test_cli import run
from tests.integration.test_rerun import BAD_BIAS, set_bias
from tests.integration.test_run import (
    _output_files,
    _plan,
    _plan_and_run,
    _rows,
    _start_run,
    _statuses,
)

FAILING = {"instrument": "DemoCam", "visit": 1, "detector": 1}
FAIL = ("-c", "calibrate:fail_on=[{visit: 1, detector: 1}]")


def _attempts(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    return _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt) RETURN q.id AS q, a AS a",
        p=plan_id,
    )


def _clustered(
    settings: ConnectionSettings, tmp_path: Path, plan_id: str, output_run: str, plans: list[str]
) -> str:
    """A demo repository of 1 visit x 3 detectors, its plan stored and clustered with the demo rules."""
    make_demo_repo(tmp_path / "repo", 1, 3).close()
    _plan(settings, tmp_path / "repo", plan_id, output_run)
    plans.append(plan_id)
    cluster = run(["cluster", plan_id, "--clustering", str(DEMO_RULES)], settings)
    assert cluster.returncode == 0, cluster.stderr
    return plan_id


def test_submit_on_parsl_makes_the_files_of_provgraph_run_and_records_the_same_attempts(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    # Dataset ids depend on the run, so each repository gets its own; files are compared by path in the run.
    run_a, run_b = f"{namespace}/cmdline", f"{namespace}/parsl"
    for repo in ("a", "b"):
        make_demo_repo(tmp_path / repo, 1, 3).close()
    ran = _plan_and_run(neo4j_settings, tmp_path / "a", f"{namespace}-a", run_a, "-j", "2")
    assert ran.returncode == 0, ran.stderr
    plan_id = f"{namespace}-b"
    _plan(neo4j_settings, tmp_path / "b", plan_id, run_b)
    plans.append(plan_id)

    done = run(["submit", plan_id, "--clustering", str(DEMO_RULES), "-j", "2"], neo4j_settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Clustering 'demo' of plan '{plan_id}' written: 30 batch jobs" in done.stdout
    assert "blast radius" in done.stdout and "ccd_chain" in done.stdout  # shown before submitting
    assert "Submitting 30 batch jobs to parsl" in done.stdout
    graph = read_plan(store, plan_id)
    assert f"this run:   {len(graph)} succeeded" in done.stdout

    # The same files, byte for byte.
    files = _output_files(tmp_path / "b", run_b)
    assert files and files == _output_files(tmp_path / "a", run_a)
    # One succeeded attempt per quantum, with the fields the command-line Activator records.
    cmdline = _attempts(store, f"{namespace}-a")
    parsl = _attempts(store, plan_id)
    assert sorted(r["q"] for r in parsl) == sorted(graph.quanta)
    assert {frozenset(r["a"].keys()) for r in parsl} == {frozenset(r["a"].keys()) for r in cmdline}
    for r in parsl:
        a = r["a"]
        assert a["status"] == "succeeded" and a["exit_status"] == 0 and a["number"] == 1
        assert a["duration_s"] >= 0 and a["pid"] > 0 and a["host"] and a["peak_rss_mb"] > 0
        assert a["ended"] >= a["started"] and "error" not in a
    # Outputs recorded with size and checksum, as 'provgraph run' records them.
    produced = _rows(
        store,
        "MATCH (:Quantum {plan_id: $p})-[:PRODUCES]->(d:Dataset) RETURN d.exists AS e, d.checksum AS c",
        p=plan_id,
    )
    assert produced and all(d["e"] is True and d["c"].startswith("sha256:") for d in produced)
    [execution] = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e AS e", p=plan_id)
    assert execution["e"]["activator"] == "parsl" and execution["e"]["status"] == "succeeded"
    # A batch job's quanta ran in one worker process, in order.
    jobs = read_job_graph(store, plan_id, "demo")
    by_quantum = {r["q"]: r["a"] for r in parsl}
    for job in jobs:
        attempts = [by_quantum[q] for q in job.quanta]
        assert len({a["pid"] for a in attempts}) == 1, job.name
        assert all(x["ended"] <= y["ended"] for x, y in itertools.pairwise(attempts))


def test_a_failing_job_is_retried_then_blocks_its_dependants_and_restart_completes_the_plan(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    plan_id = _clustered(neo4j_settings, tmp_path, f"{namespace}-fail", f"{namespace}/out", plans)

    failed = run(
        ["submit", plan_id, "--clustering", "demo", "--retries", "1", "-j", "2", *FAIL], neo4j_settings
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "InjectedFailure" in failed.stdout and f"provgraph restart {plan_id}" in failed.stdout
    assert "retried:    1 batch job run(s)" in failed.stdout

    bad = find_quantum(store, plan_id, "calibrate", '{"detector":1,"instrument":"DemoCam","visit":1}')
    radius = blast_radius(store, plan_id, "demo", bad)
    attempts = _attempts(store, plan_id)
    tries = sorted((r["a"]["number"], r["a"]["status"]) for r in attempts if r["q"] == bad)
    assert tries == [(1, "failed"), (2, "failed")]  # the job ran again, and failed again
    # Its job's quanta before it ran once (the retry ran only what was unfinished); after it, none ran.
    jobs = read_job_graph(store, plan_id, "demo")
    home = jobs.jobs[radius.job].quanta
    before, after = home[: home.index(bad)], home[home.index(bad) + 1 :]
    assert before and after
    per_quantum: dict[str, list[dict[str, Any]]] = {}
    for r in attempts:
        per_quantum.setdefault(r["q"], []).append(r["a"])
    assert all([a["status"] for a in per_quantum[q]] == ["succeeded"] for q in before)
    # Every quantum of the jobs lost (downstream jobs, and the rest of its own) never started: blocked.
    lost = {q.id for q in radius.quanta} - set(before)
    assert len(radius.jobs) > 1 and lost
    assert not lost & per_quantum.keys()
    status = {
        r["id"]: (r["s"], r["by"])
        for r in _rows(
            store,
            "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id, q.status AS s, q.blocked_by AS by",
            p=plan_id,
        )
    }
    assert all(status[q] == ("blocked", bad) for q in lost)
    succeeded_before = {q for q, a in per_quantum.items() if a[-1]["status"] == "succeeded"}
    assert _statuses(store, plan_id) == {
        "succeeded": len(succeeded_before),
        "failed": 1,
        "blocked": len(lost),
    }

    shown = run(["status", plan_id], neo4j_settings)
    assert shown.returncode == 1, shown.stderr  # status exits 1 while anything has failed
    assert "clustering demo: batch jobs" in shown.stdout and f"failed   {radius.job}" in shown.stdout
    assert "blocked  " in shown.stdout

    restarted = run(
        ["restart", plan_id, "-j", "2", "--change-config", "-c", "calibrate:fail_on=[]"], neo4j_settings
    )
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "with clustering 'demo'" in restarted.stdout
    graph = read_plan(store, plan_id)
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    after_restart: dict[str, list[dict[str, Any]]] = {}
    for r in _attempts(store, plan_id):
        after_restart.setdefault(r["q"], []).append(r["a"])
    # Nothing that had succeeded ran again; the failed quantum succeeded at its third attempt.
    assert all(len(after_restart[q]) == 1 for q in succeeded_before)
    assert sorted(a["number"] for a in after_restart[bad]) == [1, 2, 3]
    fixed = next(a for a in after_restart[bad] if a["number"] == 3)
    assert fixed["status"] == "succeeded"
    # Jobs downstream of the failed one started only after it succeeded.
    downstream = {q for job in radius.jobs[1:] for q in jobs.jobs[job].quanta}
    assert all(after_restart[q][0]["started"] >= fixed["ended"] for q in downstream)

    shown = run(["status", plan_id, "--json"], neo4j_settings)
    assert '"state": "failed"' not in shown.stdout and '"state": "blocked"' not in shown.stdout
    assert shown.stdout.count('"state": "succeeded"') == len(jobs)


def _no_database_env(tmp_path: Path) -> dict[str, str]:
    """A compute node's environment: no NEO4J_*, no provgraph config, an empty home."""
    node_home = tmp_path / "node-home"
    node_home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "PROVGRAPH_"))}
    return env | {
        "HOME": str(node_home),
        "XDG_DATA_HOME": str(node_home / "data"),
        "XDG_CONFIG_HOME": str(node_home / "config"),
        "PROVGRAPH_HOME": str(node_home / "neo4j"),  # were anything to start a server, it would be here
    }


def _dag_command(out: Path, submit: str) -> list[str]:
    """The executable and arguments of a submit description."""
    lines = (out / submit).read_text().splitlines()
    executable = next(line for line in lines if line.startswith("executable")).partition("=")[2].strip()
    arguments = next(line for line in lines if line.startswith("arguments")).partition("=")[2]
    return [executable, *shlex.split(arguments.strip().strip('"'))]


def test_dagman_jobs_run_with_no_database_and_their_journals_are_recorded_once(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    """What DAGMan does, by hand: each node runs its job file with no Neo4j anywhere in its
    environment; the POST script records the journal on the submitting host."""
    plan_id = _clustered(neo4j_settings, tmp_path, f"{namespace}-dag", f"{namespace}/out", plans)
    out = tmp_path / "dag"
    export = run(["export-dagman", plan_id, "--clustering", "demo", "--out", str(out)], neo4j_settings)
    assert export.returncode == 0, export.stderr
    dag_jobs, _edges, _ = parse_dag(out / f"{plan_id}.dag")
    jobs = read_job_graph(store, plan_id, "demo")
    dag_text = (out / f"{plan_id}.dag").read_text()
    posts = {
        line.split()[2]: line.split()[3:] for line in dag_text.splitlines() if line.startswith("SCRIPT POST")
    }
    assert set(posts) == set(dag_jobs)

    node_env = _no_database_env(tmp_path)
    order = list(jobs.jobs)  # topological: parents first, as DAGMan runs them
    first = next(j for j in order if len(jobs.jobs[j].quanta) > 1)
    node = subprocess.run(  # noqa: PLW1510 - the exit status is asserted
        [*_dag_command(out, dag_jobs[first])],
        cwd=out,
        env=node_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert node.returncode == 0, node.stdout + node.stderr
    assert f"batch job {first} of plan '{plan_id}': succeeded" in node.stdout
    assert not (tmp_path / "node-home" / "neo4j").exists(), "run-job started a server on the node"
    journal = Path(posts[first][posts[first].index("record") + 1])
    assert journal.is_file() and "provgraph-journal" in journal.parts
    assert _attempts(store, plan_id) == []  # nothing reached the graph from the node

    # The POST script, on the submitting host: records the journal, exits with the job's status.
    post = [posts[first][0], *posts[first][1:]]
    post = [a.replace("$RETURN", "0") for a in post]
    recorded = subprocess.run(post, cwd=out, capture_output=True, text=True, timeout=600, check=False)
    assert recorded.returncode == 0, recorded.stderr
    attempts = _attempts(store, plan_id)
    assert sorted(r["q"] for r in attempts) == sorted(jobs.jobs[first].quanta)
    assert all(r["a"]["status"] == "succeeded" and r["a"]["batch_job"] == first for r in attempts)
    assert _statuses(store, plan_id)["succeeded"] == len(jobs.jobs[first].quanta)
    [execution] = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e AS e", p=plan_id)
    assert execution["e"]["activator"] == "dagman" and execution["e"]["status"] == "recorded"
    graph = read_plan(store, plan_id)
    for quantum_id in jobs.jobs[first].quanta:  # every output's recorded checksum is its file's
        for ref in graph.quanta[quantum_id].outputs:
            [row] = _rows(
                store, "MATCH (d:Dataset {id: $id}) RETURN d.uri AS uri, d.checksum AS c", id=ref.id
            )
            data = Path(row["uri"].removeprefix("file://")).read_bytes()
            assert row["c"] == "sha256:" + hashlib.sha256(data).hexdigest()
    read = {r["q"]: json.loads(r["a"].get("input_checksums_json") or "{}") for r in attempts}
    assert any(read.values()), "no attempt recorded the raws and calibrations it read (schema v13)"
    with Repository.open(tmp_path / "repo") as repo:  # each checksum is its file's in this repository
        for quantum_id, sums in read.items():
            quantum = graph.quanta[quantum_id]
            refs = {ref.id: ref for ref in quantum.inputs}
            assert set(sums) == {i for i, ref in refs.items() if ref.run != quantum.run}
            assert sums == {i: repo.fingerprint(refs[i])[2] for i in sums}

    again = run(["record", str(journal)], neo4j_settings)  # a POST script retried: nothing new
    assert (
        again.returncode == 0
        and "recorded 0 attempt(s)" in again.stdout
        and "recorded before" in again.stdout
    )
    assert len(_attempts(store, plan_id)) == len(attempts)
    rerun = subprocess.run(  # noqa: PLW1510 - DAGMan RETRY of a job that succeeded: nothing to do
        _dag_command(out, dag_jobs[first]), cwd=out, env=node_env, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0 and "nothing to do" in rerun.stdout, rerun.stdout + rerun.stderr


def test_record_after_a_failed_dagman_job_blocks_what_lies_downstream_of_the_failure(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    """DAGMan by hand, with detector 1's bias corrupted: a job whose parent failed never starts,
    and `record` marks what lies downstream of the failure blocked, for `triage` to attribute."""
    plan_id = _clustered(neo4j_settings, tmp_path, f"{namespace}-dagfail", f"{namespace}/out", plans)
    with Repository.open(tmp_path / "repo") as repo:
        ref = repo.ref("bias", BAD_BIAS, CALIB_RUN)
        broken = np.array(repo.get(ref), dtype=float)
    broken[:4, :4] = np.nan  # isr fails on it
    set_bias(tmp_path / "repo", broken)
    out = tmp_path / "dag"
    export = run(["export-dagman", plan_id, "--clustering", "demo", "--out", str(out)], neo4j_settings)
    assert export.returncode == 0, export.stderr
    dag_jobs, edges, _ = parse_dag(out / f"{plan_id}.dag")
    posts = {
        line.split()[2]: line.split()[3:]
        for line in (out / f"{plan_id}.dag").read_text().splitlines()
        if line.startswith("SCRIPT POST")
    }
    jobs = read_job_graph(store, plan_id, "demo")
    node_env = _no_database_env(tmp_path)
    failed_jobs: set[str] = set()
    for job in jobs.jobs:  # topological, as DAGMan runs them; a child of a failed job never starts
        if any(parent in failed_jobs for parent, child in edges if child == job):
            failed_jobs.add(job)  # DAGMan marks it unrunnable: it neither runs nor has a POST
            continue
        node = subprocess.run(  # noqa: PLW1510 - the exit status is what DAGMan reads
            _dag_command(out, dag_jobs[job]),
            cwd=out,
            env=node_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        post = [a.replace("$RETURN", str(node.returncode)) for a in posts[job]]
        recorded = subprocess.run(post, cwd=out, capture_output=True, text=True, timeout=600, check=False)
        assert recorded.returncode == node.returncode, recorded.stdout + recorded.stderr
        if node.returncode:
            failed_jobs.add(job)
            assert "quanta blocked by the failures" in recorded.stdout, recorded.stdout

    # What should be blocked, by an independent walk of the plan: the quanta downstream of a failure.
    graph = read_plan(store, plan_id)
    dag = nx.DiGraph()
    for q in graph.quanta.values():
        dag.add_node(q.id)
        for ref in q.inputs:
            producer = graph.producer(ref.id)
            if producer is not None:
                dag.add_edge(producer.id, q.id)
    rows = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id, coalesce(q.status, 'pending') AS status, "
        "q.blocked_by AS blocked_by, 'Blocked' IN labels(q) AS labelled",
        p=plan_id,
    )
    status = {r["id"]: r["status"] for r in rows}
    failed = {q for q, s in status.items() if s == "failed"}
    assert failed and all(graph.quanta[q].task_label == "isr" for q in failed)
    downstream = set().union(*(nx.descendants(dag, q) for q in failed))
    assert downstream, "the failure has nothing downstream: the test shows nothing"
    assert {q for q, s in status.items() if s == "blocked"} == downstream
    for r in rows:
        if r["status"] == "blocked":
            assert (
                r["labelled"]
                and r["blocked_by"] in failed
                and r["id"] in nx.descendants(dag, r["blocked_by"])
            )
    # Quanta that only shared a job with the failure never ran either, but nothing failed upstream.
    assert all(not (nx.ancestors(dag, q) & failed) for q, s in status.items() if s == "pending")

    triage = run(["triage", plan_id, "--json"], neo4j_settings)
    assert triage.returncode == 0, triage.stderr
    answer = json.loads(triage.stdout)
    assert answer["failed"] == len(failed) and answer["blocked"] == len(downstream)


def test_ctrl_c_stops_parsl_at_once_and_gives_the_running_jobs_back(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    plan_id = _clustered(neo4j_settings, tmp_path, f"{namespace}-int", f"{namespace}/out", plans)
    submit = ("submit", plan_id, "--clustering", "demo", "-j", "2", "-c", "makeWarp:sleep=1")
    child = _start_run(neo4j_settings, store, plan_id, 15, submit)  # the chains and tables are done
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C at a terminal does: the whole process group
    try:
        _, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        raise AssertionError("provgraph submit did not stop within 60 s of Ctrl-C") from None
    assert child.returncode == 130, err
    assert "interrupted: unfinished quanta were given back" in err
    assert "running" not in _statuses(store, plan_id)
    [execution] = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e.status AS s", p=plan_id)
    assert execution["s"] == "interrupted"
    attempts = [r["a"]["status"] for r in _attempts(store, plan_id)]
    assert "interrupted" in attempts and "running" not in attempts


def test_a_rules_bps_number_of_retries_replaces_retries_for_its_jobs(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    make_demo_repo(tmp_path / "repo", 1, 2).close()
    plan_id = f"{namespace}-bps"
    _plan(neo4j_settings, tmp_path / "repo", plan_id, f"{namespace}/out")
    plans.append(plan_id)
    rules = tmp_path / "bps.yaml"
    rules.write_text(  # BPS's words: numberOfRetries and requestMemory beside our dimensions
        "name: bps\ncluster:\n  ccd_chain:\n    pipetasks: isr, characterizeImage, calibrate\n"
        "    dimensions: visit, detector\n    numberOfRetries: 2\n    requestMemory: 2048\n"
    )
    done = run(
        ["submit", plan_id, "--clustering", str(rules), "--retries", "0", "-j", "2", *FAIL], neo4j_settings
    )
    assert done.returncode == 1, done.stdout + done.stderr
    bad = find_quantum(store, plan_id, "calibrate", '{"detector":1,"instrument":"DemoCam","visit":1}')
    tries = sorted(r["a"]["number"] for r in _attempts(store, plan_id) if r["q"] == bad)
    assert tries == [1, 2, 3]  # the rule's 2 retries, not --retries 0


def test_a_worker_killed_mid_job_keeps_what_its_journal_says_it_finished(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    """kill -9 of the Parsl worker while a chain job is in its third quantum (calibrate): the two
    quanta before it succeeded (the journal says so) and stay succeeded; calibrate carries the death."""
    plan_id = _clustered(neo4j_settings, tmp_path, f"{namespace}-die", f"{namespace}/out", plans)
    submit = ("submit", plan_id, "--clustering", "demo", "-j", "1", "-c", "calibrate:sleep=120")
    child = _start_run(neo4j_settings, store, plan_id, 0, submit)
    journals = tmp_path / "repo" / f"{namespace}/out" / JOURNAL_DIR
    try:
        deadline = time.monotonic() + 180
        chain: list[JournalRecord] = []
        while time.monotonic() < deadline:  # isr and characterizeImage of one chain journaled
            read = read_journals([journals]) if journals.exists() else None
            by_job = defaultdict(list)
            for record in read.records if read else []:
                by_job[record.job].append(record)
            chain = next((r for job, r in by_job.items() if job.startswith("ccd_chain") and len(r) == 2), [])
            if chain:
                break
            time.sleep(0.2)
        assert chain, "no chain job journaled two quanta within 180 s"
        os.kill(chain[-1].outcome.pid, signal.SIGKILL)  # the worker running the job, as its journal says
        jobs = read_job_graph(store, plan_id, "demo")
        quanta = jobs.jobs[chain[0].job].quanta  # isr, characterizeImage, calibrate, transformSourceTable
        calibrate = quanta[2]
        deadline = time.monotonic() + 180
        query = "MATCH (q:Quantum) WHERE q.id IN $ids RETURN q.status AS s ORDER BY q.id = $last"
        seen: list[str] = []
        while time.monotonic() < deadline:  # the death recorded, and what it held up blocked
            seen = [r["s"] for r in _rows(store, query, ids=quanta[2:], last=quanta[3])]
            if seen == ["failed", "blocked"]:
                break
            time.sleep(0.5)
        assert seen == ["failed", "blocked"], f"calibrate, transformSourceTable: {seen} 180 s after the kill"
    finally:
        os.killpg(child.pid, signal.SIGINT)
        try:
            child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    statuses = {
        r["id"]: r["s"]
        for r in _rows(
            store, "MATCH (q:Quantum) WHERE q.id IN $ids RETURN q.id AS id, q.status AS s", ids=quanta
        )
    }
    assert [statuses[q] for q in quanta[:2]] == ["succeeded", "succeeded"]
    assert {r.outcome.quantum_id for r in chain} == set(quanta[:2])
    attempts = {r["q"]: r["a"] for r in _attempts(store, plan_id) if r["q"] in quanta}
    assert {attempts[q]["record_id"] for q in quanta[:2]} == {r.record_id for r in chain}
    assert "died" in attempts[calibrate]["error"] and attempts[calibrate]["exit_status"] == -1
    assert quanta[3] not in attempts, {
        q: (a["task"], a["status"], a.get("error")) for q, a in attempts.items()
    }


def test_blast_radius_is_what_a_real_run_with_that_failure_loses(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, plans: list[str], tmp_path: Path
) -> None:
    """A calibrate quantum fails in a real submit: the quanta that did not succeed are exactly
    it and what blast-radius said it loses; those before it in its chain job succeeded."""
    plan_id = _clustered(neo4j_settings, tmp_path, f"{namespace}-blast", f"{namespace}/out", plans)
    graph = read_plan(store, plan_id)
    [calibrate] = [
        q for q in graph.quanta.values() if q.task_label == "calibrate" and q.data_id.to_dict() == FAILING
    ]
    predicted = blast_radius(store, plan_id, "demo", calibrate.id)
    done = run(["submit", plan_id, "--clustering", "demo", "-j", "2", *FAIL], neo4j_settings)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = _rows(store, "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id, q.status AS s", p=plan_id)
    not_done = {r["id"] for r in rows if r["s"] != "succeeded"}
    assert not_done == {calibrate.id} | {q.id for q in predicted.quanta}  # the failure, and what it loses
    own = [q for q in read_job_graph(store, plan_id, "demo").jobs[predicted.job].quanta]
    before = own[: own.index(calibrate.id)]
    assert before and not set(before) & not_done  # isr and characterizeImage ran, and succeeded
