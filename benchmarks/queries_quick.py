"""A quick look at provenance query latency on a plan stored already (the figures in docs/benchmarks.md).

    .venv/bin/python benchmarks/queries.py --visits 2000 --detectors 100 --keep --repeat 1   # store ~1M
    .venv/bin/python benchmarks/queries_quick.py bench-queries-2000x100

Times parents and children of 10 quanta, upstream lineage to depth 2 of 5
coadds, one full upstream lineage of a coadd, and the same with a stop rule.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from provenance_graph.store import open_store
from provenance_graph.store.provenance import children, parents, upstream


def timed(fn: Callable[[str], Any], starts: list[str]) -> tuple[float, list[float]]:
    """Median and every call's milliseconds."""
    seconds = []
    for start in starts:
        began = time.perf_counter()
        fn(start)
        seconds.append(time.perf_counter() - began)
    return round(statistics.median(seconds) * 1000, 1), [round(v * 1000, 1) for v in seconds]


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
        print("parents+children ms", timed(lambda q: (parents(store, q), children(store, q)), quanta))
        print("upstream depth 2 ms", timed(lambda d: upstream(store, d, depth=2), coadds))
        began = time.perf_counter()
        full = upstream(store, coadds[0])
        print("upstream full s", round(time.perf_counter() - began, 1), len(full.quanta), len(full.datasets))
        began = time.perf_counter()
        stopped = upstream(store, coadds[0], stop_tasks=["makeWarp"])
        print("upstream --stop-task makeWarp s", round(time.perf_counter() - began, 2), len(stopped.quanta))


if __name__ == "__main__":
    main()
