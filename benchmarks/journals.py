"""Journal recording benchmark: attempt records loaded into Neo4j per second, at 100k quanta.

Builds a synthetic DRP-shaped plan (default about 100k quanta), stores it in the configured
Neo4j (by default the managed server), writes one journal per 100 quanta with one successful
attempt per quantum (its outputs' URIs, sizes and checksums, as a batch job writes them),
then times `provgraph record` of the lot (`record_journals`, after `read_journals`), and a
second load of the same journals (idempotent: nothing recorded). Reports wall time, this
process's CPU seconds and the Neo4j server's CPU seconds (from /proc, when the server is on
this machine). The plan is deleted afterwards.

    .venv/bin/python benchmarks/journals.py                      # ~100k quanta
    .venv/bin/python benchmarks/journals.py --visits 10 --detectors 20   # quick run

Results are appended as JSON lines to benchmarks/results/journals.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import psutil

from provenance_graph.journal import JournalRecord, JournalWriter, read_journals
from provenance_graph.model import AttemptOutcome, OutputRecord
from provenance_graph.store import delete_plan, open_store, write_plan
from provenance_graph.store.journals import record_journals
from provenance_graph.synthetic import drp_plan

RESULTS = Path(__file__).resolve().parent / "results" / "journals.jsonl"


def server_cpu() -> float | None:
    """CPU seconds (user + system) of the Neo4j server process on this machine, if there is one."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "org.neo4j.server" in cmd and ".pytest-neo4j" not in cmd:
            times = proc.cpu_times()
            return float(times.user + times.system)
    return None


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--per-journal", type=int, default=100, help="quanta per journal (batch job)")
    args = parser.parse_args()

    plan_id = f"bench-journals-{args.visits}x{args.detectors}"
    graph = drp_plan(
        args.visits,
        args.detectors,
        tracts=max(1, args.visits // 50),
        plan_id=plan_id,
        output_run=f"bench/journals/{args.visits}x{args.detectors}",
        raw_run="bench/raw",
        calib_run="bench/calib",
    )
    quanta = list(graph.quanta.values())
    execution = "bench-journals-execution"
    with tempfile.TemporaryDirectory(prefix="provgraph-bench-journals-") as tmp:
        folder = Path(tmp)
        for start in range(0, len(quanta), args.per_journal):
            with JournalWriter(folder / f"job_{start // args.per_journal}.jsonl") as journal:
                for quantum in quanta[start : start + args.per_journal]:
                    outputs = tuple(
                        OutputRecord(r.id, f"file:///bench/{r.id}.npy", 1000, "sha256:" + "0" * 64)
                        for r in quantum.outputs
                    )
                    outcome = AttemptOutcome(quantum.id, True, 1.0, "node1", 42, 100.0, 0, outputs=outputs)
                    journal.write(
                        JournalRecord(plan_id, execution, f"job_{start // args.per_journal}", outcome)
                    )
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{len(quanta)} quanta; journals: {size / 1e6:.1f} MB in {len(list(folder.iterdir()))} files")
        with open_store(say=print) as store:
            delete_plan(store, plan_id)
            write_plan(store, graph)
            try:
                figures = {}
                for run in ("first", "again"):
                    wall, mine, server = time.perf_counter(), cpu(), server_cpu()
                    read = read_journals([folder])
                    result = record_journals(store, read.records)
                    wall, mine = time.perf_counter() - wall, cpu() - mine
                    after = server_cpu()
                    figures[run] = {
                        "records": len(read.records),
                        "recorded": result.recorded,
                        "already": result.already,
                        "wall_s": round(wall, 2),
                        "client_cpu_s": round(mine, 2),
                        "server_cpu_s": round(after - server, 2)
                        if server is not None and after is not None
                        else None,
                        "records_per_s": round(len(read.records) / wall),
                    }
                    print(f"{run}: {figures[run]}")
                assert figures["first"]["recorded"] == len(quanta)
                assert figures["again"]["recorded"] == 0
            finally:
                delete_plan(store, plan_id)
    record = {
        "benchmark": "journals",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "load_1min": round(os.getloadavg()[0], 2),
        "quanta": len(quanta),
        "per_journal": args.per_journal,
        "journal_bytes": size,
        **{f"{run}_{k}": v for run, f in figures.items() for k, v in f.items()},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
