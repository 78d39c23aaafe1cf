"""``kill -9`` of the command line at 20 points of plan storage and 22 points of runs.

Each case runs the real ``provgraph`` command with ``PROVGRAPH_CRASH_AT=POINT:N``
(`provenance_graph.crashpoints`): the N-th time the command passes crash point POINT,
it gets SIGKILL. Two more cases kill a run's worker half-way through writing a file.
The N are drawn at random from a fixed seed (``PROVGRAPH_CRASH_SEED`` draws others);
a failure names its point, such as ``plan.batch@0.37`` (where in its passages the kill
lands), and ``PROVGRAPH_CRASH_CASES=plan.batch@0.37`` replays just that one. Cases run
three at a time, each with its own plan, run and repository. After each kill,
the graph is checked as the next user would find it, then the same command is run
again and must repair or resume, and the result is checked against a clean run:

- plan storage: no half-plan is visible; the rerun leaves exactly one complete plan,
  with every quantum, dataset and edge once;
- runs: no success is invented (every succeeded quantum's files exist with the
  recorded checksums); the rerun loses no recorded success, runs no quantum to
  success twice, leaves no temporary file, and ends with the clean run's files,
  byte for byte.

What was tried and found is counted in the ``reliability`` report.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.errors import PlanNotFoundError
from provenance_graph.pipeline import Pipeline
from provenance_graph.preflight import preflight
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import BatchSizes, GraphStore, list_plans, read_plan, write_plan
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.support.graph_checks import file_checksums, rows

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

PIPELINE = str(demo_pipeline_path())
WHERE = "instrument = 'DemoCam'"
SEED = int(os.environ.get("PROVGRAPH_CRASH_SEED", "20261125"))
#: Small batches, so that a small plan is written in dozens of transactions.
BATCHES = {"PROVGRAPH_BATCH_DATASETS": "5", "PROVGRAPH_BATCH_QUANTA": "4"}
JOBS = 2
#: Kill points tried at once: each is its own plan, run and repository.
PARALLEL = 3


@dataclass(frozen=True)
class KillPoint:
    """Crash point ``name``, passed for the n-th time where n = 1 + floor(fraction * how many)."""

    name: str
    fraction: float = 0.0

    def spec(self, passages: int) -> str:
        return f"{self.name}:{1 + math.floor(self.fraction * passages)}"

    def __str__(self) -> str:
        return f"{self.name}@{self.fraction:.2f}"


def _storage_points(rng: random.Random) -> list[KillPoint]:
    once = ["plan.claimed", "plan.header", "plan.before_complete", "plan.completed"]
    return [KillPoint(n) for n in once] + [KillPoint("plan.batch", rng.random()) for _ in range(16)]


def _run_points(rng: random.Random) -> list[KillPoint]:
    many = ["run.claimed", "run.submitted", "run.outcomes", "run.recorded"]
    points = [KillPoint("run.started"), KillPoint("run.closing")]
    points += [KillPoint(name, rng.random()) for name in many for _ in range(5)]
    points += [KillPoint("file.written", rng.random()) for _ in range(2)]
    return points


_RNG = random.Random(SEED)
STORAGE_POINTS = _storage_points(_RNG)
RUN_POINTS = _run_points(_RNG)


def _command(
    args: list[str], settings: ConnectionSettings, crash_at: str | None
) -> subprocess.CompletedProcess[str]:
    """Run ``provgraph`` in its own process group; return once the whole group is gone.

    Workers of a killed run notice within a second that their parent died and exit;
    one still alive after 15 s is a bug (an orphan writing beside the next run).
    """
    env = {**os.environ, **_env_for(settings), **BATCHES}
    if crash_at:
        env["PROVGRAPH_CRASH_AT"] = crash_at
    child = subprocess.Popen(
        [PROVGRAPH, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out, err = child.communicate(timeout=300)
    deadline = time.monotonic() + 15
    while True:
        try:
            os.killpg(child.pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            os.killpg(child.pid, signal.SIGKILL)
            raise AssertionError(f"processes of the killed command outlived it 15 s: {args}")
        time.sleep(0.1)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill-points") / "template"
    make_demo_repo(root, 1, 3).close()  # 50 quanta, 64 datasets: 27 batches
    return root


# --- plan storage --------------------------------------------------------------------------


def _storage_case(
    point: KillPoint,
    case: int,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    template_repo: Path,
    reliability: ReliabilityCounts,
) -> None:
    plan_id, output_run = f"{namespace}-plan{case}", f"{namespace}/out{case}"
    args = ["plan", PIPELINE, "--repo", str(template_repo), "--where", WHERE]
    args += ["--plan-id", plan_id, "--output-run", output_run]
    with Repository.open(template_repo) as repository:
        graph = preflight(Pipeline.from_file(PIPELINE), repository, WHERE, output_run=output_run)
    sizes = BatchSizes(int(BATCHES["PROVGRAPH_BATCH_DATASETS"]), int(BATCHES["PROVGRAPH_BATCH_QUANTA"]))
    inputs = sum(1 for d in graph.datasets if graph.producer(d) is None)
    outputs = len(graph.datasets) - inputs
    batches = sum(math.ceil(n / sizes.datasets) for n in (inputs, outputs)) + math.ceil(
        len(graph) / sizes.quanta
    )

    killed = _command(args, neo4j_settings, point.spec(batches))
    assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: {killed.stderr}"
    reliability.count("kill points tried: plan storage")

    # What the next user sees: the whole plan or nothing of it.
    complete = [p.id for p in list_plans(store)]
    if point.name == "plan.completed":
        assert complete.count(plan_id) == 1
        assert len(read_plan(store, plan_id)) == len(graph)
    else:
        assert plan_id not in complete
        with pytest.raises(PlanNotFoundError):
            read_plan(store, plan_id)
        [written] = rows(store, "MATCH (q:Quantum {plan_id: $p}) RETURN count(q) AS n", p=plan_id)
        reliability.count("half-written quanta hidden", written["n"])

    rerun = _command(args, neo4j_settings, None)
    assert rerun.returncode == 0, rerun.stderr
    stored = read_plan(store, plan_id)
    assert (len(stored), len(stored.datasets), stored.edge_count) == (
        len(graph),
        len(graph.datasets),
        graph.edge_count,
    )
    assert sorted(q.data_id.key() for q in stored.quanta.values()) == sorted(
        q.data_id.key() for q in graph.quanta.values()
    )
    [found] = rows(
        store,
        "MATCH (p:Plan {id: $p}) WITH count(p) AS plans "
        "OPTIONAL MATCH (d:Dataset {run: $run}) "
        "WITH plans, d, COUNT { (d)<-[:PRODUCES]-() } AS producers "
        "RETURN plans, count(d) AS datasets, coalesce(max(producers), 0) AS max_producers",
        p=plan_id,
        run=output_run,
    )
    duplicates = (found["plans"] - 1) + (found["datasets"] - outputs) + max(0, found["max_producers"] - 1)
    lost = (len(graph) - len(stored)) + (graph.edge_count - stored.edge_count)
    reliability.count("duplicates found", duplicates)
    reliability.count("records lost", lost)
    assert (found["plans"], found["datasets"], found["max_producers"]) == (1, outputs, 1)


# --- runs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_files(
    template_repo: Path, neo4j_settings: ConnectionSettings, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The files a clean run of the plan writes (relative to its output run's directory)."""
    repo = tmp_path_factory.mktemp("clean") / "repo"
    shutil.copytree(template_repo, repo)
    store = GraphStore(neo4j_settings)
    plan_id = f"kp-clean-{os.getpid()}-{random.randrange(1 << 30)}"
    try:
        _store_plan(store, repo, plan_id, f"{plan_id}/out")
        done = _command(["run", "--plan", plan_id, "-j", str(JOBS)], neo4j_settings, None)
        assert done.returncode == 0, done.stdout + done.stderr
        files = file_checksums(repo / f"{plan_id}/out")
    finally:
        from provenance_graph.store import delete_plan

        delete_plan(store, plan_id)
        store.close()
    assert files
    return files


def _store_plan(store: GraphStore, repo: Path, plan_id: str, output_run: str) -> int:
    """Plan the demo pipeline over ``repo`` (in this process) and store it; returns its size."""
    with Repository.open(repo) as repository:
        graph = preflight(
            Pipeline.from_file(PIPELINE), repository, WHERE, output_run=output_run, plan_id=plan_id
        )
    write_plan(store, graph)
    return len(graph)


def _succeeded(store: GraphStore, plan_id: str) -> dict[str, list[dict[str, Any]]]:
    """Succeeded quanta, each with its produced datasets as recorded."""
    found = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p, status: 'succeeded'})-[:PRODUCES]->(d:Dataset) "
        "RETURN q.id AS q, collect(d {.id, .exists, .uri, .checksum, .size}) AS outputs",
        p=plan_id,
    )
    return {r["q"]: r["outputs"] for r in found}


def _invented(succeeded: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Quanta recorded as succeeded whose files do not exist with the recorded checksum."""
    bad = []
    for quantum, outputs in succeeded.items():
        for d in outputs:
            path = Path(str(d["uri"]).removeprefix("file://"))
            if not (d["exists"] and path.is_file()) or (
                "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() != d["checksum"]
            ):
                bad.append(quantum)
                break
    return bad


def _run_case(
    point: KillPoint,
    case: int,
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    template_repo: Path,
    clean_files: dict[str, str],
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    repo = tmp_path / f"repo{case}"
    shutil.copytree(template_repo, repo)
    plan_id, output_run = f"{namespace}-run{case}", f"{namespace}/out{case}"
    total = _store_plan(store, repo, plan_id, output_run)
    # Passages each point is sure to see: every quantum is submitted once; claims, outcomes
    # and records come in batches (claimed ahead, recorded together: `Activator`), which this
    # narrow plan keeps small: 15 to 20 claims and records of its 50 quanta, counted on an
    # idle machine; each of the JOBS workers counts its own files, and writes at least one
    # per quantum it runs.
    passages = total if point.name == "run.submitted" else total // (4 * JOBS)
    args = ["run", "--plan", plan_id, "-j", str(JOBS)]

    killed = _command(args, neo4j_settings, point.spec(passages))
    if point.name == "file.written":
        # A worker was killed half-way through writing a file: the run survives it, records
        # the quanta that worker held as failed, and says so.
        assert killed.returncode == 1, killed.stdout + killed.stderr
        assert "the worker running this quantum died" in killed.stdout
        assert list(repo.rglob("*.tmp")), "the killed writer left its temporary file"
        reliability.count("kill points tried: workers")
    else:
        assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: {killed.stderr}"
        reliability.count("kill points tried: runs")
    before = _succeeded(store, plan_id)
    invented = _invented(before)
    reliability.count("successes invented", len(invented))
    assert not invented

    rerun = _command(args, neo4j_settings, None)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    statuses = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN coalesce(q.status, 'pending') AS s, count(*) AS n",
        p=plan_id,
    )
    assert {r["s"] for r in statuses} <= {"succeeded", "skipped"}
    assert sum(r["n"] for r in statuses) == total
    after = _succeeded(store, plan_id)
    lost = [q for q in before if q not in after or after[q] != before[q]]
    reliability.count("records lost", len(lost))
    assert not lost, f"{len(lost)} recorded successes changed or vanished"
    [twice] = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt {status: 'succeeded'}) "
        "WITH q, count(a) AS n WHERE n > 1 RETURN count(q) AS n",
        p=plan_id,
    )
    reliability.count("duplicates found", twice["n"])
    assert twice["n"] == 0, "a quantum succeeded twice"
    assert not list(repo.rglob("*.tmp")), "temporary files were left behind"
    assert file_checksums(repo / output_run) == clean_files


# --- the tests: every point, a few at once ------------------------------------------------


def _each(points: list[KillPoint], case: Callable[[KillPoint, int], None]) -> None:
    """Run ``case`` for every point, `PARALLEL` at a time; fail naming every point that failed.

    ``PROVGRAPH_CRASH_CASES=plan.batch@0.37,run.started@0.00`` replays only those points.
    """
    chosen = os.environ.get("PROVGRAPH_CRASH_CASES")
    if chosen:
        points = [p for p in points if str(p) in chosen.split(",")]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {point: pool.submit(case, point, i) for i, point in enumerate(points)}
    failures = [
        f"{point}: {type(error).__name__}: {error}"
        for point, future in futures.items()
        if (error := future.exception()) is not None
    ]
    assert not failures, f"{len(failures)} of {len(points)} kill points failed (seed {SEED}):\n" + "\n".join(
        failures
    )


def test_kill_9_while_storing_a_plan_then_the_rerun_stores_it_once(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    template_repo: Path,
    reliability: ReliabilityCounts,
) -> None:
    _each(
        STORAGE_POINTS,
        lambda point, case: _storage_case(
            point, case, store, neo4j_settings, namespace, template_repo, reliability
        ),
    )


def test_kill_9_during_a_run_then_the_rerun_finishes_with_the_clean_files(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    template_repo: Path,
    clean_files: dict[str, str],
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    _each(
        RUN_POINTS,
        lambda point, case: _run_case(
            point, case, store, neo4j_settings, namespace, template_repo, clean_files, tmp_path, reliability
        ),
    )
