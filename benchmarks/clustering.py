"""Clustering benchmark: quanta into batch jobs, the job DAG, storing it, and a blast radius.

Two measurements, each one JSON line in ``results/clustering.jsonl``:

- ``--memory``: a synthetic DRP plan (``provenance_graph.synthetic.drp_plan``) built in
  memory; we time deriving the quantum DAG from it (``QuantumDag.from_plan``) and
  clustering it with the demo rules (``cluster_quanta``: groups, run order, job DAG,
  cycle check), and note peak memory. No database.
- ``--plan-id PLAN``: a plan stored in Neo4j already (e.g. the one ``benchmarks/queries.py``
  stores); we time reading its quanta and dependencies, clustering, writing the batch
  jobs whole (``write_clustering``), writing them again (idempotent), reading the job DAG
  back, and blast-radius questions for a few quanta of each task.

The 1M-quantum run of the paper figure::

    .venv/bin/python benchmarks/clustering.py --memory --visits 1050 --detectors 189 --tracts 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from cold_cli import managed_server_pid, server_cpu

from provenance_graph.clustering import QuantumDag, cluster_quanta, load_clustering
from provenance_graph.demo import demo_pipeline_path
from provenance_graph.store import open_store
from provenance_graph.store.clustering import (
    blast_radius,
    delete_clustering,
    read_job_graph,
    read_quantum_dag,
    write_clustering,
)
from provenance_graph.synthetic import drp_plan, drp_quantum_count

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "clustering.jsonl"
RULES = Path(demo_pipeline_path()).with_name("clustering.yaml")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed(record: dict[str, Any], key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; record its wall seconds as ``key``, with this process's and the server's CPU
    seconds (``<key>_client_cpu``, ``<key>_server_cpu``, the latter None without a managed server)
    and the 1-minute load average before it (``<key>_load``)."""
    server_pid = managed_server_pid()
    load, cpu = os.getloadavg()[0], time.process_time()
    server = server_cpu(server_pid) if server_pid else None
    began = time.perf_counter()
    value = fn(*args, **kwargs)
    record[key] = round(time.perf_counter() - began, 2)
    record[f"{key}_client_cpu"] = round(time.process_time() - cpu, 2)
    record[f"{key}_server_cpu"] = round(server_cpu(server_pid) - server, 2) if server is not None else None
    record[f"{key}_load"] = round(load, 2)
    print(
        f"  {key}: {record[key]} s (client {record[f'{key}_client_cpu']} CPU-s, server "
        f"{record[f'{key}_server_cpu']} CPU-s, load {record[f'{key}_load']})",
        flush=True,
    )
    return value


def summary_of(jobs: Any) -> dict[str, Any]:
    s = jobs.summary()
    return {
        "jobs": s.jobs,
        "quanta": s.quanta,
        "job_edges": s.edges,
        "largest_job": s.largest_job_quanta,
        "critical_path": s.critical_path,
    }


def in_memory(args: argparse.Namespace) -> dict[str, Any]:
    rules = load_clustering(RULES)
    record: dict[str, Any] = {
        "kind": "memory",
        "shape": {"visits": args.visits, "detectors": args.detectors, "tracts": args.tracts},
        "expected_quanta": drp_quantum_count(args.visits, args.detectors, tracts=args.tracts),
    }
    print(f"building a {record['expected_quanta']:,}-quantum DRP plan in memory ...", flush=True)
    graph = timed(record, "build_plan_s", drp_plan, args.visits, args.detectors, tracts=args.tracts)
    dag = timed(record, "quantum_dag_s", QuantumDag.from_plan, graph)
    record["quantum_edges"] = len(dag.edges)
    del graph
    jobs = timed(record, "cluster_s", cluster_quanta, dag, rules)
    record.update(summary_of(jobs))
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def stored(args: argparse.Namespace) -> dict[str, Any]:
    rules = load_clustering(RULES)
    record: dict[str, Any] = {"kind": "stored", "plan_id": args.plan_id}
    name = "bench-clustering"
    with open_store() as store:
        delete_clustering(store, args.plan_id, name)
        dag, tasks = timed(record, "read_quantum_dag_s", read_quantum_dag, store, args.plan_id)
        record["quantum_edges"] = len(dag.edges)
        jobs = timed(record, "cluster_s", cluster_quanta, dag, rules, name=name, known_tasks=tasks)
        record.update(summary_of(jobs))
        first = timed(record, "write_s", write_clustering, store, jobs)
        again = timed(record, "write_again_s", write_clustering, store, jobs)
        record["outcomes"] = [first.outcome, again.outcome]
        back = timed(record, "read_job_graph_s", read_job_graph, store, args.plan_id, name)
        assert back.edges == jobs.edges
        assert back.jobs == jobs.jobs
        rng = random.Random(args.seed)
        by_task: dict[str, list[str]] = {}
        for node in dag.nodes:
            by_task.setdefault(node.task, []).append(node.id)
        record["blast_radius"] = {}
        for task, ids in sorted(by_task.items()):
            times, sizes = [], []
            for quantum in rng.sample(ids, min(args.repeat, len(ids))):
                began = time.perf_counter()
                found = blast_radius(store, args.plan_id, name, quantum)
                times.append(time.perf_counter() - began)
                sizes.append((len(found.jobs), len(found.quanta)))
            times.sort()
            record["blast_radius"][task] = {
                "median_s": round(times[len(times) // 2], 3),
                "max_s": round(times[-1], 3),
                "max_jobs_lost": max(s[0] for s in sizes),
                "max_quanta_lost": max(s[1] for s in sizes),
            }
            print(f"  blast radius, {task}: {record['blast_radius'][task]}", flush=True)
        if not args.keep:
            delete_clustering(store, args.plan_id, name)
    record["peak_rss_mb"] = peak_rss_mb()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memory", action="store_true", help="cluster an in-memory synthetic DRP plan")
    parser.add_argument("--visits", type=int, default=1050)
    parser.add_argument("--detectors", type=int, default=189)
    parser.add_argument("--tracts", type=int, default=10)
    parser.add_argument("--plan-id", help="cluster this stored plan (and store the clustering)")
    parser.add_argument("--repeat", type=int, default=5, help="blast-radius questions per task")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the stored clustering")
    args = parser.parse_args()
    if not args.memory and not args.plan_id:
        parser.error("give --memory, --plan-id PLAN, or both")
    machine = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }
    records = []
    if args.memory:
        records.append(in_memory(args))
    if args.plan_id:
        records.append(stored(args))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        for record in records:
            record.update(machine, when=time.strftime("%Y-%m-%dT%H:%M:%S"))
            handle.write(json.dumps(record) + "\n")
            print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
