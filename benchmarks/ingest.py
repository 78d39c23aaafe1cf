"""Ingest benchmark: graph elements (nodes + relationships) written per second.

Builds a synthetic DRP-shaped plan (default about 100k quanta), writes it with
`write_plan` into the configured Neo4j (by default the managed server), and
reports the rate. The plan is deleted afterwards unless --keep is given.

    .venv/bin/python benchmarks/ingest.py                   # ~100k quanta
    .venv/bin/python benchmarks/ingest.py --visits 20 --detectors 100   # quick run

Beside the wall time it reports the CPU seconds of the write: the client's (this
process) and the server's (read from ``/proc/<pid>/stat`` of the managed server, or of
``--server-pid``), per stored element, and the 1-minute load average after it.

Results are appended as JSON lines to benchmarks/results/ingest.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import time
from pathlib import Path

from cold_cli import managed_server_pid, server_cpu

from provenance_graph.store import BatchSizes, delete_plan, open_store, write_plan
from provenance_graph.synthetic import drp_plan

RESULTS = Path(__file__).resolve().parent / "results" / "ingest.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--dataset-batch", type=int, default=BatchSizes.datasets)
    parser.add_argument("--quantum-batch", type=int, default=BatchSizes.quanta)
    parser.add_argument("--workers", type=int, default=BatchSizes.workers)
    parser.add_argument("--keep", action="store_true", help="keep the plan in the database")
    parser.add_argument(
        "--server-pid", type=int, help="the Neo4j server's pid (default: the managed server's)"
    )
    parser.add_argument("--note", default="", help="a note kept with the result (what the machine was doing)")
    args = parser.parse_args()

    started = time.perf_counter()
    plan_id = f"bench-ingest-{args.visits}x{args.detectors}"
    graph = drp_plan(
        args.visits,
        args.detectors,
        tracts=max(1, args.visits // 50),
        plan_id=plan_id,
        output_run=f"bench/ingest/{args.visits}x{args.detectors}",
        raw_run="bench/raw",
        calib_run="bench/calib",
    )
    built = time.perf_counter() - started
    print(f"built {graph!r} in {built:.1f} s")

    with open_store(say=print) as store:
        delete_plan(store, plan_id)
        batches = BatchSizes(datasets=args.dataset_batch, quanta=args.quantum_batch, workers=args.workers)
        last = [0.0]

        def progress(phase: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 5 or done == total:
                print(f"  {phase}: {done}/{total}", flush=True)
                last[0] = now

        pid = args.server_pid or managed_server_pid()
        client_before = time.process_time()
        server_before = server_cpu(pid)
        result = write_plan(store, graph, batches=batches, progress=progress)
        server_seconds = server_cpu(pid) - server_before
        client_seconds = time.process_time() - client_before
        load = os.getloadavg()[0]
        deleted = None
        if not args.keep:
            began = time.perf_counter()
            delete_plan(store, plan_id)
            deleted = time.perf_counter() - began

    nodes = result.quanta + result.datasets
    relationships = result.edges + result.quanta  # CONSUMES/PRODUCES + IN_PLAN
    rate = (nodes + relationships) / result.seconds
    record = {
        "benchmark": "ingest",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "quanta": result.quanta,
        "datasets": result.datasets,
        "nodes": nodes,
        "relationships": relationships,
        "build_seconds": round(built, 2),
        "write_seconds": round(result.seconds, 2),
        "elements_per_second": round(rate),
        "server_cpu_s": round(server_seconds, 2) if pid else None,
        "client_cpu_s": round(client_seconds, 2),
        "server_cpu_us_per_element": round(1e6 * server_seconds / (nodes + relationships), 1)
        if pid
        else None,
        "client_cpu_us_per_element": round(1e6 * client_seconds / (nodes + relationships), 1),
        "load_1min": round(load, 2),
        "delete_seconds": round(deleted, 2) if deleted is not None else None,
        "note": args.note,
        "batches": [args.dataset_batch, args.quantum_batch],
        "workers": args.workers,
        "python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(
        f"wrote {nodes} nodes + {relationships} relationships in {result.seconds:.1f} s: "
        f"{rate:,.0f} elements/s; CPU: server {server_seconds:.1f} s "
        f"({1e6 * server_seconds / (nodes + relationships):.1f} us/element), client {client_seconds:.1f} s; "
        f"load {load:.1f}"
    )


if __name__ == "__main__":
    main()
