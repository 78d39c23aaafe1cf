"""A quick look at provenance query latency on a plan stored already (the figures in docs/benchmarks.md).

    .venv/bin/python benchmarks/queries.py --visits 2000 --detectors 100 --keep --repeat 1   # store ~1M
    .venv/bin/python benchmarks/queries_quick.py bench-queries-2000x100

Times parents and children of 10 quanta, upstream lineage to depth 2 of 5
coadds, one full upstream lineage of a coadd, and the same with a stop rule, each through
`queries.timed`: p50/p95/max ms, client and server CPU ms per answer (the managed server's,
from ``/proc``), the load average before it, and the answers' sizes.
"""

from __future__ import annotations

import sys

from cold_cli import managed_server_pid
from queries import lineage_size, timed

from provenance_graph.store import open_store
from provenance_graph.store.provenance import children, parents, upstream


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
        pid = managed_server_pid()
        print("parents+children", timed(pid, lambda q: (parents(store, q), children(store, q)), quanta))
        print("upstream depth 2", timed(pid, lambda d: upstream(store, d, depth=2), coadds, lineage_size))
        print("upstream full", timed(pid, lambda d: upstream(store, d), coadds[:1], lineage_size))
        print(
            "upstream --stop-task makeWarp",
            timed(pid, lambda d: upstream(store, d, stop_tasks=["makeWarp"]), coadds[:1], lineage_size),
        )


if __name__ == "__main__":
    main()
