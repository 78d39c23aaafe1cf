"""Exit codes as a user meets them: 0 only when the question was answered or the work succeeded.

A missing plan, dataset or quantum is one ``error:`` line naming it, with the close
matches the graph holds, and exit 1 (never an empty answer and exit 0, never a
traceback); ``status`` exits 1 when anything failed; an empty plan is an error unless
``--allow-empty``, for ``run`` as for ``plan``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, read_plan
from tests.integration.test_cli import run

PIPELINE = str(demo_pipeline_path())
WHERE = "instrument = 'DemoCam'"


@dataclass(frozen=True)
class Stored:
    """Two plans of this module, run: one with every quantum succeeded, one with a failure."""

    prefix: str
    good: str
    bad: str
    repo: Path
    dataset_id: str
    quantum_id: str


@pytest.fixture(scope="module")
def stored(store: GraphStore, neo4j_settings: ConnectionSettings, demo_repo: Path) -> Iterator[Stored]:
    prefix = f"x{uuid.uuid4().hex[:10]}"
    good, bad = f"{prefix}-alpha", f"{prefix}-beta"
    common = ["run", PIPELINE, "-b", str(demo_repo), "-d", WHERE]
    done = run([*common, "--plan-id", good, "--output-run", f"{prefix}/alpha"], neo4j_settings)
    assert done.returncode == 0, done.stdout + done.stderr
    failing = ["-c", "calibrate:fail_on=[{visit: 1, detector: 1}]"]
    done = run([*common, "--plan-id", bad, "--output-run", f"{prefix}/beta", *failing], neo4j_settings)
    assert done.returncode == 1, done.stdout + done.stderr
    graph = read_plan(store, good)
    coadd = min(d for d, ref in graph.datasets.items() if ref.dataset_type.name == "deepCoadd")
    quantum = min(q.id for q in graph.quanta.values() if q.task_label == "calibrate")
    try:
        yield Stored(prefix, good, bad, demo_repo, coadd, quantum)
    finally:
        for plan_id in (bad, good):
            with contextlib.suppress(Exception):
                delete_plan(store, plan_id)
        store.autocommit("datasets_delete_orphans", run_prefix=prefix)


def assert_one_error(done: subprocess.CompletedProcess[str], *named: str, code: int = 1) -> None:
    """Exit ``code``, one ``error:`` line naming each of ``named``, no traceback."""
    text = done.stdout + done.stderr
    assert done.returncode == code, text
    assert "Traceback" not in text, text
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for name in named:
        assert name in done.stderr, (name, done.stderr)


def test_a_missing_plan_is_an_error_suggesting_close_ids(
    stored: Stored, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    typo = stored.good[:-1] + "h"  # ...-alphh
    clustering = str(Path(PIPELINE).with_name("clustering.yaml"))
    commands = [
        ["plans", "show", typo],
        ["plans", "notes", typo],
        ["plans", "export", typo, str(tmp_path / "p.json.gz")],
        ["plans", "delete", typo],
        ["query", "overview", typo],
        ["query", "missing", typo],
        ["query", "subgraph", typo],
        ["query", "prov", typo],
        ["query", "why", "visit=1", "--plan", typo],
        ["query", "diff", stored.good, typo],
        ["viz", "plan", typo, "-o", str(tmp_path / "p.svg")],
        ["status", typo],
        ["report", typo],
        ["stats", typo],
        ["stats", stored.good, "--compare", typo],
        ["footprint", typo],
        ["cancel", typo],
        ["run", "--plan", typo],
        ["cluster", typo, "--clustering", clustering],
        ["submit", typo, "--clustering", clustering],
        ["restart", typo],
        ["blast-radius", typo, "--clustering", "c", "--quantum", stored.quantum_id],
        ["export-dagman", typo, "--clustering", "c", "--out", str(tmp_path / "dag")],
        ["run-job", "--plan", typo, "--clustering", "c", "--job", "j"],
    ]
    for args in commands:
        done = run(args, neo4j_settings)
        assert_one_error(done, repr(typo), f"did you mean {stored.good!r}")
    assert not (tmp_path / "p.svg").exists() and not (tmp_path / "p.json.gz").exists()


def test_a_plan_id_typed_short_suggests_the_plans_it_starts(
    stored: Stored, neo4j_settings: ConnectionSettings
) -> None:
    done = run(["plans", "show", stored.prefix], neo4j_settings)
    assert_one_error(done, repr(stored.prefix), repr(stored.good), repr(stored.bad))


def test_a_missing_dataset_or_quantum_is_an_error_not_an_empty_answer(
    stored: Stored, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    for args in (
        ["query", "lineage", "nosuch-id"],
        ["query", "impact", "nosuch-id", "--json"],
        ["query", "lineage", "nosuch-id", "--cypher"],
        ["viz", "lineage", "nosuch-id", "-o", str(tmp_path / "l.svg")],
        ["viz", "impact", "nosuch-id", "-o", str(tmp_path / "l.svg")],
    ):
        assert_one_error(run(args, neo4j_settings), "dataset 'nosuch-id'")
    for args in (
        ["query", "deps", "nosuch-id"],
        ["query", "lineage", "--quantum", "nosuch-id"],
    ):
        assert_one_error(run(args, neo4j_settings), "quantum 'nosuch-id'")
    assert not (tmp_path / "l.svg").exists()


def test_an_id_typed_short_or_wrong_suggests_the_ids_it_is_close_to(
    stored: Stored, neo4j_settings: ConnectionSettings
) -> None:
    short = stored.dataset_id[:12]
    assert_one_error(run(["query", "lineage", short], neo4j_settings), repr(short), repr(stored.dataset_id))
    wrong = stored.dataset_id[:-1] + ("0" if stored.dataset_id[-1] != "0" else "1")
    assert_one_error(run(["viz", "lineage", wrong], neo4j_settings), repr(wrong), repr(stored.dataset_id))
    short = stored.quantum_id[:12]
    assert_one_error(run(["query", "deps", short], neo4j_settings), repr(short), repr(stored.quantum_id))
    # A quantum's id where a dataset's is wanted: the hint says which option takes it.
    done = run(["query", "lineage", stored.quantum_id], neo4j_settings)
    assert_one_error(done, repr(stored.quantum_id), "--quantum")


def test_the_real_ids_still_answer(stored: Stored, neo4j_settings: ConnectionSettings) -> None:
    for args in (
        ["query", "lineage", stored.dataset_id],
        ["query", "deps", stored.quantum_id],
        ["query", "lineage", "--quantum", stored.quantum_id],
        ["plans", "show", stored.good],
    ):
        done = run(args, neo4j_settings)
        assert done.returncode == 0, done.stdout + done.stderr


def test_status_exits_1_when_anything_failed(stored: Stored, neo4j_settings: ConnectionSettings) -> None:
    ok = run(["status", stored.good], neo4j_settings)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = run(["status", stored.bad], neo4j_settings)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "failed" in failed.stdout and "Traceback" not in failed.stderr
    as_json = run(["status", stored.bad, "--json"], neo4j_settings)
    assert as_json.returncode == 1, as_json.stdout + as_json.stderr


def assert_empty_refused_unless_allowed(
    store: GraphStore, settings: ConnectionSettings, args: list[str], plan_id: str, *why: str
) -> None:
    """``args`` plan nothing: refused naming ``why`` and storing nothing; with --allow-empty, a warning."""
    refused = run(args, settings)
    assert_one_error(refused, *why, "--allow-empty")
    assert not store.read("plan_header", plan_id=plan_id), "nothing is stored"
    try:
        allowed = run([*args, "--allow-empty"], settings)
        assert allowed.returncode == 0, allowed.stdout + allowed.stderr
        assert "the plan is empty" in allowed.stderr
    finally:
        with contextlib.suppress(Exception):
            delete_plan(store, plan_id)


def test_run_of_an_empty_plan_is_an_error_unless_allow_empty(
    stored: Stored, store: GraphStore, neo4j_settings: ConnectionSettings
) -> None:
    plan_id = f"{stored.prefix}-empty"
    args = ["run", PIPELINE, "-b", str(stored.repo), "-d", "visit = 99", "--plan-id", plan_id,
            "--output-run", f"{stored.prefix}/empty"]  # fmt: skip
    assert_empty_refused_unless_allowed(
        store, neo4j_settings, args, plan_id, "'visit = 99' matches no data ID"
    )


def test_a_plan_whose_every_data_id_was_dropped_is_empty_too(
    store: GraphStore, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    prefix = f"x{uuid.uuid4().hex[:10]}"
    repo = tmp_path / "repo"
    make_demo_repo(repo, 1, 2, missing_raws=[(1, 0), (1, 1)], write_pixels=False).close()
    for command in ("plan", "run"):
        plan_id = f"{prefix}-{command}"
        args = [command, PIPELINE, "-b", str(repo), "-d", WHERE, "--plan-id", plan_id,
                "--output-run", f"{prefix}/{command}"]  # fmt: skip
        assert_empty_refused_unless_allowed(
            store, neo4j_settings, args, plan_id, "the plan is empty", "no raw"
        )


def test_plans_list_shows_the_execution_state_beside_the_write_state(
    stored: Stored, neo4j_settings: ConnectionSettings
) -> None:
    pending = f"{stored.prefix}-gamma"
    args = ["plan", PIPELINE, "-b", str(stored.repo), "-d", WHERE, "--plan-id", pending,
            "--output-run", f"{stored.prefix}/gamma"]  # fmt: skip
    assert run(args, neo4j_settings).returncode == 0
    try:
        listed = run(["plans", "list", "--json"], neo4j_settings)
        assert listed.returncode == 0, listed.stderr
        states = {p["id"]: (p["status"], p["execution"]) for p in json.loads(listed.stdout)}
        assert states[stored.good] == ("complete", "succeeded")
        assert states[stored.bad] == ("complete", "failed")
        assert states[pending] == ("complete", "pending")
        table = run(["plans", "list"], neo4j_settings, COLUMNS="200").stdout
        assert "stored" in table and "execution" in table
        [row] = [line for line in table.splitlines() if stored.bad in line]
        assert "complete" in row and "failed" in row
    finally:
        run(["plans", "delete", pending], neo4j_settings)
