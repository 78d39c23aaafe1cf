"""A quick look at provenance query latency on a plan stored already (the figures in docs/benchmarks.md).

    .venv/bin/python benchmarks/queries.py --visits 2000 --detectors 100 --keep --repeat 1   # store ~1M
    .venv/bin/python benchmarks/queries_quick.py bench-queries-2000x100

Times parents and children of 10 quanta, upstream lineage to depth 2 of 5
coadds, one full upstream lineage of a coadd, and the same with a stop rule: per question
the p50 and every call's milliseconds, client and server CPU ms per call (the managed
server's, from ``/proc``), and the load average before it.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from cold_cli import managed_server_pid, server_cpu

from provenance_graph.store import open_store
from provenance_graph.store.provenance import children, parents, upstream


def timed(fn: Callable[[str], Any], starts: list[str]) -> dict[str, Any]:
    """Median and every call's milliseconds, client and server CPU ms per call, load before."""
    server_pid = managed_server_pid()
    load, cpu = os.getloadavg()[0], time.process_time()
    server = server_cpu(server_pid) if server_pid else None
    seconds = []
    for start in starts:
        began = time.perf_counter()
        fn(start)
        seconds.append(time.perf_counter() - began)
    per_call = 1000 / max(1, len(starts))
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "ms": [round(v * 1000, 1) for v in seconds],
        "client_cpu_ms": round((time.process_time() - cpu) * per_call, 1),
        "server_cpu_ms": round((server_cpu(server_pid) - server) * per_call, 1)
        if server is not None
        else None,
        "load": round(load, 2),
    }


def main() -> None:
    plan = sys.argv[1]
    with open_store() as store, store.session() as session:
        coadds = [
            r["id"]
            for r in session.run(
                "MATCH (:Quantum {plan_id: $p, task: 'assembleCoadd'})-[:PRODUCES]->(d) RETURN d.id AS id LIMIT 5",
                p=plan,
            )
        ]
        quanta = [
            r["id"]
            for r in session.run(
                "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id SKIP 500000 LIMIT 10", p=plan
            )
        ]
        if not coadds or not quanta:
            raise SystemExit(
                f"plan {plan!r} has no coadds or fewer than 500,010 quanta here: store a 1M plan"
            )
        print("parents+children ms", timed(lambda q: (parents(store, q), children(store, q)), quanta))
        print("upstream depth 2 ms", timed(lambda d: upstream(store, d, depth=2), coadds))
        print("upstream full", timed(lambda d: upstream(store, d), coadds[:1]))
        print(
            "upstream --stop-task makeWarp",
            timed(lambda d: upstream(store, d, stop_tasks=["makeWarp"]), coadds[:1]),
        )


if __name__ == "__main__":
    main()
