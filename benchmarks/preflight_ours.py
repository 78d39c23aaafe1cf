"""Our side of the pre-flight benchmark: plan the demo DRP pipeline over a demo repository.

Run by `benchmarks/preflight.py` in a fresh subprocess; prints one JSON object
on stdout. Two modes:

    python benchmarks/preflight_ours.py --create --repo DIR --visits 40 --detectors 49 --tracts 2
    python benchmarks/preflight_ours.py --repo DIR --visits 40 [--plan-file plan.json.gz]

``--create`` makes the demo repository (registry only, no pixels:
`make_demo_repo(..., write_pixels=False)`) and reports how long that took.
Without it, the process opens the existing repository, loads the demo pipeline,
and times `preflight()` alone; with ``--plan-file`` it then times `save_plan`
separately. Peak RSS is `ru_maxrss` of this process, read after each phase,
so it includes the interpreter, the imports and the open repository.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from provenance_graph.demo import demo_pipeline_path, geometry, make_demo_repo
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import save_plan
from provenance_graph.preflight import preflight
from provenance_graph.repository import Repository

OUTPUT_RUN = "bench/preflight/run"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def where_clause(visits: int) -> str:
    return f"instrument='{geometry.INSTRUMENT}' AND skymap='{geometry.SKYMAP}' AND visit IN (1..{visits})"


def create(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    repo = make_demo_repo(args.repo, args.visits, args.detectors, args.tracts, write_pixels=False)
    repo.close()
    return {
        "setup_seconds": round(time.perf_counter() - started, 3),
        "setup_peak_rss_mb": peak_rss_mb(),
    }


def plan(args: argparse.Namespace) -> dict[str, Any]:
    record: dict[str, Any] = {}
    repo = Repository.open(args.repo)
    started = time.perf_counter()
    pipeline = Pipeline.from_file(demo_pipeline_path())
    record["pipeline_load_seconds"] = round(time.perf_counter() - started, 3)
    record["rss_before_build_mb"] = peak_rss_mb()

    started, cpu_started = time.perf_counter(), time.process_time()
    graph = preflight(pipeline, repo, where_clause(args.visits), output_run=OUTPUT_RUN)
    record["build_seconds"] = round(time.perf_counter() - started, 3)
    record["build_cpu_seconds"] = round(time.process_time() - cpu_started, 3)
    record["peak_rss_mb"] = peak_rss_mb()
    record["quanta"] = len(graph)
    record["datasets"] = len(graph.datasets)
    record["quanta_per_task"] = graph.task_counts()

    if args.plan_file:
        started = time.perf_counter()
        record["write_bytes"] = save_plan(graph, Path(args.plan_file))
        record["write_seconds"] = round(time.perf_counter() - started, 3)
        record["peak_rss_with_write_mb"] = peak_rss_mb()
    repo.close()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", required=True, help="the demo repository's directory")
    parser.add_argument("--visits", type=int, required=True)
    parser.add_argument("--detectors", type=int, default=0, help="with --create")
    parser.add_argument("--tracts", type=int, default=1, help="with --create")
    parser.add_argument("--create", action="store_true", help="create the repository, then stop")
    parser.add_argument("--plan-file", help="also save the plan to this file (gzip JSON) and time it")
    args = parser.parse_args()
    record: dict[str, Any] = {
        "tool": "provenance-graph",
        "version": importlib.metadata.version("provenance-graph"),
        "python": sys.version.split()[0],
        "rss_after_import_mb": peak_rss_mb(),
    }
    record |= create(args) if args.create else plan(args)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
