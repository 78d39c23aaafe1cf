"""Per-quantum execution overhead: `provgraph run` against `pipetask run`, in the same run.

    .venv/bin/python benchmarks/execution.py --quanta 1000 --jobs 1 2
    make bench-execution

Both sides run the same shape: a chain of two cheap tasks over
(instrument, visit, detector), V visits x D detectors each, so half the quanta
depend on the other half; every quantum reads one small input file and writes
one output file. Ours: `execution_ours.py` (copy tasks of `noop_tasks.py`, the
real ``provgraph run --plan ID -j N`` command, every attempt recorded in
Neo4j). Theirs: `pipetask_overhead.py` (pipe_base's mock tasks, the real
``pipetask run -g GRAPH.qg -j N`` of lsst-ctrl-mpexec on a real butler
repository). Each side's setup (repository, plan or graph) is not timed. One
JSON line per measurement is appended to ``results/execution.jsonl`` with the
machine, the commit and the load average before it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from preflight import code_state, machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "execution.jsonl"


def run_lines(command: list[str], timeout: float) -> list[dict[str, Any]]:
    """Run a measuring script; return the JSON objects it printed, one per line."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quanta", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tools", default="ours,pipetask", help="comma-separated: ours, pipetask")
    parser.add_argument("--lsst-quanta", type=int, help="quanta for pipetask (default --quanta)")
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    tools = {t.strip() for t in args.tools.split(",")}
    jobs = [str(j) for j in args.jobs]
    commands = []
    if "ours" in tools:
        commands.append(
            [sys.executable, str(HERE / "execution_ours.py"), "--quanta", str(args.quanta), "--jobs", *jobs]
        )
    if "pipetask" in tools:
        quanta = str(args.lsst_quanta or args.quanta)
        commands.append(
            [
                sys.executable,
                str(HERE / "pipetask_overhead.py"),
                "--quanta",
                quanta,
                "--jobs",
                *jobs,
                "--baseline",
            ]
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    common = {"benchmark": "execution", "machine": machine()}
    for command in commands:
        print(f"running {' '.join(command[1:])} ...", flush=True)
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        state = code_state()
        for measured in run_lines(command, args.timeout):
            record = {**common, **state, "when": when, **measured}
            with args.results.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            per = record.get("seconds_per_quantum")
            print(
                f"  {record['tool']} -j {record['jobs']}: {record['quanta']} quanta in "
                f"{record['wall_seconds']:.1f} s" + (f" ({per:.3f} s per quantum)" if per else ""),
                flush=True,
            )
    print(f"results appended to {args.results}")


if __name__ == "__main__":
    main()
