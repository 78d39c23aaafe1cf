"""The Neo4j server stops and starts again while two runs are under way.

One run may wait as long as the outage lasts (the default retry window,
``NEO4J_RETRY_SECONDS``): it carries on and completes. The other is told to wait 3 s
only: it stops with one clear message saying how to resume, and the rerun completes.
Nothing that succeeded before the outage is lost or run again, and every recorded
file has its recorded checksum.

The test restarts the managed server the suite uses, so it is skipped when
``NEO4J_URI`` points at another server.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from provenance_graph.demo import make_demo_repo
from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.integration.test_kill_points import _store_plan
from tests.support.graph_checks import rows

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

#: Each calibrate quantum takes a while, so both runs are still going when the server stops.
SLOW = ("-c", "calibrate:sleep=0.3")


def _succeeded(store: GraphStore, plan_id: str) -> dict[str, int]:
    """Succeeded quanta with how many succeeded attempts each has."""
    found = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p, status: 'succeeded'}) "
        "RETURN q.id AS q, COUNT { (q)-[:HAS_ATTEMPT]->(:Attempt {status: 'succeeded'}) } AS n",
        p=plan_id,
    )
    return {r["q"]: r["n"] for r in found}


def _checksums_hold(store: GraphStore, plan_id: str) -> bool:
    found = rows(
        store,
        "MATCH (:Quantum {plan_id: $p, status: 'succeeded'})-[:PRODUCES]->(d:Dataset) "
        "RETURN d.uri AS uri, d.checksum AS checksum",
        p=plan_id,
    )
    return bool(found) and all(
        "sha256:" + hashlib.sha256(Path(r["uri"].removeprefix("file://")).read_bytes()).hexdigest()
        == r["checksum"]
        for r in found
    )


def _store_plans(store: GraphStore, repo: Path, namespace: str, plans: dict[str, str]) -> dict[str, int]:
    """Store one plan of a small demo repository per name; returns their sizes."""
    make_demo_repo(repo, 2, 3).close()
    return {name: _store_plan(store, repo, plan_id, f"{namespace}/{name}") for name, plan_id in plans.items()}


def _wait_until_going(
    store: GraphStore, runs: dict[str, subprocess.Popen[str]], plans: dict[str, str]
) -> None:
    """Return once every run has recorded 10 successes."""
    deadline = time.monotonic() + 180
    while min(len(_succeeded(store, p)) for p in plans.values()) < 10:
        assert time.monotonic() < deadline, "the runs did not get going"
        assert all(r.poll() is None for r in runs.values()), "a run ended before the outage"
        time.sleep(0.1)


def test_a_run_rides_out_a_database_restart_and_an_impatient_one_stops_clearly_then_resumes(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    own_server: ManagedServer,
    namespace: str,
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    server = own_server
    plans = {"patient": f"{namespace}-patient", "impatient": f"{namespace}-impatient"}
    totals = _store_plans(store, tmp_path / "repo", namespace, plans)

    env = {**os.environ, **_env_for(neo4j_settings)}
    retry = {"patient": {}, "impatient": {"NEO4J_RETRY_SECONDS": "3"}}
    runs = {
        name: subprocess.Popen(
            [PROVGRAPH, "run", "--plan", plan_id, "-j", "2", *SLOW],
            env={**env, **retry[name]},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, plan_id in plans.items()
    }
    try:
        _wait_until_going(store, runs, plans)
        before = {name: _succeeded(store, p) for name, p in plans.items()}
        assert all(len(before[n]) < totals[n] for n in plans), "a run finished before the outage"

        stopped = time.monotonic()
        server.stop()
        time.sleep(2)
        server.start()
        outage = time.monotonic() - stopped
    finally:
        outputs = {name: r.communicate(timeout=600) for name, r in runs.items()}

    out, err = outputs["patient"]
    assert runs["patient"].returncode == 0, out + err
    reliability.count("database restarts survived by a run")

    out, err = outputs["impatient"]
    assert runs["impatient"].returncode == 1, out + err
    assert "Traceback" not in out + err
    assert "Neo4j" in err and f"the run of plan {plans['impatient']!r} stopped" in err, err
    assert f"provgraph run --plan {plans['impatient']}" in err
    reliability.count("runs stopped cleanly by a lost database")
    resumed = subprocess.run(
        [PROVGRAPH, "run", "--plan", plans["impatient"], "-j", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    for name, plan_id in plans.items():
        after = _succeeded(store, plan_id)
        lost = [q for q in before[name] if q not in after]
        twice = [q for q, n in after.items() if n != 1]
        reliability.count("records lost", len(lost))
        reliability.count("duplicates found", len(twice))
        assert not lost and not twice, (name, lost, twice)
        statuses = rows(
            store,
            "MATCH (q:Quantum {plan_id: $p}) RETURN collect(DISTINCT coalesce(q.status, 'pending')) AS s",
            p=plan_id,
        )
        assert set(statuses[0]["s"]) <= {"succeeded", "skipped"}, (name, statuses)
        assert _checksums_hold(store, plan_id)
    assert outage > 3, "the outage was longer than the impatient run's retry window"
