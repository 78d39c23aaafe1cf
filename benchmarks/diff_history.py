"""``provgraph query diff`` and ``provgraph query history`` on a large stored plan, from a cold process.

    .venv/bin/python benchmarks/operations.py --visits 2000 --detectors 100 --keep   # stores the 1M plan
    .venv/bin/python benchmarks/diff_history.py --plan-id bench-operations-2000x100
    .venv/bin/python benchmarks/diff_history.py --plan-id bench-operations-2000x100 --code /path/to/main

The questions, each asked as a fresh ``provgraph ... --json`` process (the command of
``--provgraph``, with ``PYTHONPATH`` set to ``--code``, this checkout by default):

- **diff**: ``query diff PLAN OTHER`` (``--other``, default the plan itself). A plan
  against itself reads and compares every quantum's inputs and outputs on both sides and
  finds no difference: the whole work of a diff of two plans of this size, with the smallest
  answer. ``--other`` names a second stored plan for a diff that finds something.
- **history**: ``query history VALUES`` for each ``--history`` (dimension values as the
  command takes them): every quantum at those values in every complete plan, with its
  attempts.

Each question is asked ``--runs`` times in a row: the first meets a query the server has not
planned yet (``cold``), the others a warm server. Per run: wall time, the child's CPU seconds
(`resource.getrusage` of ``RUSAGE_CHILDREN`` around it), the Neo4j server's CPU seconds
(``/proc/<pid>/stat`` of the managed server, or of ``--server-pid``) and the 1-minute load
average after it, and the answer's size. One JSON line per question goes to
``results/diff_history.jsonl``; a summary table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from typing import Any

from cold_cli import HERE, add_measured_options, cold_run, managed_server_pid
from preflight import code_state, machine
from rich.console import Console
from rich.table import Table

RESULTS = HERE / "results" / "diff_history.jsonl"


def answer_size(question: str, stdout: bytes) -> dict[str, int]:
    answer = json.loads(stdout)
    if question == "diff":
        return {key: len(answer[key]) for key in ("added", "removed", "changed")}
    return {"quanta": len(answer), "attempts": sum(len(r["attempts"]) for r in answer)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--plan-id", required=True, help="the stored plan (benchmarks/operations.py stores one)"
    )
    parser.add_argument("--other", help="the plan to diff it against (default: itself)")
    parser.add_argument(
        "--history",
        action="append",
        help="dimension values to ask the history of, e.g. 'visit=4 detector=98' (repeatable)",
    )
    parser.add_argument("--only", choices=["diff", "history"], help="ask only these questions")
    parser.add_argument("--runs", type=int, default=3)
    add_measured_options(parser)
    args = parser.parse_args()
    pid = args.server_pid or managed_server_pid()
    env = {**os.environ, "PYTHONPATH": args.code}
    questions: list[tuple[str, list[str]]] = []
    if args.only != "history":
        questions.append(("diff", ["query", "diff", args.plan_id, args.other or args.plan_id, "--json"]))
    for values in args.history or ["instrument=DemoCam visit=4 detector=98", "instrument=DemoCam visit=4"]:
        if args.only == "diff":
            break
        questions.append(("history", ["query", "history", *values.split(), "--json"]))
    table = Table("question", "run", "wall s", "client CPU-s", "server CPU-s", "load", "answer")
    for question, command in questions:
        record: dict[str, Any] = {"benchmark": "diff_history", "machine": machine(), **code_state()}
        record["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        record.update(
            question=question, command=command, plan_id=args.plan_id, code=args.code, note=args.note
        )
        record["server_pid_known"] = pid is not None
        runs = []
        for _ in range(args.runs):
            figures, out = cold_run([args.provgraph, *command], env, pid)
            runs.append(figures)
            record.setdefault("answer", answer_size(question, out))
        record["runs"] = runs
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        for n, run in enumerate(runs, 1):
            table.add_row(" ".join(command[1:]) if n == 1 else "", "cold" if n == 1 else f"warm {n - 1}",
                          str(run["wall_s"]), str(run["client_cpu_s"]), str(run["server_cpu_s"]),
                          str(run["load_1min"]), json.dumps(record["answer"]) if n == 1 else "")  # fmt: skip
    Console(stderr=True, width=170).print(table)


if __name__ == "__main__":
    main()
