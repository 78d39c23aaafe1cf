"""Per-quantum overhead of batch jobs on Slurm against Parsl's local provider, on the same plan.

    .venv/bin/python benchmarks/batch_overhead.py --visits 4 --detectors 4

Makes a demo repository (V visits x D detectors), stores its demo plan twice (one output run
per side), then runs ``provgraph submit PLAN --clustering demo -j 2``: once on this machine
(Parsl's LocalProvider) and once on the tests' single-node Slurm (``tests/support/slurm.py``,
started if it is not running; Parsl's SlurmProvider, one block, workers started by ``srun``).
Reports per side the wall time, the submitting process's CPU seconds (its own and its
children's: on Slurm the workers are slurmd's children, not ours, so their CPU is not in
it) and both per quantum. Writes one JSON line per side to ``results/batch_overhead.jsonl``.
The plans go into the configured Neo4j (by default the managed server) and are deleted after.
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

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cold_cli import children_cpu  # noqa: E402

from provenance_graph.demo import demo_pipeline_path, make_demo_repo  # noqa: E402
from tests.support.slurm import PARTITION, SlurmCluster  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "batch_overhead.jsonl"
PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))


def provgraph(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [PROVGRAPH, *args], capture_output=True, text=True, env=env, timeout=3600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"provgraph {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=4)
    parser.add_argument("--detectors", type=int, default=4)
    parser.add_argument("--processes", "-j", type=int, default=2)
    args = parser.parse_args()

    cluster = SlurmCluster()
    started_slurm = cluster.start(timeout=180)
    env = {**os.environ, **cluster.env()}
    clustering = str(Path(demo_pipeline_path()).with_name("clustering.yaml"))
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="provgraph-bench-batch-") as tmp:
            repo = Path(tmp) / "repo"
            make_demo_repo(repo, args.visits, args.detectors).close()
            site = Path(tmp) / "slurm.yaml"
            site.write_text(yaml.safe_dump({
                "provider": "slurm",
                "provider_options": {
                    "partition": PARTITION, "nodes_per_block": 1, "init_blocks": 1, "max_blocks": 1,
                    "walltime": "01:00:00", "exclusive": False,
                    "worker_init": f"export PATH={Path(sys.executable).parent}:$PATH",
                },
                "launcher": "srun",
                "executor_options": {"address": "127.0.0.1"},
                "run_dir": str(Path(tmp) / "parsl"),
            }))  # fmt: skip
            for side, extra in (("local", []), ("slurm", ["--site", str(site)])):
                plan_id = f"bench-batch-{side}-{os.getpid()}"
                provgraph(
                    "plan", "-p", demo_pipeline_path(), "-b", str(repo), "-d", "instrument='DemoCam'",
                    "--plan-id", plan_id, "--output-run", f"bench/{plan_id}", env=env,
                )  # fmt: skip
                report = json.loads(provgraph("report", plan_id, "--json", env=env).stdout)
                count = sum(report["totals"].values())
                try:
                    wall, cpu = time.perf_counter(), children_cpu()
                    provgraph(
                        "submit",
                        plan_id,
                        "--clustering",
                        clustering,
                        "-j",
                        str(args.processes),
                        *extra,
                        env=env,
                    )
                    wall, cpu = time.perf_counter() - wall, children_cpu() - cpu
                finally:
                    provgraph("plans", "delete", plan_id, env=env)
                row = {
                    "benchmark": "batch_overhead",
                    "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "side": side,
                    "quanta": count,
                    "processes": args.processes,
                    "load_1min": round(os.getloadavg()[0], 2),
                    "wall_s": round(wall, 2),
                    "submit_cpu_s": round(cpu, 2),
                    "wall_ms_per_quantum": round(1000 * wall / count, 1) if count else None,
                    "submit_cpu_ms_per_quantum": round(1000 * cpu / count, 1) if count else None,
                }
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        if started_slurm:
            cluster.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
