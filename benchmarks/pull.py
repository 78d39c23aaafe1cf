"""Activator pull: a stored plan of about 10k quanta read back as the `PlanGraph` an Activator runs.

Issue 22, item 5: "10k quanta as what an Activator runs from in < 1 s". A synthetic
DRP-shaped plan (default 40 visits x 50 detectors on one tract: 10,568 quanta, 16,588
datasets) is stored with `write_plan` in the configured Neo4j, then read back whole with
`read_plan` (what ``provgraph run`` and the batch jobs start from) ``--repeat`` times, the
first cold. Each read reports wall time, this process's CPU seconds and the Neo4j server's
(from /proc, when it is on this machine), and the load average. The plan is deleted
afterwards unless ``--keep``.

    .venv/bin/python benchmarks/pull.py
    .venv/bin/python benchmarks/pull.py --plan-id PLAN      # a plan stored already

Results are appended as JSON lines to benchmarks/results/pull.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from journals import cpu
from operations import server_cpu
from preflight import code_state, machine

from provenance_graph.store import delete_plan, open_store, read_plan, write_plan
from provenance_graph.synthetic import drp_plan

RESULTS = Path(__file__).resolve().parent / "results" / "pull.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=40)
    parser.add_argument("--detectors", type=int, default=50)
    parser.add_argument("--plan-id", help="read this stored plan instead of storing a synthetic one")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic plan in the database")
    args = parser.parse_args()

    store = open_store()
    plan_id = args.plan_id
    if plan_id is None:
        plan_id = f"bench-pull-{args.visits}x{args.detectors}"
        plan = drp_plan(args.visits, args.detectors, tracts=1, plan_id=plan_id, output_run=f"bench/{plan_id}")
        print(f"storing {len(plan.quanta):,} quanta ...", flush=True)
        write_plan(store, plan)
    reads: list[dict[str, Any]] = []
    try:
        for i in range(args.repeat):
            wall, client, server = time.perf_counter(), cpu(), server_cpu()
            graph = read_plan(store, plan_id)
            after_server = server_cpu()
            reads.append(
                {
                    "wall_s": round(time.perf_counter() - wall, 3),
                    "client_cpu_s": round(cpu() - client, 3),
                    "server_cpu_s": None
                    if server is None or after_server is None
                    else round(after_server - server, 3),
                    "load1": os.getloadavg()[0],
                }
            )
            print(
                f"read {i + 1}: {len(graph.quanta):,} quanta, {len(graph.datasets):,} datasets: {reads[-1]}"
            )
    finally:
        if args.plan_id is None and not args.keep:
            delete_plan(store, plan_id)
        store.close()
    warm = reads[1:] or reads
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code": code_state(),
        "machine": machine(),
        "plan_id": plan_id,
        "quanta": len(graph.quanta),
        "datasets": len(graph.datasets),
        "reads": reads,
        "warm_p50": {
            k: statistics.median(r[k] for r in warm if r[k] is not None) for k in ("wall_s", "client_cpu_s")
        },
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(result) + "\n")
    print(json.dumps(result["warm_p50"]))


if __name__ == "__main__":
    main()
