"""Provenance query latency on a large stored plan (issue 5's targets), ours only for now.

    .venv/bin/python benchmarks/queries.py --visits 2000 --detectors 100     # ~1M quanta, stored first
    .venv/bin/python benchmarks/queries.py --plan-id PLAN --repeat 50        # a plan stored already

Stores a synthetic DRP-shaped plan (`provenance_graph.synthetic.drp_plan`) in the
configured Neo4j unless ``--plan-id`` names one, then times, each ``--repeat``
times on randomly chosen starts (seeded): the upstream lineage of a coadd
(``deepCoadd``), in full and to depth 2, the downstream impact of a raw, the parents and children of a
quantum, and one subgraph pull of about 10k quanta (isr quanta of the first
visits). Prints p50/p95 per question and appends one JSON line to
``results/queries.jsonl``. The plan is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from preflight import code_state, machine

from provenance_graph.store import GraphStore, delete_plan, open_store, write_plan
from provenance_graph.store.provenance import children, downstream, parents, subgraph, upstream
from provenance_graph.synthetic import drp_plan

RESULTS = Path(__file__).resolve().parent / "results" / "queries.jsonl"


def sample(store: GraphStore, plan_id: str, cypher: str, n: int, seed: int) -> list[str]:
    """Up to ``n`` ids chosen at random (seeded) from what ``cypher`` returns."""
    with store.session() as session:
        ids = [r["id"] for r in session.run(cypher, plan_id=plan_id)]  # type: ignore[arg-type]
    random.Random(seed).shuffle(ids)
    return ids[:n]


def timed(fn: Callable[[str], Any], starts: list[str]) -> dict[str, float]:
    seconds = []
    for start in starts:
        began = time.perf_counter()
        fn(start)
        seconds.append(time.perf_counter() - began)
    ordered = sorted(seconds)
    return {
        "n": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plan-id", help="a plan stored already (otherwise one is made and stored)")
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the plan that was stored for this")
    args = parser.parse_args()
    record: dict[str, Any] = {"benchmark": "queries", "machine": machine(), **code_state()}
    record["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with open_store() as store:
        plan_id = args.plan_id
        made = plan_id is None
        if made:
            graph = drp_plan(
                args.visits, args.detectors, plan_id=f"bench-queries-{args.visits}x{args.detectors}"
            )
            plan_id = graph.plan.id
            began = time.perf_counter()
            write_plan(store, graph, replace=True)
            record["write_seconds"] = round(time.perf_counter() - began, 1)
            record["quanta"] = len(graph)
            del graph
        record["plan_id"] = plan_id
        try:
            coadds = sample(
                store, plan_id,
                "MATCH (:Quantum {plan_id: $plan_id, task: 'assembleCoadd'})-[:PRODUCES]->(d) RETURN d.id AS id",
                args.repeat, args.seed,
            )  # fmt: skip
            raws = sample(
                store, plan_id,
                "MATCH (:Quantum {plan_id: $plan_id, task: 'isr'})-[:CONSUMES]->(d:Dataset {dataset_type: 'raw'}) "
                "RETURN d.id AS id",
                args.repeat, args.seed,
            )  # fmt: skip
            quanta = sample(
                store,
                plan_id,
                "MATCH (q:Quantum {plan_id: $plan_id}) RETURN q.id AS id",
                args.repeat,
                args.seed,
            )
            record["upstream_coadd"] = timed(lambda d: upstream(store, d), coadds)
            record["upstream_coadd_depth2"] = timed(lambda d: upstream(store, d, depth=2), coadds)
            sizes = [len(upstream(store, d).quanta) for d in coadds[:5]]
            record["upstream_coadd_quanta"] = sizes
            record["downstream_raw"] = timed(lambda d: downstream(store, d), raws)
            record["downstream_raw_quanta"] = [len(downstream(store, d).quanta) for d in raws[:5]]
            record["parents_children"] = timed(lambda q: (parents(store, q), children(store, q)), quanta)
            visits = max(1, 10_000 // args.detectors)
            began = time.perf_counter()
            part = subgraph(store, plan_id, tasks=["isr"], where={"visit": list(range(visits))})
            record["subgraph"] = {"quanta": len(part.graph), "seconds": round(time.perf_counter() - began, 3)}
        finally:
            if made and not args.keep:
                delete_plan(store, plan_id)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
