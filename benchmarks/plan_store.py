"""Plan and store, whole process: ``provgraph plan`` against pipe_base's build plus ``.qg`` write.

    .venv/bin/python benchmarks/plan_store.py                        # ~100k quanta, one run of each
    .venv/bin/python benchmarks/plan_store.py --repeat 3 --tools ours
    .venv/bin/python benchmarks/plan_store.py --visits 1060 --tools ours --split-by tract --keep  # ~1M

Issue 22, item 2: what a user waits for is planning *and* storing, so ours is the whole
``provgraph plan PIPELINE --repo R --where ... --plan-id P --replace`` process, from
start to exit: imports, pre-flight, the plan's write into Neo4j (the managed server,
or ``NEO4J_URI``), the summary it prints. pipe_base's is the same DRP shape built by
`benchmarks/lsst_qgraph_build.py --write` (mock tasks on an in-memory registry): its
``build_seconds`` plus ``write_seconds``, as that script reports them. Its registry
population is not counted, nor is the creation of our demo repository (registry only,
`benchmarks/preflight_ours.py --create`, made once per shape in ``--workdir``).

For ours it records wall seconds, the process's CPU seconds and peak RSS (from
``wait4``), and the Neo4j server's CPU seconds over the same interval
(``/proc/<pid>/stat`` of the managed server, or of ``--server-pid``); for pipe_base,
the build and write seconds, the whole process's CPU seconds and peak RSS. The
1-minute load average is taken before each measurement. Runs alternate, one at a
time. One JSON line per measurement goes to ``results/plan_store.jsonl``; the stored
plan is deleted after each of our runs (unless ``--keep``), so the database holds what
it held before. With ``--split-by tract``, ours is ``provgraph plan --split-by tract``:
pre-flight and store one tract at a time, the way a plan too big for memory is made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cold_cli import managed_server_pid, server_cpu
from preflight import ROOT, code_state, machine, run_json
from preflight_ours import where_clause

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.store import delete_plan, open_store

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "plan_store.jsonl"
PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))


def timed_process(argv: list[str], server_pid: int | None) -> dict[str, Any]:
    """Run ``argv`` to its end: its wall and CPU seconds, peak RSS, stdout, and the server's CPU meanwhile."""
    load = os.getloadavg()[0]
    server_before = server_cpu(server_pid)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # its own rusage, not the sum of all children's
        wall = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode:
        raise SystemExit(f"{argv[0]} {argv[1]} failed ({child.returncode}): {stderr.strip()[-2000:]}")
    return {
        "load_1min": round(load, 2),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "server_cpu_seconds": round(server_cpu(server_pid) - server_before, 2) if server_pid else None,
        "stdout": stdout,
    }


def measure_ours(
    args: argparse.Namespace, repo: Path, run_number: int, server_pid: int | None
) -> dict[str, Any]:
    shape = f"{args.visits}x{args.detectors}x{args.tracts}"
    plan_id = f"bench-plan-store-{shape}" + (f"-by-{args.split_by}" if args.split_by else "")
    split = ["--split-by", args.split_by] if args.split_by else []
    result = timed_process(
        [
            PROVGRAPH, "plan", str(demo_pipeline_path()), "--repo", str(repo),
            "--where", where_clause(args.visits), "--output-run", f"bench/plan-store/{shape}/{run_number}",
            "--plan-id", plan_id, "--replace", *split,
        ],
        server_pid,
    )  # fmt: skip
    stdout = result.pop("stdout")
    quanta = next(int(line.split()[1]) for line in stdout.splitlines() if line.startswith("quanta:"))
    if not args.keep:
        with open_store(start_managed=False) as store:
            delete_plan(store, plan_id)
    return {
        "tool": "provenance-graph",
        "plan_id": plan_id,
        "split_by": args.split_by,
        "quanta": quanta,
        **result,
    }


def measure_lsst(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    qg = workdir / "graph.qg"
    result = timed_process(
        [
            sys.executable, str(HERE / "lsst_qgraph_build.py"), "--visits", str(args.visits),
            "--detectors", str(args.detectors), "--tracts", str(args.tracts), "--write", str(qg),
        ],
        None,
    )  # fmt: skip
    built = json.loads(result.pop("stdout").strip().splitlines()[-1])
    qg.unlink(missing_ok=True)
    result.pop("server_cpu_seconds")
    return {
        "tool": "lsst-pipe-base",
        "quanta": built.get("quanta"),
        "populate_seconds": built.get("setup_seconds"),
        "build_seconds": built.get("build_seconds"),
        "write_seconds": built.get("write_seconds"),
        "build_and_write_seconds": round(built["build_seconds"] + built["write_seconds"], 2),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=106)
    parser.add_argument("--detectors", type=int, default=189)
    parser.add_argument("--tracts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tools", default="ours,lsst", help="comma-separated: ours, lsst")
    parser.add_argument("--split-by", help="ours: plan and store in parts, one per value of this dimension")
    parser.add_argument("--keep", action="store_true", help="ours: keep the stored plan (to query it)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/provgraph-bench-plan-store"))
    parser.add_argument(
        "--server-pid", type=int, help="the Neo4j server's pid (default: the managed server's)"
    )
    parser.add_argument("--note", default="", help="a note kept with the result (what the machine was doing)")
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]

    args.workdir.mkdir(parents=True, exist_ok=True)
    repo = args.workdir / f"repo-{args.visits}x{args.detectors}x{args.tracts}"
    if "ours" in tools and not repo.exists():
        run_json(
            [
                sys.executable, str(HERE / "preflight_ours.py"), "--create", "--repo", str(repo),
                "--visits", str(args.visits), "--detectors", str(args.detectors), "--tracts", str(args.tracts),
            ],
            timeout=7200,
        )  # fmt: skip
    server_pid = args.server_pid or (managed_server_pid() if "ours" in tools else None)
    common = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "shape": f"{args.visits}x{args.detectors}x{args.tracts}",
        "note": args.note,
        **code_state(),
        **machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for n in range(args.repeat):
        for tool in tools:
            record = (
                measure_ours(args, repo, n, server_pid)
                if tool == "ours"
                else measure_lsst(args, args.workdir)
            )
            record = {**common, **record}
            with RESULTS.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps({k: v for k, v in record.items() if k not in common}), flush=True)


if __name__ == "__main__":
    main()
