"""Operations benchmark: ``provgraph stats`` (and ``footprint``) on a large executed plan.

Builds a synthetic DRP-shaped plan (default about 100k quanta), stores it in the configured
Neo4j, and records an execution of it through the path real batch jobs use: one journal per
100 quanta (`JournalWriter`), loaded by `record_journals` as ``provgraph record`` does. Each
attempt gets a duration and a peak memory drawn per task (log-normal, seeded), and a share
of the quanta (``--failures``, default 1%) fail with an error. The records are generated, the
recording path is the real one: no node is written directly.

Then it times, each ``--repeat`` times (cold first, then warm), the typed functions the
commands call: `runtime_stats` per task (``stats PLAN``), per visit (``stats PLAN --by
visit``), the two sides of a comparison (``stats PLAN --compare OTHER``: this plan against
itself) and `footprint`. Reports wall time, this process's CPU seconds and the Neo4j server's
(from /proc, when it is on this machine). The plan is deleted afterwards unless ``--keep``.

    .venv/bin/python benchmarks/operations.py                               # ~100k quanta
    .venv/bin/python benchmarks/operations.py --visits 20 --detectors 50   # ~10k, quick
    .venv/bin/python benchmarks/operations.py --visits 2000 --detectors 100  # ~1M: long

Results are appended as JSON lines to benchmarks/results/operations.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from provenance_graph.journal import JournalRecord, JournalWriter, read_journals
from provenance_graph.model import AttemptOutcome, OutputRecord
from provenance_graph.store import delete_plan, open_store, write_plan
from provenance_graph.store.analytics import compare_stats, footprint, runtime_stats
from provenance_graph.store.journals import record_journals
from provenance_graph.synthetic import drp_plan

RESULTS = Path(__file__).resolve().parent / "results" / "operations.jsonl"


def server_cpu() -> float | None:
    """CPU seconds (user + system) of the Neo4j server this run talks to, if it is on this machine.

    The server under ``PROVGRAPH_HOME`` when that is set (a test suite's own), else the first one.
    """
    home = os.environ.get("PROVGRAPH_HOME")
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "org.neo4j.server" in cmd and (home is None or home in cmd):
            times = proc.cpu_times()
            return float(times.user + times.system)
    return None


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], Any]) -> tuple[Any, dict[str, float | None]]:
    wall, mine, server = time.perf_counter(), cpu(), server_cpu()
    result = work()
    wall, mine, after = time.perf_counter() - wall, cpu() - mine, server_cpu()
    server_s = round(after - server, 2) if server is not None and after is not None else None
    return result, {"wall_s": round(wall, 2), "client_cpu_s": round(mine, 2), "server_cpu_s": server_s}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--failures", type=float, default=0.01, help="share of quanta that fail")
    parser.add_argument("--per-journal", type=int, default=100, help="quanta per journal (batch job)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the plan (and reuse a kept one)")
    args = parser.parse_args()

    plan_id = f"bench-operations-{args.visits}x{args.detectors}"
    graph = drp_plan(
        args.visits,
        args.detectors,
        tracts=max(1, args.visits // 50),
        plan_id=plan_id,
        output_run=f"bench/operations/{args.visits}x{args.detectors}",
        raw_run="bench/raw",
        calib_run="bench/calib",
    )
    quanta = list(graph.quanta.values())
    rng = random.Random(21)
    scale = {
        task: (rng.uniform(0.5, 60.0), rng.uniform(200.0, 4000.0))
        for task in sorted({q.task_label for q in quanta})
    }
    figures: dict[str, Any] = {}
    with open_store(say=print) as store:
        kept = args.keep and bool(store.read("stats_executions", plan_id=plan_id))
        if not kept:
            delete_plan(store, plan_id)
            _, figures["write_plan"] = timed(lambda: write_plan(store, graph))
            print(f"{len(quanta)} quanta stored: {figures['write_plan']}")
            failed = 0
            with tempfile.TemporaryDirectory(prefix="provgraph-bench-operations-") as tmp:
                folder = Path(tmp)
                for start in range(0, len(quanta), args.per_journal):
                    job = f"job_{start // args.per_journal}"
                    with JournalWriter(folder / f"{job}.jsonl") as journal:
                        for quantum in quanta[start : start + args.per_journal]:
                            seconds, mb = scale[quantum.task_label]
                            ok = rng.random() >= args.failures
                            failed += not ok
                            outputs = tuple(
                                OutputRecord(r.id, f"file:///bench/{r.id}.npy", rng.randint(10**5, 10**7),
                                             "sha256:" + "0" * 64)
                                for r in quantum.outputs
                            ) if ok else ()  # fmt: skip
                            outcome = AttemptOutcome(
                                quantum.id, ok, seconds * rng.lognormvariate(0, 0.3), "node1", 42,
                                mb * rng.lognormvariate(0, 0.1), 0 if ok else 1,
                                error=None if ok else "RuntimeError: synthetic failure", outputs=outputs,
                            )  # fmt: skip
                            journal.write(JournalRecord(plan_id, "bench-operations-execution", job, outcome))
                read = read_journals([folder])
                result, figures["record"] = timed(lambda: record_journals(store, read.records))
            print(f"recorded {result.recorded} attempts ({failed} failed): {figures['record']}")
        try:
            questions: dict[str, Callable[[], Any]] = {
                "stats_by_task": lambda: runtime_stats(store, plan_id),
                "stats_by_visit": lambda: runtime_stats(store, plan_id, by=["visit"]),
                "stats_compare": lambda: compare_stats(
                    runtime_stats(store, plan_id), runtime_stats(store, plan_id)
                ),
                "footprint": lambda: footprint(store, plan_id),
            }
            for name, question in questions.items():
                runs = []
                for _ in range(args.repeat):
                    _, measured = timed(question)
                    runs.append(measured)
                figures[name] = runs
                print(f"{name}: {runs}")
        finally:
            if not args.keep:
                delete_plan(store, plan_id)
    record = {
        "benchmark": "operations",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "load_1min": round(os.getloadavg()[0], 2),
        "quanta": len(quanta),
        "failures": args.failures,
        **figures,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
