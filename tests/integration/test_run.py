"""``provgraph run`` as a user runs it: plan and run, failures and resume, kill -9, racing runs.

Everything is checked from outside: exit codes and output of the real command,
files and checksums on disk, and the execution records in the graph with Cypher.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.journal import JOURNAL_DIR
from provenance_graph.planfile import load_plan
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from tests.integration.test_cli import PROVGRAPH, _env_for, run
from tests.support.graph_checks import file_checksums
from tests.support.graph_checks import rows as _rows

PIPELINE = str(demo_pipeline_path())
WHERE = "instrument = 'DemoCam'"


def _statuses(store: GraphStore, plan_id: str) -> dict[str, int]:
    rows = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN coalesce(q.status, 'pending') AS s, count(*) AS n",
        p=plan_id,
    )
    return {r["s"]: r["n"] for r in rows}


def _output_files(repo: Path, output_run: str) -> dict[str, str]:
    """sha256 of every dataset file under the output run's directory, by relative path (batch
    jobs' journals, in their own folder, are not datasets)."""
    files = file_checksums(repo / output_run)
    return {path: sha for path, sha in files.items() if not path.startswith(f"{JOURNAL_DIR}/")}


def _plan_and_run(
    settings: ConnectionSettings, repo: Path, plan_id: str, output_run: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    args = ["run", PIPELINE, "--repo", str(repo), "--where", WHERE, "--plan-id", plan_id]
    return run([*args, "--output-run", output_run, *extra], settings)


def _plan(settings: ConnectionSettings, repo: Path, plan_id: str, output_run: str) -> None:
    args = ["plan", PIPELINE, "--repo", str(repo), "--where", WHERE, "--plan-id", plan_id]
    planned = run([*args, "--output-run", output_run], settings)
    assert planned.returncode == 0, planned.stderr


#: Run-time config that makes each calibrate quantum take a while, so a run can be interrupted mid-way.
SLOW = ("-c", "calibrate:sleep=0.15")


def _planned(settings: ConnectionSettings, tmp_path: Path, plan_id: str, visits: int, detectors: int) -> str:
    """Make a demo repository and store a plan of it (output run ``<plan_id>/out``); return the id."""
    make_demo_repo(tmp_path / "repo", visits, detectors).close()
    _plan(settings, tmp_path / "repo", plan_id, f"{plan_id}/out")
    return plan_id


def _start_run(
    settings: ConnectionSettings,
    store: GraphStore,
    plan_id: str,
    until_succeeded: int,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start a slowed ``provgraph run --plan`` in its own process group; return once enough quanta succeeded.

    ``args``: another provgraph command line to start instead (e.g. ``submit``); ``env``: more
    environment variables for it.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A shell without job control starts background jobs with SIGINT ignored, and a child
        # inherits that (CI may run us so). Take Python's default, as under a terminal, so that
        # the child starts with SIGINT's default action and can be interrupted.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    child = subprocess.Popen(
        [PROVGRAPH, *(args or ("run", "--plan", plan_id, "-j", "2", *SLOW))],
        env={**os.environ, **_env_for(settings), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _statuses(store, plan_id).get("succeeded", 0) < until_succeeded:
        if child.poll() is not None or time.monotonic() > deadline:
            os.killpg(child.pid, signal.SIGKILL)
            raise AssertionError(f"the run ended or stalled before {until_succeeded} quanta succeeded")
        time.sleep(0.05)
    return child


def test_run_plans_runs_and_records_every_quantum(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo, 3, 4).close()
    plan_id, output_run = f"{namespace}-run", f"{namespace}/out"
    saved = tmp_path / "plan.json.gz"
    done = _plan_and_run(neo4j_settings, repo, plan_id, output_run, "-j", "2", "--save-plan", str(saved))
    assert done.returncode == 0, done.stderr
    graph = read_plan(store, plan_id)
    assert load_plan(saved) == graph  # --save-plan keeps the plan that ran
    assert f"plan:       {plan_id}" in done.stdout
    assert f"this run:   {len(graph)} succeeded" in done.stdout
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    # One attempt per quantum, with the figures a user looks at.
    attempts = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt) RETURN q.id AS q, a AS a",
        p=plan_id,
    )
    assert sorted(r["q"] for r in attempts) == sorted(graph.quanta)
    for r in attempts:
        a = r["a"]
        assert a["status"] == "succeeded" and a["exit_status"] == 0 and a["number"] == 1
        assert a["duration_s"] >= 0 and a["pid"] > 0 and a["host"] and a["peak_rss_mb"] > 0
        assert a["ended"] >= a["started"]
    # Every produced dataset exists, with the size and checksum of its file on disk.
    produced = _rows(
        store,
        "MATCH (:Quantum {plan_id: $p})-[:PRODUCES]->(d:Dataset) "
        "RETURN d.uri AS uri, d.exists AS exists, d.size AS size, d.checksum AS checksum",
        p=plan_id,
    )
    assert len(produced) == sum(len(q.outputs) for q in graph.quanta.values())
    for d in produced:
        data = Path(d["uri"].removeprefix("file://")).read_bytes()
        assert d["exists"] is True and d["size"] == len(data)
        assert d["checksum"] == "sha256:" + hashlib.sha256(data).hexdigest()
    execution = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e AS e", p=plan_id)
    assert [r["e"]["status"] for r in execution] == ["succeeded"]
    assert execution[0]["e"]["jobs"] == 2

    # Running it again does nothing: everything succeeded already.
    again = run(["run", "--plan", plan_id], neo4j_settings)
    assert again.returncode == 0, again.stderr
    assert "this run:   nothing to do" in again.stdout
    assert _rows(store, "MATCH (a:Attempt {plan_id: $p}) RETURN count(a) AS n", p=plan_id)[0]["n"] == len(
        graph
    )


STATUS_LABELS = {"running": "Running", "succeeded": "Succeeded", "failed": "Failed", "blocked": "Blocked",
                 "skipped": "Skipped"}  # fmt: skip


def assert_status_labels_mirror_status(store: GraphStore, plan_id: str) -> None:
    """Every quantum carries exactly the label of its status (schema v5), none while pending."""
    rows = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id, coalesce(q.status, 'pending') AS s, labels(q) AS l",
        p=plan_id,
    )
    for r in rows:
        have = set(r["l"]) & set(STATUS_LABELS.values())
        want = {STATUS_LABELS[r["s"]]} if r["s"] in STATUS_LABELS else set()
        assert have == want, f"quantum {r['id']} is {r['s']} but labelled {sorted(have)}"


def test_injected_failure_blocks_downstream_then_resume_completes(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo, 3, 4).close()
    plan_id, output_run = f"{namespace}-fail", f"{namespace}/out"
    fail = ["-c", "calibrate:fail_on=[{visit: 2, detector: 1}]"]
    done = _plan_and_run(neo4j_settings, repo, plan_id, output_run, "-j", "2", *fail)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "InjectedFailure: calibrate: failure injected" in done.stdout
    assert f"provgraph run --plan {plan_id}" in done.stdout

    graph = read_plan(store, plan_id)
    [failed] = [
        q
        for q in graph.quanta.values()
        if q.task_label == "calibrate" and q.data_id["visit"] == 2 and q.data_id["detector"] == 1
    ]
    downstream: set[str] = set()
    stack = [failed.id]
    while stack:  # everything reachable through produced -> consumed datasets
        for child in graph.children(stack.pop()):
            if child not in downstream:
                downstream.add(child)
                stack.append(child)
    rows = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id, q.status AS s, q.blocked_by AS by",
        p=plan_id,
    )
    status = {r["id"]: r["s"] for r in rows}
    assert status[failed.id] == "failed"
    assert {q for q, s in status.items() if s == "blocked"} == downstream
    assert {r["by"] for r in rows if r["s"] == "blocked"} == {failed.id}
    assert {q for q, s in status.items() if s == "succeeded"} == set(graph.quanta) - downstream - {failed.id}
    assert_status_labels_mirror_status(store, plan_id)

    # The failure is fixed: resume with the injection switched off at run time.
    resumed = run(["run", "--plan", plan_id, "--change-config", "-c", "calibrate:fail_on=[]"], neo4j_settings)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"this run:   {len(downstream) + 1} succeeded" in resumed.stdout
    assert _statuses(store, plan_id) == {"succeeded": len(graph)}
    assert_status_labels_mirror_status(store, plan_id)
    attempts = _rows(
        store,
        "MATCH (a:Attempt {plan_id: $p}) RETURN a.quantum_id AS q, a.status AS s ORDER BY a.number",
        p=plan_id,
    )
    succeeded = [r["q"] for r in attempts if r["s"] == "succeeded"]
    assert sorted(succeeded) == sorted(graph.quanta)  # every quantum succeeded exactly once
    assert [r["s"] for r in attempts if r["q"] == failed.id] == ["failed", "succeeded"]


def test_run_killed_with_kill_9_resumes_to_the_same_files_as_a_clean_run(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    # Dataset ids depend on the run (not on the repository), so each repository gets its own.
    clean_run, output_run = f"{namespace}/clean", f"{namespace}/killed"
    clean_repo, killed_repo = tmp_path / "clean", tmp_path / "killed"
    for repo in (clean_repo, killed_repo):
        make_demo_repo(repo, 4, 6).close()
    clean = _plan_and_run(neo4j_settings, clean_repo, f"{namespace}-clean", clean_run, "-j", "2")
    assert clean.returncode == 0, clean.stderr

    plan_id = f"{namespace}-killed"
    _plan(neo4j_settings, killed_repo, plan_id, output_run)
    total = len(read_plan(store, plan_id))
    child = _start_run(neo4j_settings, store, plan_id, until_succeeded=total // 3)
    os.killpg(child.pid, signal.SIGKILL)  # the whole run: coordinator and workers
    child.wait()
    killed_at = _statuses(store, plan_id)
    assert 0 < killed_at.get("succeeded", 0) < total

    resumed = run(["run", "--plan", plan_id, "-j", "2"], neo4j_settings)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = _statuses(store, plan_id)
    assert set(final) <= {"succeeded", "skipped"} and sum(final.values()) == total
    if killed_at.get("running"):
        assert "repaired:" in resumed.stdout
        interrupted = _rows(
            store, "MATCH (a:Attempt {plan_id: $p, status: 'interrupted'}) RETURN count(a) AS n", p=plan_id
        )
        assert interrupted[0]["n"] == killed_at["running"]
    # No quantum succeeded twice, and the files are those of the clean run, byte for byte.
    twice = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt {status: 'succeeded'}) "
        "WITH q, count(a) AS n WHERE n > 1 RETURN count(q) AS n",
        p=plan_id,
    )
    assert twice[0]["n"] == 0
    clean_files = _output_files(clean_repo, clean_run)
    assert clean_files
    assert _output_files(killed_repo, output_run) == clean_files


def test_two_runs_racing_on_one_plan_never_run_a_quantum_twice(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    plan_id = _planned(neo4j_settings, tmp_path, f"{namespace}-race", 3, 4)
    env = {**os.environ, **_env_for(neo4j_settings)}
    runs = [
        subprocess.Popen(
            [PROVGRAPH, "run", "--plan", plan_id, "-j", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    for r, (out, err) in zip(runs, outputs, strict=True):
        assert r.returncode == 0, out + err
    total = len(read_plan(store, plan_id))
    assert _statuses(store, plan_id) == {"succeeded": total}
    per_quantum = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN q.id AS q, count(a) AS n",
        p=plan_id,
    )
    assert {r["n"] for r in per_quantum} == {1}
    executions = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e.status AS s", p=plan_id)
    assert [r["s"] for r in executions] == ["succeeded", "succeeded"]


def test_ctrl_c_gives_back_what_was_running_and_the_rerun_finishes(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    plan_id = _planned(neo4j_settings, tmp_path, f"{namespace}-ctrlc", 4, 6)
    total = len(read_plan(store, plan_id))
    child = _start_run(neo4j_settings, store, plan_id, until_succeeded=total // 4)
    os.killpg(child.pid, signal.SIGINT)  # what a terminal sends to the foreground group
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "interrupted" in err
    stopped = _statuses(store, plan_id)
    assert "running" not in stopped  # given back, not left for the next run to repair
    assert_status_labels_mirror_status(store, plan_id)  # the released are pending: no label
    execution = _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e.status AS s", p=plan_id)
    assert [r["s"] for r in execution] == ["interrupted"]
    rerun = run(["run", "--plan", plan_id, "-j", "2"], neo4j_settings)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert set(_statuses(store, plan_id)) <= {"succeeded", "skipped"}
    assert_status_labels_mirror_status(store, plan_id)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--plan", "no-such-plan"], "no plan 'no-such-plan' is stored"),
        (["run", "--plan", "x", "-c", "isr:saturation"], "is not LABEL:FIELD=VALUE"),
        (["run", "--plan", "x", "-c", "isr:saturation=[1"], "the value is not YAML"),
        (["run"], "give either a PIPELINE file"),
    ],
)
def test_run_refuses_bad_input_with_a_clear_message(
    neo4j_settings: ConnectionSettings, args: list[str], message: str
) -> None:
    done = run(args, neo4j_settings)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_run_time_override_of_an_unknown_task_is_refused_before_anything_runs(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo, 2, 2, write_pixels=False).close()
    plan_id = f"{namespace}-override"
    planned = run(
        ["plan", PIPELINE, "--repo", str(repo), "--plan-id", plan_id, "--output-run", f"{namespace}/out"],
        neo4j_settings,
    )
    assert planned.returncode == 0, planned.stderr
    done = run(["run", "--plan", plan_id, "-c", "calibrat:fail_on=[]"], neo4j_settings)
    assert done.returncode == 1
    assert "config override for unknown task 'calibrat'" in done.stderr
    assert "calibrate" in done.stderr  # the suggestion
    assert _rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN count(e) AS n", p=plan_id)[0]["n"] == 0


def test_fail_fast_stops_starting_quanta_after_the_first_failure(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    plan_id = _planned(neo4j_settings, tmp_path, f"{namespace}-failfast", 3, 4)
    done = run(
        ["run", "--plan", plan_id, "-j", "2", "--fail-fast", "-c", "isr:fail_on=[{detector: 0}]"],
        neo4j_settings,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    statuses = _statuses(store, plan_id)
    assert statuses.get("failed", 0) >= 1
    assert statuses.get("pending", 0) > 0  # not started: stopped, not blocked
    assert "running" not in statuses
    # Without --fail-fast every isr quantum of detector 0 is tried.
    done = run(["run", "--plan", plan_id, "-j", "2", "-c", "isr:fail_on=[{detector: 0}]"], neo4j_settings)
    assert done.returncode == 1
    failed = _rows(
        store,
        "MATCH (q:Quantum {plan_id: $p, status: 'failed'}) RETURN collect(DISTINCT q.task) AS t, count(q) AS n",
        p=plan_id,
    )
    assert failed[0]["t"] == ["isr"] and failed[0]["n"] == 3  # one exposure per visit, 3 visits


def test_a_plan_being_run_cannot_be_deleted_or_replaced(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    plan_id = _planned(neo4j_settings, tmp_path, f"{namespace}-busy", 3, 4)
    # Slow enough that the run is still going when `plans delete` has started, even on a
    # loaded machine (a fresh process's start-up took seconds under a load of 5 on 2 cores).
    slower = ("run", "--plan", plan_id, "-j", "2", "-c", "calibrate:sleep=1.0")
    child = _start_run(neo4j_settings, store, plan_id, until_succeeded=1, args=slower)
    try:
        refused = run(["plans", "delete", plan_id], neo4j_settings)
        assert refused.returncode == 1
        assert f"plan {plan_id!r} cannot be deleted: execution" in refused.stderr
        assert "is running it" in refused.stderr
    finally:
        _out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert set(_statuses(store, plan_id)) == {"succeeded"}
