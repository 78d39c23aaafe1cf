"""``provgraph plan --split-by DIMENSION``: pre-flight and store a plan one part at a time.

The user's view: the plan stored in parts by tract is the plan stored whole, quantum for
quantum and edge for edge, with the same notes and counts (the ``namespace`` fixture also
checks its written status counts against a recount); planning it again is ``unchanged``;
a split that cuts a gathering task is refused with nothing stored; a write killed between
parts leaves no visible plan, and the rerun completes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, list_plans, read_plan
from tests.integration.test_cli import PROVGRAPH, _env_for, run
from tests.support.graph_checks import rows

PIPELINE = str(demo_pipeline_path())
WHERE = "instrument='DemoCam' AND skymap='demo' AND visit IN (1..12)"


@pytest.fixture(scope="module")
def two_tracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 visits of 9 detectors over two tracts, a raw missing in each tract and a bias missing."""
    path = tmp_path_factory.mktemp("split") / "repo"
    make_demo_repo(
        path, 12, 9, 2, missing_raws={(1, 0), (12, 4)}, missing_biases={7}, write_pixels=False
    ).close()
    return path


def _plan(
    repo: Path, plan_id: str, settings: ConnectionSettings, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run(
        [
            "plan",
            PIPELINE,
            "-b",
            str(repo),
            "-d",
            WHERE,
            "--output-run",
            f"{plan_id}/run",
            "--plan-id",
            plan_id,
            *extra,
        ],
        settings,
    )


def _content(store: GraphStore, plan_id: str) -> Counter[tuple[Any, ...]]:
    """Every edge of the plan by task, data ID, direction, dataset type, data ID, and whether it is an output."""
    found = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[r:CONSUMES|PRODUCES]->(d:Dataset) "
        "RETURN q.task AS task, q.data_id AS q, type(r) AS r, d.dataset_type AS t, d.data_id AS d, "
        "d.plan_id = $p AS made",
        p=plan_id,
    )
    return Counter(tuple(r.values()) for r in found)


def test_a_plan_split_by_tract_is_the_plan_planned_whole(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, two_tracts: Path
) -> None:
    whole, split = f"{namespace}-whole", f"{namespace}-split"
    done = _plan(two_tracts, whole, neo4j_settings)
    assert done.returncode == 0, done.stderr
    done = _plan(two_tracts, split, neo4j_settings, "--split-by", "tract")
    assert done.returncode == 0, done.stderr
    assert "part 1/2 (tract=0):" in done.stderr and "part 2/2 (tract=1):" in done.stderr
    assert f"stored plan '{split}' (written" in done.stderr
    assert "split by:    tract" in done.stdout

    a, b = read_plan(store, whole), read_plan(store, split)
    assert b.task_counts() == a.task_counts() and len(b) > 0
    assert len(b.datasets) == len(a.datasets) and b.edge_count == a.edge_count
    assert _content(store, split) == _content(store, whole)
    # Each visit lies in one tract; the biases are read by both parts, and stored once.
    assert b.plan.constraints == WHERE and b.plan.metadata["split_by"] == "tract"

    # The notes: the same reasons and data IDs, merged across the two parts.
    def notes(graph: Any) -> set[tuple[Any, ...]]:
        return {(n.task_label, n.kind, n.connection, tuple(n.data_ids), n.message) for n in graph.notes}

    assert notes(b) == notes(a)
    assert any(n.connection == "bias" and len(n.data_ids) == 12 for n in b.notes)
    # What a person reads is the same summary, but for the split line.
    assert [line for line in done.stdout.splitlines() if "split by" not in line and split not in line] == [
        line for line in _plan(two_tracts, whole, neo4j_settings).stdout.splitlines() if whole not in line
    ]

    again = _plan(two_tracts, split, neo4j_settings, "--split-by", "tract")
    assert again.returncode == 0, again.stderr
    assert f"stored plan '{split}' (unchanged" in again.stderr


def test_a_split_that_cuts_a_gathering_task_is_refused_and_stores_nothing(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, two_tracts: Path
) -> None:
    plan_id = f"{namespace}-by-visit"
    done = _plan(two_tracts, plan_id, neo4j_settings, "--split-by", "visit")
    assert done.returncode != 0
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "has other inputs or outputs in part visit=" in error and "the split cuts what it gathers" in error
    assert "Traceback" not in done.stderr
    assert plan_id not in {p.id for p in list_plans(store, include_incomplete=True)}
    assert not rows(store, "MATCH (n {plan_id: $p}) RETURN n LIMIT 1", p=plan_id)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--split-by", "trac"], "did you mean 'tract'?"),
        (["--split-by", "band"], "no records of 'band'"),
        (["--split-by", "tract", "-q", "plan.json.gz"], "drop -q/--save"),
        (["--split-by", "tract", "--no-store"], "drop --no-store"),
    ],
)
def test_bad_split_requests_are_one_line_errors(
    neo4j_settings: ConnectionSettings, namespace: str, two_tracts: Path, extra: list[str], said: str
) -> None:
    done = _plan(two_tracts, f"{namespace}-bad", neo4j_settings, *extra)
    assert done.returncode != 0
    assert said in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr


def test_a_split_write_killed_between_parts_is_completed_by_the_rerun(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, two_tracts: Path
) -> None:
    plan_id, whole = f"{namespace}-killed", f"{namespace}-clean"
    assert _plan(two_tracts, whole, neo4j_settings).returncode == 0
    env = {
        **os.environ,
        **_env_for(neo4j_settings),
        "PROVGRAPH_BATCH_QUANTA": "4",
        "PROVGRAPH_BATCH_DATASETS": "5",
    }
    args = [PROVGRAPH, "plan", PIPELINE, "-b", str(two_tracts), "-d", WHERE, "--output-run", f"{plan_id}/run",
            "--plan-id", plan_id, "--split-by", "tract"]  # fmt: skip
    # About 215 batches of 5 datasets or 4 quanta per part: the 300th is in the second part.
    killed = subprocess.run(args, env={**env, "PROVGRAPH_CRASH_AT": "plan.batch:300"}, capture_output=True,
                            text=True, timeout=600, check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "part 2/2 (tract=1)" in killed.stderr  # it died in the second part
    assert plan_id not in {p.id for p in list_plans(store)}  # nothing half-written is visible
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert f"stored plan '{plan_id}' (resumed" in again.stderr
    assert _content(store, plan_id) == _content(store, whole)


def test_an_empty_split_plan_is_refused_unless_allowed_and_then_stored_with_a_warning(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, two_tracts: Path
) -> None:
    plan_id = f"{namespace}-empty"
    args = ["plan", PIPELINE, "-b", str(two_tracts), "-d", "instrument='DemoCam' AND visit IN (500..510)",
            "--output-run", f"{plan_id}/run", "--plan-id", plan_id, "--split-by", "tract"]  # fmt: skip
    refused = run(args, neo4j_settings)
    assert refused.returncode != 0
    [error] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "the plan is empty: no task got a quantum" in error
    assert "Traceback" not in refused.stderr
    assert plan_id not in {p.id for p in list_plans(store, include_incomplete=True)}

    allowed = run([*args, "--allow-empty"], neo4j_settings)
    assert allowed.returncode == 0, allowed.stderr
    assert "warning: no task got a quantum; the plan is empty" in allowed.stderr
    assert [p.quanta for p in list_plans(store) if p.id == plan_id] == [0]
