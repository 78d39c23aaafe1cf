"""Where the server's CPU goes while ``provgraph run`` runs cheap quanta: per transaction.

    .venv/bin/python benchmarks/execution_transactions.py --quanta 1000 --jobs 1

The plan of `execution_ours.py` (two copy tasks, ``--quanta`` quanta) is stored in the managed
server; then this process runs ``provgraph run --plan ID -j N`` itself (the real command,
in-process, so that its transactions can be watched; its workers are processes as usual).
Every transaction the store runs (`GraphStore._run_in_transaction`) and every query inside
a multi-query one (`GraphStore.write_many`) is timed, and the server's CPU seconds
(``/proc/<pid>/stat``) are read before and after it. The server's CPU between two reads is
not only the transaction's (its own threads, checkpoints), so the figures are estimates;
summed over thousands of transactions they show where the time goes.

Prints, per transaction (and nested query) name: how many, wall seconds, server CPU
seconds and server CPU ms per quantum; then when the first claim and the first and last
record happened, from the command's start. Appends one JSON line to
``results/execution_transactions.jsonl``. The plan is deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cold_cli import managed_server_pid, server_cpu
from execution_ours import PIPELINE, make_repo
from measure_tree import choose_shape
from preflight import code_state, machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `benchmarks.noop_tasks`, for this process and its workers

from provenance_graph.activators import plan_pipeline  # noqa: E402
from provenance_graph.pipeline import Pipeline  # noqa: E402
from provenance_graph.store import delete_plan, open_store  # noqa: E402
from provenance_graph.store.connection import GraphStore, Reader  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "execution_transactions.jsonl"


class Watch:
    """Counts, wall and server CPU seconds per name, and when each name was first and last seen."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.lock = threading.Lock()
        self.stats: dict[str, list[float]] = {}
        self.seen: dict[str, tuple[float, float]] = {}

    def timed(self, name: str, work: Callable[[], Any]) -> Any:
        cpu, began = server_cpu(self.server_pid), time.perf_counter()
        try:
            return work()
        finally:
            now = time.perf_counter()
            with self.lock:
                entry = self.stats.setdefault(name, [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += now - began
                entry[2] += server_cpu(self.server_pid) - cpu
                self.seen[name] = (self.seen.get(name, (began, now))[0], now)

    def install(self) -> None:
        """Wrap the store's transactions and the queries of its multi-query write transactions."""
        run_in_transaction, write_many = GraphStore._run_in_transaction, GraphStore.write_many

        def transaction(store: GraphStore, name: str, unit: Any, *, write: bool) -> Any:
            return self.timed(name, lambda: run_in_transaction(store, name, unit, write=write))

        def many(store: GraphStore, first: str, work: Callable[[Reader], Any]) -> Any:
            def watched(writer: Reader) -> Any:
                return work(lambda name, **p: self.timed(f"  {first} > {name}", lambda: writer(name, **p)))

            return write_many(store, first, watched)

        GraphStore._run_in_transaction = transaction  # type: ignore[method-assign]
        GraphStore.write_many = many  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quanta", type=int, default=1000, help="total quanta (two tasks); default 1000")
    parser.add_argument("--jobs", type=int, default=1, help="-j; default 1")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT)  # the workers import benchmarks.noop_tasks
    with open_store():
        pass  # starts the managed server if it is not running
    server_pid = managed_server_pid()
    if server_pid is None:
        raise SystemExit("this benchmark reads the managed server's CPU: start it ('provgraph server start')")
    watch = Watch(server_pid)
    with tempfile.TemporaryDirectory(prefix="exec-tx-") as work:
        visits, detectors = choose_shape(args.quanta, 2)
        repo = make_repo(Path(work) / "repo", visits, detectors)
        plan_id = f"bench-exec-tx-{os.getpid()}"
        with open_store() as store:
            pipeline = Pipeline.from_yaml(PIPELINE, source="benchmark pipeline")
            plan_pipeline(
                pipeline,
                repo,
                output_run=f"bench/exec-tx/{plan_id}",
                plan_id=plan_id,
                store=store,
                replace=True,
            )
        repo.close()
        watch.install()
        from provenance_graph.cli.main import app

        load1 = os.getloadavg()[0]
        cpu, began = server_cpu(server_pid), time.perf_counter()
        app(["run", "--plan", plan_id, "-j", str(args.jobs)], standalone_mode=False)
        wall, server_seconds = time.perf_counter() - began, server_cpu(server_pid) - cpu
        stats, seen = {k: list(v) for k, v in watch.stats.items()}, dict(watch.seen)  # not the deletion's
        with open_store() as store:
            delete_plan(store, plan_id)
    per_quantum = {
        name: {"n": int(n), "wall_s": round(w, 3), "server_cpu_s": round(c, 3), "server_cpu_ms_per_quantum": round(c * 1000 / args.quanta, 3)}
        for name, (n, w, c) in sorted(stats.items(), key=lambda i: -i[1][2])
    }  # fmt: skip
    marks = {
        "first_claim_s": seen.get("execution_claim", (0.0, 0.0))[0] - began,
        "first_record_s": seen.get("execution_finish_quanta", (0.0, 0.0))[0] - began,
        "last_record_s": seen.get("execution_finish_quanta", (0.0, 0.0))[1] - began,
    }
    record = {
        "benchmark": "execution_transactions",
        "machine": machine(),
        **code_state(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quanta": args.quanta,
        "jobs": args.jobs,
        "wall_seconds": round(wall, 3),
        "server_cpu_ms_per_quantum": round(server_seconds * 1000 / args.quanta, 3),
        "loadavg_1m_before": round(load1, 2),
        **{k: round(v, 3) for k, v in marks.items()},
        "transactions": per_quantum,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(
        f"{args.quanta} quanta, -j {args.jobs}: {wall:.1f} s, server {server_seconds:.2f} CPU-s "
        f"({record['server_cpu_ms_per_quantum']} ms per quantum), load {load1:.2f}"
    )
    print(f"{'transaction > query':50} {'n':>6} {'wall s':>8} {'server CPU s':>12} {'ms/quantum':>10}")
    for name, row in per_quantum.items():
        print(f"{name:50} {row['n']:6d} {row['wall_s']:8.2f} {row['server_cpu_s']:12.2f} {row['server_cpu_ms_per_quantum']:10.2f}")  # fmt: skip
    print(", ".join(f"{k} {v:.2f}" for k, v in marks.items()))


if __name__ == "__main__":
    main()
