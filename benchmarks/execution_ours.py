"""Our side of the execution-overhead benchmark: run a chain of two copy tasks with `provgraph run`.

Run by `benchmarks/execution.py` (or alone) with the project's Python; prints
one JSON line per measurement on stdout:

    python benchmarks/execution_ours.py --quanta 1000 --jobs 1 2
    python benchmarks/execution_ours.py --quanta 1000 --jobs 2 --activators cmdline,parsl

With ``--activators ...,parsl`` the same plan is also run by ``provgraph submit`` on
Parsl (local HighThroughputExecutor), clustered one batch job per visit (both tasks
of every detector of the visit: 2 x D quanta per job); the clustering is stored
before the clock starts.

What it does, for each ``-j`` value, in a fresh work directory:

1. *setup* (not measured): a repository with V visits x D detectors (the same
   split as `pipetask_overhead.py`) and one small JSON ``bench_d0`` input per
   (visit, detector); pre-flight of the two-task pipeline of `noop_tasks.py`;
   the plan is stored in Neo4j (the managed server, or ``NEO4J_URI``).
2. *run* (measured): ``provgraph run --plan ID -j N`` in a subprocess: the real
   command, with interpreter start-up, connecting, reading the plan, starting
   the workers, claiming and recording every quantum in the graph. Peak memory
   is sampled over the whole process tree (the command, the fork server and
   the workers).
3. *verify*: every quantum's status in the graph is ``succeeded`` and every
   output is registered in the repository; then the plan is deleted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cold_cli import children_cpu, managed_server_pid, server_cpu
from measure_tree import TreeRssSampler, choose_shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `benchmarks.noop_tasks`, for this process and its workers

from provenance_graph.activators import plan_pipeline  # noqa: E402
from provenance_graph.clustering import ClusteringSpec  # noqa: E402
from provenance_graph.model import DatasetType  # noqa: E402
from provenance_graph.pipeline import Pipeline  # noqa: E402
from provenance_graph.repository import Repository  # noqa: E402
from provenance_graph.store import delete_plan, open_store  # noqa: E402
from provenance_graph.store.clustering import cluster_plan, delete_clustering, list_clusterings  # noqa: E402
from provenance_graph.store.execution import status_counts  # noqa: E402

INSTRUMENT = "BenchCam"
DIMENSIONS = ("instrument", "visit", "detector")
INPUT_RUN = "bench/input"
PIPELINE = """
description: execution-overhead benchmark, two copy tasks
tasks:
  bench_t1: {class: benchmarks.noop_tasks.CopyTask1}
  bench_t2: {class: benchmarks.noop_tasks.CopyTask2}
"""
#: Batch jobs for the Parsl run: one per visit.
CLUSTERING = """
name: bench
cluster:
  per_visit: {pipetasks: "bench_t1, bench_t2", dimensions: visit}
"""


def make_repo(root: Path, visits: int, detectors: int) -> Repository:
    repo = Repository.create(root)
    for name in ("bench_d0", "bench_d1", "bench_d2"):
        repo.register_dataset_type(
            DatasetType(name=name, dimensions=DIMENSIONS, storage_class="StructuredData")
        )
    repo.insert_records("instrument", [{"instrument": INSTRUMENT}])
    repo.insert_records("detector", [{"instrument": INSTRUMENT, "detector": d} for d in range(detectors)])
    repo.insert_records(
        "visit", [{"instrument": INSTRUMENT, "visit": 1000 + v, "band": "r"} for v in range(visits)]
    )
    for v in range(visits):
        for d in range(detectors):
            data_id = {"instrument": INSTRUMENT, "visit": 1000 + v, "detector": d}
            repo.put({"value": v * 1000 + d}, repo.ref("bench_d0", data_id, INPUT_RUN))
    return repo


def measure(args: argparse.Namespace, jobs: int, work: Path, activator: str) -> dict[str, object]:
    visits, detectors = choose_shape(args.quanta, 2)
    started = time.perf_counter()
    repo = make_repo(work / "repo", visits, detectors)
    pipeline = Pipeline.from_yaml(PIPELINE, source="benchmark pipeline")
    plan_id = f"bench-exec-{os.getpid()}-j{jobs}-{activator}"
    command = ["run", "--plan", plan_id, "-j", str(jobs)]
    with open_store() as store:
        graph = plan_pipeline(
            pipeline, repo, output_run=f"bench/exec/{plan_id}", plan_id=plan_id, store=store, replace=True
        ).graph
        repo.close()
        assert len(graph) == args.quanta, (len(graph), args.quanta)
        if activator == "parsl":
            cluster_plan(store, plan_id, ClusteringSpec.from_yaml(CLUSTERING))
            command = ["submit", plan_id, "--clustering", "bench", "-j", str(jobs)]
    setup = time.perf_counter() - started

    provgraph = str(Path(sys.executable).parent / "provgraph")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load1 = os.getloadavg()[0]
    server_pid = managed_server_pid()
    server_before, children_before = server_cpu(server_pid), children_cpu()
    started = time.perf_counter()
    child = subprocess.Popen(
        [provgraph, *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = TreeRssSampler(child.pid)
    sampler.start()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    server_seconds = server_cpu(server_pid) - server_before if server_pid else None
    client_seconds = children_cpu() - children_before  # the command and its workers, all waited for
    if child.returncode != 0:
        raise SystemExit(f"provgraph {command[0]} failed ({child.returncode}):\n{out}\n{err}")
    with open_store() as store:
        counts = status_counts(store, plan_id)
        attempts = store.read("execution_attempts", plan_id=plan_id)
        for clustering in list_clusterings(store, plan_id):
            delete_clustering(store, plan_id, clustering.name)
        delete_plan(store, plan_id)
    succeeded = sum(c.get("succeeded", 0) for c in counts.values())
    in_quantum = sum(a["duration_s"] for a in attempts)
    return {
        "tool": f"provgraph {command[0]}",
        "activator": activator,
        "version": importlib.metadata.version("provenance-graph"),
        "jobs": jobs,
        "quanta": args.quanta,
        "tasks": 2,
        "wall_seconds": round(wall, 3),
        "seconds_per_quantum": round(wall / args.quanta, 4),
        "in_quantum_seconds_per_quantum": round(in_quantum / args.quanta, 4),
        "peak_tree_rss_mb": round(sampler.peak_kb / 1024, 1),
        "client_cpu_ms_per_quantum": round(client_seconds * 1000 / args.quanta, 2),
        "server_cpu_ms_per_quantum": round(server_seconds * 1000 / args.quanta, 2)
        if server_seconds is not None
        else None,
        "succeeded": succeeded,
        "setup_seconds": round(setup, 3),
        "loadavg_1m_before": round(load1, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quanta", type=int, default=1000, help="total quanta (two tasks); default 1000")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="-j values; default 1 2")
    parser.add_argument(
        "--activators", default="cmdline", help="comma-separated: cmdline (provgraph run), parsl (submit)"
    )
    args = parser.parse_args()
    for jobs in args.jobs:
        for activator in args.activators.split(","):
            with tempfile.TemporaryDirectory(prefix="exec-bench-") as work:
                record = measure(args, jobs, Path(work), activator.strip())
            print(json.dumps(record), flush=True)
            if record["succeeded"] != args.quanta:
                raise SystemExit(f"only {record['succeeded']} of {args.quanta} quanta succeeded")


if __name__ == "__main__":
    main()
