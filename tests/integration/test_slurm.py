"""``provgraph submit --site slurm.yaml`` on a real Slurm: the tests' single-node cluster.

The cluster is ``tests/support/slurm.py``'s (the ``slurm_cluster`` fixture starts it when it
is not running). Parsl's ``SlurmProvider`` submits one block with ``sbatch``, follows it with
``squeue`` (there is no accounting database, so no ``sacct``) and starts the workers with
``srun``. That the quanta really ran as a Slurm job is checked from Slurm's side, without
``sacct``: while the submit runs, ``squeue`` lists the block and ``scontrol listpids`` its
processes, which must include every worker that ran a quantum; afterwards the
job-completion log has the job, and the block's own output has its id.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from provenance_graph.journal import JOURNAL_DIR, read_journals
from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from provenance_graph.store.clustering import read_job_graph
from tests.integration.test_batch_jobs import DEMO_RULES
from tests.integration.test_cli import run
from tests.integration.test_parsl import _attempts
from tests.integration.test_run import _plan, _rows, _start_run, _statuses
from tests.support.slurm import PARTITION, SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def slurm_site(cluster: SlurmCluster, run_dir: Path) -> dict[str, Any]:
    """A site config for the tests' cluster: one block on its node, every connection on loopback."""
    return {
        "provider": "slurm",
        "provider_options": {
            "partition": PARTITION,
            "nodes_per_block": 1,
            "init_blocks": 1,
            "max_blocks": 1,
            "walltime": "00:10:00",
            "exclusive": False,
            # The job finds this checkout's provgraph and Parsl's worker pool; it says which job it is.
            "worker_init": f"export PATH={Path(sys.executable).parent}:$PATH; echo slurm-job $SLURM_JOB_ID",
        },
        "launcher": "srun",
        "executor_options": {"address": "127.0.0.1", "max_workers_per_node": 2},
        "run_dir": str(run_dir),
    }


class SlurmWatch:
    """Polls ``squeue`` and ``scontrol listpids`` in a thread while a submit runs."""

    def __init__(self, cluster: SlurmCluster) -> None:
        self.cluster = cluster
        self.running: dict[str, str] = {}  # job id -> name, seen RUNNING
        self.pids: dict[str, set[int]] = {}  # job id -> pids seen in it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> SlurmWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _poll(self) -> None:
        while not self._stop.is_set():
            listed = self.cluster.command("squeue", "--noheader", "--format=%i %T %j", timeout=10)
            for line in listed.stdout.splitlines():
                job_id, state, name = line.split(maxsplit=2)
                if state == "RUNNING":
                    self.running[job_id] = name
                    pids = self.cluster.command("scontrol", "listpids", job_id, timeout=10)
                    found = re.findall(r"^(\d+)\s+" + job_id + r"\b", pids.stdout, re.M)
                    self.pids.setdefault(job_id, set()).update(int(p) for p in found)
            self._stop.wait(0.3)


def _planned(
    cluster: SlurmCluster,
    settings: ConnectionSettings,
    plan_id: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> tuple[str, Path]:
    """The demo plan stored as ``plan_id`` (output run ``<plan_id>/out``), and a site file for the cluster."""
    _plan(settings, demo_repo, plan_id, f"{plan_id}/out")
    plans.append(plan_id)
    site = tmp_path / "slurm.yaml"
    site.write_text(yaml.safe_dump(slurm_site(cluster, tmp_path / "parsl")))
    return plan_id, site


def test_submit_with_a_slurm_site_runs_the_batch_jobs_as_slurm_jobs(
    slurm_cluster: SlurmCluster,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> None:
    plan_id, site = _planned(slurm_cluster, neo4j_settings, f"{namespace}-slurm", plans, demo_repo, tmp_path)
    finished_before = {job["JobId"] for job in slurm_cluster.completed_jobs()}

    with SlurmWatch(slurm_cluster) as watch:
        done = run(["submit", plan_id, "--clustering", str(DEMO_RULES), "--site", str(site)], neo4j_settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"to parsl ({site})" in done.stdout

    # The plan ran: every quantum succeeded, one succeeded attempt each.
    graph = read_plan(store, plan_id)
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    attempts = _attempts(store, plan_id)
    assert sorted(r["q"] for r in attempts) == sorted(graph.quanta)
    assert all(r["a"]["status"] == "succeeded" for r in attempts)

    # As one Slurm job: Parsl's block, started by sbatch, seen running by squeue.
    outputs = list((tmp_path / "parsl").glob("*/*/submit_scripts/*.stdout"))
    job_ids = {m for path in outputs for m in re.findall(r"slurm-job (\d+)", path.read_text())}
    assert len(job_ids) == 1, (outputs, job_ids)
    [job_id] = job_ids
    assert job_id in watch.running and watch.running[job_id].startswith("parsl.provgraph.block-")
    # Every worker that ran a quantum was a process of that job.
    assert {r["a"]["pid"] for r in attempts} <= watch.pids[job_id], watch.pids
    # Slurm's job-completion log has it: on this cluster's node, ended (Parsl cancels the block at its end).
    [record] = [job for job in slurm_cluster.completed_jobs() if job["JobId"] == job_id]
    assert job_id not in finished_before
    assert record["NodeList"] == slurm_cluster.node_name and record["Partition"] == PARTITION
    assert record["JobState"] in {"COMPLETED", "CANCELLED"}, record


def test_cancel_stops_the_slurm_jobs_and_restart_completes_then_report_says_so(
    slurm_cluster: SlurmCluster,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> None:
    plan_id, site = _planned(slurm_cluster, neo4j_settings, f"{namespace}-cancel", plans, demo_repo, tmp_path)
    submit = (
        "submit",
        plan_id,
        "--clustering",
        str(DEMO_RULES),
        "--site",
        str(site),
        "-c",
        "makeWarp:sleep=2",
    )
    child = _start_run(neo4j_settings, store, plan_id, 10, submit)
    try:
        ours = {j for j, name in _squeue(slurm_cluster).items() if name.startswith("parsl.provgraph.block-")}
        assert ours, "the submission's Parsl block is not in squeue"
        cancel = run(["cancel", plan_id], neo4j_settings)
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        assert "cancelled execution" in cancel.stdout and f"provgraph restart {plan_id}" in cancel.stderr
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    assert child.returncode == 130  # it stopped as it does on Ctrl-C
    # scancel returns before slurmd has ended the job: it may be COMPLETING for a while.
    assert _left_squeue(slurm_cluster, ours, within=120), "the block is still in squeue after cancel"
    [execution] = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e.status AS s", p=plan_id)
    assert execution["s"] == "cancelled"
    attempts = [r["a"]["status"] for r in _attempts(store, plan_id)]
    assert "cancelled" in attempts and "running" not in attempts and "interrupted" not in attempts
    assert "running" not in _statuses(store, plan_id)

    again = run(["cancel", plan_id], neo4j_settings)  # nothing runs it now
    assert (
        again.returncode == 1
        and "nothing is running plan" in again.stderr
        and "Traceback" not in again.stderr
    )
    unfinished = run(["report", plan_id, "--return-exit-codes"], neo4j_settings)
    assert unfinished.returncode == 0, unfinished.stdout + unfinished.stderr  # pending is not failed

    restart = run(["restart", plan_id, "--site", str(site)], neo4j_settings)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    graph = read_plan(store, plan_id)
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    report = run(["report", plan_id, "--json", "--return-exit-codes"], neo4j_settings)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["totals"]["succeeded"] == len(graph) and data["failed"] == []
    assert set(data["jobs"]) == set(read_job_graph(store, plan_id, data["clustering"]).jobs)
    assert {j["state"] for j in data["jobs"].values()} == {"succeeded"}


def _squeue(cluster: SlurmCluster) -> dict[str, str]:
    listed = cluster.command("squeue", "--noheader", "--format=%i %j", timeout=10)
    return dict(line.split(maxsplit=1) for line in listed.stdout.splitlines() if line.strip())


def _left_squeue(cluster: SlurmCluster, job_ids: set[str], within: float) -> bool:
    """Whether the jobs leave squeue within ``within`` seconds (polled: a liveness deadline)."""
    deadline = time.monotonic() + within
    while job_ids & set(_squeue(cluster)):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def test_a_submission_that_loses_neo4j_stops_and_restart_keeps_what_its_journals_hold(
    slurm_cluster: SlurmCluster,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    own_server: ManagedServer,
    namespace: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> None:
    """Neo4j stops while the Slurm jobs run and comes back later. The submission, told to wait
    3 s for it, stops with a message saying how to resume; the jobs journaled what they finished
    meanwhile. ``restart`` records those journals, runs the rest, and every quantum ends with
    exactly one successful attempt, the one its journal holds."""
    plan_id, site = _planned(slurm_cluster, neo4j_settings, f"{namespace}-outage", plans, demo_repo, tmp_path)
    submit = (
        "submit",
        plan_id,
        "--clustering",
        str(DEMO_RULES),
        "--site",
        str(site),
        "-c",
        "makeWarp:sleep=1",
    )
    env = {"NEO4J_RETRY_SECONDS": "3"}
    child = _start_run(neo4j_settings, store, plan_id, 10, submit, env=env)
    try:
        own_server.stop()
        time.sleep(8)  # the jobs go on, journaling; the submission gives up on Neo4j
        own_server.start()
        out, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    assert child.returncode == 1, out + err
    assert "Traceback" not in out + err and f"provgraph restart {plan_id}" in err, err

    restart = run(["restart", plan_id, "--site", str(site)], neo4j_settings)
    assert restart.returncode == 0, restart.stdout + restart.stderr
    graph = read_plan(store, plan_id)
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    succeeded = [r for r in _attempts(store, plan_id) if r["a"]["status"] == "succeeded"]
    assert sorted(r["q"] for r in succeeded) == sorted(graph.quanta)  # each exactly once
    journaled = read_journals([demo_repo / f"{plan_id}/out" / JOURNAL_DIR])
    assert journaled.torn == []
    ok = {r.record_id: r.outcome.quantum_id for r in journaled.records if r.outcome.succeeded}
    assert {r["a"]["record_id"]: r["q"] for r in succeeded} == ok  # nothing lost, nothing twice


#: Memory (MB) the demo's per-detector jobs ask for at first, and what each isr quantum then
#: allocates: two such jobs share one Parsl block, which asks for twice a job's memory.
FIRST_MB, ALLOCATE_MB = 600, 500


def _submit_over_memory(
    cluster: SlurmCluster,
    settings: ConnectionSettings,
    repo: Path,
    tmp_path: Path,
    plan_id: str,
    retries: int,
) -> subprocess.CompletedProcess[str]:
    """Plan the demo and submit it with per-detector jobs asking for less memory than isr uses."""
    _plan(settings, repo, plan_id, f"{plan_id}/out")
    config = slurm_site(cluster, tmp_path / "parsl")
    # Slurm's squeue forgets a finished job, so Parsl learns that a block was killed when its
    # workers miss their heartbeats: soon, here.
    config["executor_options"] |= {"heartbeat_period": 2, "heartbeat_threshold": 10}
    site = tmp_path / "slurm.yaml"
    site.write_text(yaml.safe_dump(config))
    rules = tmp_path / "rules.yaml"
    rule = {  # BPS's spellings
        "pipetasks": "isr, characterizeImage, calibrate, transformSourceTable",
        "dimensions": "visit, detector",
        "requestMemory": FIRST_MB,
        "memoryMultiplier": 2,
        "requestMemoryMax": 4 * FIRST_MB,
        "requestWalltime": "00:05:00",
        "numberOfRetries": retries,
    }
    rules.write_text(yaml.safe_dump({"name": "oom", "cluster": {"ccd_chain": rule}}))
    args = ["submit", plan_id, "--clustering", str(rules), "--site", str(site)]
    return run([*args, "-c", f"isr:allocate_mb={ALLOCATE_MB}", "-c", "isr:sleep=5"], settings)


def test_a_job_killed_for_its_memory_is_lost_not_failed_and_runs_again_with_more_memory(
    slurm_cluster: SlurmCluster,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> None:
    plan_id = f"{namespace}-oom"
    plans.append(plan_id)
    done = _submit_over_memory(slurm_cluster, neo4j_settings, demo_repo, tmp_path, plan_id, retries=1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lost batch job ccd_chain" in " ".join(done.stdout.split()), done.stdout

    # Every quantum succeeded in the end, and none ever failed: the kill was not a task failure.
    graph = read_plan(store, plan_id)
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    attempts = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN q.task AS task, a AS a ORDER BY a.number",
        p=plan_id,
    )
    assert not [r for r in attempts if r["a"]["status"] == "failed"], attempts
    isr = [r["a"] for r in attempts if r["task"] == "isr"]
    lost = [a for a in isr if a["status"] == "lost"]
    assert lost and all(a["number"] == 1 for a in lost), isr
    for attempt in lost:
        # Slurm's own account: the job id, its state and exit code, and its output's path.
        assert attempt["infrastructure"] == "out_of_memory", attempt
        assert attempt["request_memory"] == FIRST_MB
        [record] = [j for j in slurm_cluster.completed_jobs() if j["JobId"] == attempt["batch_job_id"]]
        assert record["JobState"] in {"FAILED", "OUT_OF_MEMORY"}, record
        assert attempt["batch_state"] == record["JobState"]
        assert f"Slurm job {attempt['batch_job_id']}" in attempt["error"]
        assert "exceeded memory limit" in attempt["error"]
        assert str(tmp_path / "parsl") in attempt["log"]
    retried = [a for a in isr if a["number"] == 2]
    assert retried and all(a["status"] == "succeeded" for a in retried), isr
    assert {a["request_memory"] for a in retried} == {2 * FIRST_MB}
    # The blocks asked Slurm for a job's memory per worker (two): first 2 x 600 MB, then 2 x 1200 MB.
    scripts = "\n".join(p.read_text() for p in (tmp_path / "parsl").glob("*/*/submit_scripts/parsl.*[0-9]"))
    assert f"#SBATCH --mem={2 * FIRST_MB}M" in scripts and f"#SBATCH --mem={4 * FIRST_MB}M" in scripts

    shown = run(["status", plan_id], neo4j_settings)
    assert shown.returncode == 0, shown.stderr
    flat = " ".join(shown.stdout.split())
    assert "out_of_memory" in flat and lost[0]["batch_job_id"] in flat, shown.stdout


def test_a_job_the_batch_system_refuses_leaves_its_quanta_pending_and_names_parsl_log(
    slurm_cluster: SlurmCluster,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> None:
    plan_id = f"{namespace}-refused"
    _plan(neo4j_settings, demo_repo, plan_id, f"{namespace}/refused")
    plans.append(plan_id)
    config = slurm_site(slurm_cluster, tmp_path / "parsl")
    config["provider_options"]["partition"] = "nosuch"  # sbatch: invalid partition specified
    site = tmp_path / "slurm.yaml"
    site.write_text(yaml.safe_dump(config))

    done = run(["submit", plan_id, "--clustering", str(DEMO_RULES), "--site", str(site)], neo4j_settings)
    assert done.returncode == 1, done.stdout + done.stderr
    flat = " ".join(done.stdout.split())
    assert "submission_refused" in flat and "parsl.log" in flat, done.stdout
    [log] = (tmp_path / "parsl").glob("*/*/parsl.log")
    assert str(log) in flat, done.stdout
    assert "failed" not in _statuses(store, plan_id) and "blocked" not in _statuses(store, plan_id)
    assert set(_statuses(store, plan_id)) == {"pending"}
    attempts = _attempts(store, plan_id)
    assert attempts and {r["a"]["status"] for r in attempts} == {"lost"}
    assert {r["a"]["infrastructure"] for r in attempts} == {"submission_refused"}
    # Slurm's own words, and no traceback.
    assert "sbatch: error: invalid partition specified: nosuch" in attempts[0]["a"]["error"]
    assert "Traceback" not in done.stdout + done.stderr

    for verb in ("status", "report"):  # lost, not failed
        shown = run([verb, plan_id], neo4j_settings)
        assert "submission_refused" in " ".join(shown.stdout.split()), shown.stdout
    assert run(["report", plan_id, "--return-exit-codes"], neo4j_settings).returncode == 0


def test_a_job_lost_for_its_memory_blocks_nothing_and_restart_asks_for_more(
    slurm_cluster: SlurmCluster,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    plans: list[str],
    demo_repo: Path,
    tmp_path: Path,
) -> None:
    plan_id = f"{namespace}-oom-restart"
    plans.append(plan_id)
    done = _submit_over_memory(slurm_cluster, neo4j_settings, demo_repo, tmp_path, plan_id, retries=0)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "provgraph restart" in done.stdout
    # Nothing failed, nothing is blocked: what the lost jobs held, and all after them, is pending.
    statuses = _statuses(store, plan_id)
    assert "failed" not in statuses and "blocked" not in statuses and statuses.get("pending"), statuses

    again = run(["restart", plan_id], neo4j_settings)  # the last submit's site, rules and -c
    assert again.returncode == 0, again.stdout + again.stderr
    assert _statuses(store, plan_id) == {"succeeded": len(read_plan(store, plan_id))}
    isr = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p, task: 'isr'})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN a.number AS n, a.status AS status, a.request_memory AS mb ORDER BY n",
        p=plan_id,
    )
    assert {(r["n"], r["status"], r["mb"]) for r in isr} == {
        (1, "lost", FIRST_MB),
        (2, "succeeded", 2 * FIRST_MB),
    }
