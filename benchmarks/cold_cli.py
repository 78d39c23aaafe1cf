"""The first answer from a cold process: ``provgraph query lineage`` against pipe_base's partial reader.

    .venv/bin/python benchmarks/queries.py --visits 106 --detectors 189 --tracts 4 --keep ...  # stores the plan
    .venv/bin/python benchmarks/lsst_qgraph_build.py --visits 106 --detectors 189 --tracts 4 --write graph.qg
    .venv/bin/python benchmarks/cold_cli.py --plan-id bench-queries-106x189x4 --qg graph.qg
    .venv/bin/python benchmarks/cold_cli.py --plan-id bench-queries-106x189x4 --code /path/to/other/checkout

The question: what a ``deepCoadd`` was made from, 2 quanta deep (``--depth``), every node
with its id, type or task, and data ID, printed as JSON. The coadd is the one at
``--coadd`` (tract, patch, band) in both graphs; the two graphs have the same shape, not
the same ids.

- **ours**: ``provgraph query lineage ID --depth 2 --json`` in a fresh process (the
  command of ``--provgraph``, with ``PYTHONPATH`` set to ``--code``, this checkout by
  default), against the running server, whose id for the coadd this process looks up
  first;
- **pipe_base** (``--qg``): ``benchmarks/lsst_qgraph_partial.py`` in a fresh process,
  which reads the ``.qg``'s thin graph, walks its quantum edges, and reads the datasets of
  the quanta it reached only (pipe_base's own partial reader, not a whole load).

Each is run ``--runs`` times in turn. Per run: wall time, the child's CPU seconds (user +
system, `resource.getrusage` of ``RUSAGE_CHILDREN`` around it), the Neo4j server's CPU
seconds over the same interval (``/proc/<pid>/stat`` of the managed server, or of
``--server-pid``), and the 1-minute load average after it. CPU seconds are the figure to
compare on a busy machine: wall time grows with the load, CPU time far less. One JSON
line per invocation goes to ``results/cold_cli.jsonl``; a summary table is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from preflight import ROOT, code_state, machine
from rich.console import Console
from rich.table import Table

from provenance_graph.store import open_store

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cold_cli.jsonl"
PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))
_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 when not known)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15 of stat(5)


def children_cpu() -> float:
    """CPU seconds of this process's children that have been waited for, and of theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def managed_server_pid() -> int | None:
    from provenance_graph.server import ManagedServer

    status = ManagedServer().status()
    return status.pid if status.running else None


def find_coadd(plan_id: str, wanted: dict[str, Any]) -> str:
    """Our id of the plan's ``deepCoadd`` whose data ID holds ``wanted``."""
    with open_store(start_managed=False) as store, store.session() as session:
        rows = session.run(
            "MATCH (:Quantum {plan_id: $plan_id, task: 'assembleCoadd'})-[:PRODUCES]->(d:Dataset) "
            "WHERE d.dataset_type = 'deepCoadd' RETURN d.id AS id, d.data_id AS data_id",
            plan_id=plan_id,
        )
        found = [r["id"] for r in rows if wanted.items() <= json.loads(r["data_id"]).items()]
    if len(found) != 1:
        raise SystemExit(f"{len(found)} deepCoadd datasets of plan {plan_id!r} match {wanted}")
    return str(found[0])


def cold_run(command: list[str], env: dict[str, str], pid: int | None) -> tuple[dict[str, float], bytes]:
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server_cpu(pid)
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - began
    server_after = server_cpu(pid)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    client = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "wall_s": round(wall, 3),
        "client_cpu_s": round(client, 3),
        "server_cpu_s": round(server_after - server_before, 3),
        "load_1min": round(os.getloadavg()[0], 2),
    }, done.stdout


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "runs": runs,
        **{f"{key}_median": round(statistics.median(r[key] for r in runs), 3) for key in runs[0]},
        "wall_s_min": min(r["wall_s"] for r in runs),
        "client_cpu_s_min": min(r["client_cpu_s"] for r in runs),
    }


def answer_size(stdout: bytes) -> dict[str, int]:
    answer = json.loads(stdout)
    return {"quanta": len(answer["quanta"]), "datasets": len(answer["datasets"])}


def add_measured_options(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that runs provgraph as a child: which code, and what to note."""
    parser.add_argument("--code", default=str(ROOT), help="PYTHONPATH of the measured provgraph (a checkout)")
    parser.add_argument("--provgraph", default=PROVGRAPH, help="the provgraph command to run")
    parser.add_argument(
        "--server-pid", type=int, help="the Neo4j server's pid (default: the managed server's)"
    )
    parser.add_argument("--note", default="", help="a note kept with the result (what the machine was doing)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--plan-id", required=True, help="the stored plan to ask (benchmarks/queries.py stores one)"
    )
    parser.add_argument("--qg", help="the same shape as a .qg file, for pipe_base's side (else ours only)")
    parser.add_argument(
        "--coadd", default='{"tract": 0, "patch": 5, "band": "g"}', help="the coadd's data ID (JSON)"
    )
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    add_measured_options(parser)
    args = parser.parse_args()
    wanted = json.loads(args.coadd)
    pid = args.server_pid or managed_server_pid()
    record: dict[str, Any] = {"benchmark": "cold_cli", "machine": machine(), **code_state()}
    record["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record.update(plan_id=args.plan_id, coadd=wanted, depth=args.depth, code=args.code, note=args.note)
    record["server_pid_known"] = pid is not None
    coadd = find_coadd(args.plan_id, wanted)
    ours_env = {**os.environ, "PYTHONPATH": args.code}
    ours = [args.provgraph, "query", "lineage", coadd, "--depth", str(args.depth), "--json"]
    theirs = [sys.executable, str(HERE / "lsst_qgraph_partial.py"), "--qg", str(args.qg or ""),
              "--coadd", json.dumps(wanted), "--depth", str(args.depth)]  # fmt: skip
    sides: dict[str, list[dict[str, float]]] = {"ours": []}
    if args.qg:
        sides["pipe_base_partial"] = []
        record["qg"] = str(args.qg)
    for _ in range(args.runs):  # in turn, so that both meet the same load
        figures, out = cold_run(ours, ours_env, pid)
        sides["ours"].append(figures)
        record.setdefault("ours_answer", answer_size(out))
        if args.qg:
            figures, out = cold_run(theirs, dict(os.environ), pid)
            sides["pipe_base_partial"].append(figures)
            record.setdefault("pipe_base_answer", answer_size(out))
    for side, runs in sides.items():
        record[side] = summary(runs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    table = Table(
        "side", "wall s (median)", "client CPU-s (median)", "server CPU-s (median)", "load (median)", "answer"
    )
    for side in sides:
        s = record[side]
        size = record.get(f"{'ours' if side == 'ours' else 'pipe_base'}_answer", {})
        table.add_row(side, str(s["wall_s_median"]), str(s["client_cpu_s_median"]), str(s["server_cpu_s_median"]),
                      str(s["load_1min_median"]), json.dumps(size))  # fmt: skip
    Console(stderr=True, width=150).print(table)


if __name__ == "__main__":
    main()
