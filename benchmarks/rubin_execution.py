"""Execution of one Rubin QuantumGraph three ways: ``pipetask run``, ``run-qbb``, ``provgraph run``.

    .venv/bin/python benchmarks/rubin_execution.py --visits 10 --detectors 10 --jobs 1 2
    make bench-rubin

One real QuantumGraph (``.qg``, built by the real ``pipetask qgraph`` with
``--qgraph-datastore-records``) of two of pipe_base's mock tasks (real
PipelineTasks, ``DynamicTestPipelineTask``) chained over (instrument, visit,
detector): ``isr`` reads one ``bench_raw`` and writes ``bench_postISRCCD``,
``calibrate`` reads that and writes ``bench_calexp``; both also write their
``_metadata`` and ``_log``. It runs, for each ``-j`` value, on a fresh copy of
one real Butler repository (SQLite registry, file datastore) per side, so no
side sees another's outputs:

1. ``pipetask --long-log run -b REPO -g GRAPH.qg -j N`` (lsst-ctrl-mpexec);
2. the quantum-backed-butler path, each step timed: ``pipetask --long-log
   pre-exec-init-qbb REPO GRAPH.qg``, ``pipetask --long-log run-qbb REPO
   GRAPH.qg -j N``, ``butler transfer-from-graph GRAPH.qg REPO
   --register-dataset-types --update-output-chain --no-transfer-dimensions``;
3. ours: ``provgraph import-qgraph GRAPH.qg -b REPO --plan-id ID`` (timed apart
   as ``import_*``), then ``provgraph run --plan ID -j N``, which executes with
   pipe_base's ``SingleQuantumExecutor`` and a ``QuantumBackedButler`` per
   quantum, records every attempt in Neo4j (the managed server, or
   ``NEO4J_URI``) and registers the outputs in the Butler at the end.

What is measured, per command, from start to exit: wall time; CPU seconds
(user + system) of the command and every process under it, read with
``getrusage(RUSAGE_CHILDREN)`` before and after. This process makes itself a
child subreaper (Linux ``prctl``), so processes orphaned under the command
(``provgraph``'s forkserver and its workers, which the command never waits
for) are reparented here and reaped, and their CPU counts too. For ours, the
Neo4j server's own CPU over the run is reported apart (``neo4j_cpu_seconds``).
Peak memory is the summed RSS of the command's process tree, sampled every
0.5 s. ``in_quantum_seconds_per_quantum`` is what each side reports from
inside its worker: for pipetask and run-qbb the time ``SingleQuantumExecutor``
logs per quantum, for ours each attempt's ``duration_s`` (the executor plus
fingerprinting the outputs).

Not measured: making the repository, building the graph (its time is
reported as ``graph_build_seconds``), copying the repository.

Verified after each side: every dataset the graph predicts in its output RUN
(outputs, metadata, logs, configs, ``packages``) is registered in that side's
Butler, and nothing else is; for ours, every quantum is ``succeeded`` in the
graph. A side that fails or misses an output is reported and the script exits
non-zero after the remaining measurements.

One JSON line per measurement is appended to ``results/rubin_execution.jsonl``
with the machine, the commit and the load average before it. Linux only.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime as dt
import importlib.metadata
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from lsst.daf.butler import Butler
from lsst.pipe.base import Pipeline
from lsst.pipe.base.pipeline_graph import TaskImportMode
from lsst.pipe.base.quantum_graph import PredictedQuantumGraph
from measure_tree import TreeRssSampler, choose_shape

# It imports pipe_base's mocks, which teaches daf_butler the mock storage classes in this process.
from pipetask_overhead import INPUT_CHAIN, INSTRUMENT, mock_repo, parse_long_log
from preflight import code_state, machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # this worktree's provenance_graph, here and in `provgraph`

from provenance_graph.server import ManagedServer  # noqa: E402
from provenance_graph.settings import connection_from_env  # noqa: E402
from provenance_graph.store import delete_plan, open_store  # noqa: E402
from provenance_graph.store.execution import attempts, status_counts  # noqa: E402

RESULTS = HERE / "results" / "rubin_execution.jsonl"
BIN = Path(sys.executable).parent
OUTPUT = "bench/out"
OUTPUT_RUN = "bench/out/run"
TASKS = ("isr", "calibrate")

#: Two mock tasks chained over (instrument, visit, detector); dataset types are prefixed so
#: that they cannot clash with other plans' in the same Neo4j database.
PIPELINE = """\
description: Rubin execution benchmark, two mock tasks chained over visit x detector
tasks:
  isr:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig as C
        dims = ["instrument", "visit", "detector"]
        config.dimensions = dims
        config.inputs["raw"] = C(dataset_type_name="bench_raw", dimensions=dims)
        config.outputs["postISRCCD"] = C(dataset_type_name="bench_postISRCCD", dimensions=dims)
  calibrate:
    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask
    config:
      python: |
        from lsst.pipe.base.tests.mocks import DynamicConnectionConfig as C
        dims = ["instrument", "visit", "detector"]
        config.dimensions = dims
        config.inputs["exposure"] = C(dataset_type_name="bench_postISRCCD", dimensions=dims)
        config.outputs["calexp"] = C(dataset_type_name="bench_calexp", dimensions=dims)
"""

#: What a measured command's record holds besides its label.
Measured = dict[str, Any]


def log(message: str) -> None:
    print(f"[rubin_execution] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Setup (not measured): the repository and the QuantumGraph.
# ---------------------------------------------------------------------------


def make_repo(root: Path, pipeline: Path, visits: int, detectors: int) -> int:
    """A Butler repository with one mock ``bench_raw`` per (visit, detector); returns how many.

    Every dataset type of the pipeline (outputs, configs, metadata, logs, ``packages``) is
    registered here, once, so no side pays for it or needs ``--register-dataset-types``.
    """
    config = Butler.makeRepo(str(root))
    with Butler.from_config(config, writeable=True) as butler:
        repo = mock_repo(butler, visits, detectors)
        repo.pipeline_graph = Pipeline.from_uri(str(pipeline)).to_graph(registry=butler.registry)
        inputs = len(repo.insert_datasets("bench_raw", limit=None))
        repo.pipeline_graph.register_dataset_types(butler, include_packages=True)
    return inputs


def build_graph(root: Path, pipeline: Path, path: Path) -> float:
    """The real ``pipetask qgraph``, with datastore records (run-qbb needs them); returns seconds."""
    started = time.perf_counter()
    command = [
        str(BIN / "pipetask"),
        "qgraph",
        "-b",
        str(root),
        "-p",
        str(pipeline),
        "-i",
        INPUT_CHAIN,
        "-o",
        OUTPUT,
        "--output-run",
        OUTPUT_RUN,
        "-d",
        f"instrument = '{INSTRUMENT}'",
        "--qgraph-datastore-records",
        "--save-qgraph",
        str(path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise SystemExit(f"pipetask qgraph failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def predicted(path: Path) -> tuple[set[tuple[str, str]], dict[str, int]]:
    """The datasets the graph puts in its output RUN (type, data ID), and its quanta per task."""
    with PredictedQuantumGraph.open(str(path), import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
        reader.read_thin_graph()
        reader.read_init_quanta()
        reader.read_quantum_datasets()
        graph = reader.finish()
    expected = set()
    for name, refs in graph.datasets_by_type.items():
        for data_id, dataset_id in refs.items():
            # Init-outputs (configs, ``packages``) are not in the quanta's graph; all go to the
            # output RUN (this pipeline has no init-inputs).
            info = graph.bipartite_xgraph.nodes.get(dataset_id, {"run": OUTPUT_RUN})
            if info["run"] == OUTPUT_RUN:
                expected.add((name, str(dict(data_id.required))))
    quanta = {label: len(by_id) for label, by_id in graph.quanta_by_task.items()}
    return expected, quanta


def registered(root: Path) -> set[tuple[str, str]]:
    """What the output RUN of a repository holds: (dataset type, required data ID)."""
    with Butler.from_config(str(root)) as butler:
        if OUTPUT_RUN not in set(butler.collections.query("*")):
            return set()
        refs = butler.query_all_datasets(OUTPUT_RUN, find_first=False)
        return {(ref.datasetType.name, str(dict(ref.dataId.required))) for ref in refs}


# ---------------------------------------------------------------------------
# Measuring a command: wall, CPU of everything under it, peak RSS of its tree.
# ---------------------------------------------------------------------------

#: prctl(2) option: orphaned descendants are reparented to this process, not to init.
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def reap_orphans(keep: set[int], timeout: float = 120) -> None:
    """Wait for the descendants a command left behind (reparented here), so their CPU counts."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p.pid for p in psutil.Process().children() if p.pid not in keep]
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            raise SystemExit(f"processes {left} left by a measured command still run after {timeout:.0f} s")
        time.sleep(0.05)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(argv: list[str], log_path: Path, keep: set[int], env: dict[str, str] | None = None) -> Measured:
    """Run ``argv`` to its end (output to ``log_path``); its wall, CPU and peak tree RSS."""
    cpu_before = cpu_of_children()
    with log_path.open("w") as out:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        sampler = TreeRssSampler(child.pid)
        sampler.start()
        returncode = child.wait()
        wall = time.perf_counter() - started
        sampler.stop()
    reap_orphans(keep)
    return {
        "returncode": returncode,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu_of_children() - cpu_before, 3),
        "peak_tree_rss_mb": round(sampler.peak_kb / 1024, 1),
    }


def failed(step: str, m: Measured, log_path: Path) -> str | None:
    if m["returncode"] == 0:
        return None
    tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
    return f"{step} exited {m['returncode']}; the end of {log_path}:\n" + "\n".join(tail)


# ---------------------------------------------------------------------------
# The three sides.
# ---------------------------------------------------------------------------


def run_pipetask(repo: Path, graph: Path, jobs: int, work: Path, keep: set[int]) -> Measured:
    argv = [str(BIN / "pipetask"), "--long-log", "run", "-b", str(repo), "-g", str(graph), "-j", str(jobs)]
    log_path = work / "pipetask-run.log"
    m = measure(argv, log_path, keep)
    return {**m, **parse_long_log(log_path), "error": failed("pipetask run", m, log_path)}


def run_qbb(repo: Path, graph: Path, jobs: int, work: Path, keep: set[int]) -> Measured:
    steps = {
        "pre_exec_init": [str(BIN / "pipetask"), "--long-log", "pre-exec-init-qbb", str(repo), str(graph)],
        "run_qbb": [str(BIN / "pipetask"), "--long-log", "run-qbb", str(repo), str(graph), "-j", str(jobs)],
        "transfer": [
            str(BIN / "butler"),
            "transfer-from-graph",
            str(graph),
            str(repo),
            "--register-dataset-types",
            "--update-output-chain",
            "--no-transfer-dimensions",
        ],
    }
    record: Measured = {"wall_seconds": 0.0, "cpu_seconds": 0.0, "peak_tree_rss_mb": 0.0, "error": None}
    for step, argv in steps.items():
        log_path = work / f"qbb-{step}.log"
        m = measure(argv, log_path, keep)
        record[f"{step}_wall_seconds"] = m["wall_seconds"]
        record[f"{step}_cpu_seconds"] = m["cpu_seconds"]
        record["wall_seconds"] = round(record["wall_seconds"] + m["wall_seconds"], 3)
        record["cpu_seconds"] = round(record["cpu_seconds"] + m["cpu_seconds"], 3)
        record["peak_tree_rss_mb"] = max(record["peak_tree_rss_mb"], m["peak_tree_rss_mb"])
        if step == "run_qbb":
            record.update(parse_long_log(log_path))
        record["error"] = failed(argv[1] if step != "run_qbb" else "pipetask run-qbb", m, log_path)
        if record["error"]:
            break
    record["returncode"] = 1 if record["error"] else 0
    return record


def neo4j_cpu() -> float:
    """CPU seconds the managed server has used so far (0 for a server not managed here)."""
    if connection_from_env() is not None:
        return 0.0
    pid = ManagedServer().status().pid
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def run_ours(repo: Path, graph: Path, jobs: int, work: Path, keep: set[int]) -> Measured:
    provgraph = str(BIN / "provgraph")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plan_id = f"bench-rubin-{os.getpid()}-j{jobs}"
    log_path = work / "import-qgraph.log"
    imported = measure(
        [provgraph, "import-qgraph", str(graph), "-b", str(repo), "--plan-id", plan_id], log_path, keep, env
    )
    record: Measured = {
        "import_wall_seconds": imported["wall_seconds"],
        "import_cpu_seconds": imported["cpu_seconds"],
        "error": failed("provgraph import-qgraph", imported, log_path),
    }
    if record["error"]:
        return {**record, "returncode": imported["returncode"]}
    log_path = work / "provgraph-run.log"
    server_before = neo4j_cpu()
    m = measure([provgraph, "run", "--plan", plan_id, "-j", str(jobs)], log_path, keep, env)
    record.update(m)
    record["neo4j_cpu_seconds"] = round(neo4j_cpu() - server_before, 3)
    record["error"] = failed("provgraph run --plan", m, log_path)
    with open_store() as store:
        counts = status_counts(store, plan_id)
        recorded = attempts(store, plan_id)
        record["succeeded"] = sum(c.get("succeeded", 0) for c in counts.values())
        record["in_quantum_seconds"] = round(sum(a["duration_s"] or 0 for a in recorded), 3)
        record["attempts"] = len(recorded)
        delete_plan(store, plan_id)
    return record


SIDES = {
    "pipetask": ("pipetask run", run_pipetask),
    "qbb": ("pre-exec-init-qbb + run-qbb + transfer-from-graph", run_qbb),
    "ours": ("provgraph run --plan", run_ours),
}


def per_quantum(seconds: float | None, quanta: int) -> float | None:
    return round(seconds / quanta, 4) if seconds is not None else None


def problem(
    tool: str, jobs: int, m: Measured, found: set[Any], expected: set[Any], quanta: int
) -> str | None:
    """What went wrong with one side's run, or None: the command, missing outputs, unsuccessful quanta."""
    if m.get("error"):
        return f"{tool} -j {jobs}: {m['error']}"
    if found != expected:
        return (
            f"{tool} -j {jobs}: {len(expected - found)} of {len(expected)} expected datasets missing from "
            f"{OUTPUT_RUN}, {len(found - expected)} unexpected; e.g. {sorted(expected - found)[:3]}"
        )
    if tool == "ours" and m["succeeded"] != quanta:
        return f"{tool} -j {jobs}: only {m['succeeded']} of {quanta} quanta succeeded"
    return None


def measure_side(
    tool: str, jobs: int, work: Path, pristine: Path, graph: Path, keep: set[int]
) -> tuple[Measured, set[tuple[str, str]]]:
    """One side at one ``-j`` on its own fresh copy of the repository: its record, what it registered."""
    name, run_side = SIDES[tool]
    side = work / f"{tool}-j{jobs}"
    side.mkdir()
    repo = side / "repo"
    shutil.copytree(pristine, repo)
    state = code_state()
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load1 = os.getloadavg()[0]
    log(f"{tool} -j {jobs}: {name} on {repo} (load {load1:.2f}) ...")
    m = run_side(repo, graph, jobs, side, keep)
    found = registered(repo)
    record = {**state, "when": when, "tool": name, "side": tool, "jobs": jobs, **m}
    record["loadavg_1m_before"] = round(load1, 2)
    return record, found


def make_workdir(option: Path | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    if option is None:
        tmp = tempfile.TemporaryDirectory(prefix="rubin-exec-bench-")
        return Path(tmp.name), tmp
    if option.exists() and any(option.iterdir()):
        raise SystemExit(f"--workdir {option} must be empty or absent")
    option.mkdir(parents=True, exist_ok=True)
    return option, None


def start_neo4j() -> set[int]:
    """Start the managed server if it is the one to use; its pid, never to be reaped as an orphan."""
    with open_store(say=log):
        pass
    if connection_from_env() is None and (pid := ManagedServer().status().pid):
        return {pid}
    return set()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, help="visits (default: from --quanta)")
    parser.add_argument("--detectors", type=int, help="detectors per visit (default: from --quanta)")
    parser.add_argument("--quanta", type=int, default=200, help="total quanta, two tasks (default 200)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="-j values (default 1 2)")
    parser.add_argument("--tools", default="pipetask,qbb,ours", help="comma-separated: pipetask, qbb, ours")
    parser.add_argument("--workdir", type=Path, help="keep repositories, graph and logs here")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.tools = [t.strip() for t in args.tools.split(",")]
    if unknown := [t for t in args.tools if t not in SIDES]:
        raise SystemExit(f"--tools: unknown {', '.join(unknown)}; choose from {', '.join(SIDES)}")
    if not (args.visits and args.detectors):
        args.visits, args.detectors = choose_shape(args.quanta, len(TASKS))
    return args


def main() -> None:
    args = parse_args()
    work, tmp = make_workdir(args.workdir)
    keep = start_neo4j() if "ours" in args.tools else set()
    become_subreaper()

    pipeline = work / "pipeline.yaml"
    pipeline.write_text(PIPELINE)
    pristine = work / "pristine"
    started = time.perf_counter()
    inputs = make_repo(pristine, pipeline, args.visits, args.detectors)
    setup_seconds = time.perf_counter() - started
    graph = work / "graph.qg"
    graph_seconds = build_graph(pristine, pipeline, graph)
    expected, by_task = predicted(graph)
    quanta = sum(by_task.values())
    log(
        f"{args.visits} visits x {args.detectors} detectors: {inputs} raws, {quanta} quanta {by_task}, "
        f"{len(expected)} datasets expected in {OUTPUT_RUN}; repo {setup_seconds:.1f} s, "
        f"graph {graph_seconds:.1f} s"
    )
    common = {
        "benchmark": "rubin_execution",
        "machine": machine(),
        "versions": {
            name: importlib.metadata.version(name)
            for name in ("provenance-graph", "lsst-ctrl-mpexec", "lsst-pipe-base", "lsst-daf-butler")
        },
        "visits": args.visits,
        "detectors": args.detectors,
        "tasks": len(TASKS),
        "quanta": quanta,
        "expected_datasets": len(expected),
        "setup_seconds": round(setup_seconds, 3),
        "graph_build_seconds": round(graph_seconds, 3),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    for jobs in args.jobs:
        for tool in args.tools:
            m, found = measure_side(tool, jobs, work, pristine, graph, keep)
            record = {
                **common,
                **m,
                "seconds_per_quantum": per_quantum(m.get("wall_seconds"), quanta),
                "cpu_seconds_per_quantum": per_quantum(m.get("cpu_seconds"), quanta),
                "in_quantum_seconds_per_quantum": per_quantum(m.get("in_quantum_seconds"), quanta),
                "registered": len(found & expected),
                "unexpected": len(found - expected),
                "complete": found == expected,
            }
            with args.results.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            if wrong := problem(tool, jobs, m, found, expected, quanta):
                problems.append(wrong)
                log(f"  FAILED: {wrong}")
            if "wall_seconds" in m:
                log(
                    f"  {m['wall_seconds']:.1f} s wall, {m['cpu_seconds']:.1f} s CPU, "
                    f"{record['seconds_per_quantum']:.4f} s and {record['cpu_seconds_per_quantum']:.4f} "
                    f"CPU-s per quantum, peak tree RSS {m['peak_tree_rss_mb']:.0f} MB; "
                    f"{record['registered']}/{len(expected)} datasets registered"
                )
            if args.workdir is None:
                shutil.rmtree(work / f"{tool}-j{jobs}" / "repo")
    if tmp is not None:
        tmp.cleanup()
    print(f"results appended to {args.results}")
    if problems:
        raise SystemExit("FAILED:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
