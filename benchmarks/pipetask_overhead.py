"""Measure the per-quantum execution overhead of Rubin's ``pipetask run``.

Standalone: needs a Python environment with ``lsst-pipe-base`` and
``lsst-ctrl-mpexec`` installed (the ``pipetask`` console script is taken from
the same environment as the interpreter running this file), and uses only
their public API plus the standard library. Linux only (/proc, GNU time).

    python pipetask_overhead.py --quanta 50 --jobs 1 2
    python pipetask_overhead.py --quanta 1000 --tasks 2 --jobs 1 --baseline --workdir /tmp/ptb

What it does:

1. *setup* (in this process, not measured): ``Butler.makeRepo`` creates a real
   on-disk repository (SQLite registry + file datastore) in a temporary
   directory. Dimension records for one instrument, V visits and D detectors
   are inserted, a chain of T cheap no-op mock tasks
   (``lsst.pipe.base.tests.mocks.DynamicTestPipelineTask``) is defined over
   (instrument, visit, detector), and one mock input dataset per
   (visit, detector) is written through the butler, so that execution really
   reads its inputs from disk. Quanta = T * V * D; with T > 1 every quantum
   of task k+1 depends on one quantum of task k.
2. *graph* (not measured; its time is reported as ``graph_build_seconds``):
   for each measurement, a QuantumGraph with its own output RUN collection is
   built with ``AllDimensionsQuantumGraphBuilder`` and written to a ``.qg``
   file.
3. *run* (measured): ``pipetask --long-log run -b REPO -g GRAPH.qg
   --output-run RUN -j N`` in a subprocess, under ``/usr/bin/time -v``.
   ``wall_seconds`` covers the whole command (interpreter start-up, imports,
   loading the graph, init-output/config/packages writes, execution).
   ``cpu_seconds`` is user+sys of pipetask and every worker it waited for.
   ``peak_rss_mb`` is the largest single process; ``peak_tree_rss_mb`` is the
   summed RSS of the whole process tree, sampled from /proc every 0.5 s
   (matters for ``-j > 1``, where pipetask spawns a fresh Python process per
   quantum next to the parent that holds the graph).
   From the timestamps of the long-format log: ``execution_seconds`` (first
   quantum start to last "Executed N quanta" line, so without start-up and
   init writes) and ``in_quantum_seconds_per_quantum`` (the time
   SingleQuantumExecutor reports per quantum, i.e. without process start-up).
4. *verify*: after the run, the butler is queried for each task's
   ``<label>_metadata`` dataset (written only when a quantum succeeds) and
   its regular output in the output run; ``succeeded`` is the metadata count.

With ``--baseline`` a ``pipetask run --init-only`` on an equally sized graph is
measured first: everything but quantum execution. ``(wall - baseline) /
quanta`` is reported as ``marginal_seconds_per_quantum`` (likewise for CPU).

Output: one JSON line per measurement on stdout; progress on stderr. Keep the
machine otherwise idle (``loadavg_1m_before`` is recorded to spot noise).
Caveat: with ``--pipetask-arg=--start-method=forkserver`` the workers are
children of the fork server, which pipetask never waits for, so their CPU time
is invisible to GNU time; cpu fields are then reported as null.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from lsst.daf.butler import Butler, MissingCollectionError
from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
from lsst.pipe.base.pipeline_graph import PipelineGraph

# Importing the mocks package also teaches daf_butler about the mock storage
# classes ("_mock_<StorageClass>") and gives them a JSON formatter; pipetask's
# processes get the same effect when they import the mock task class.
from lsst.pipe.base.tests.mocks import DirectButlerRepo, DynamicConnectionConfig
from measure_tree import TreeRssSampler, choose_shape

INSTRUMENT = "BenchCam"
DIMENSIONS = ("instrument", "visit", "detector")
INPUT_RUN = "bench/input"
INPUT_CHAIN = "bench/inputs"


def log(message: str) -> None:
    print(f"[pipetask_overhead] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Setup: repository, dimension records, pipeline, input datasets.
# ---------------------------------------------------------------------------


def insert_dimension_records(butler: Butler, visits: int, detectors: int) -> None:
    """The minimum the default dimension universe needs for (instrument, visit, detector)."""
    registry = butler.registry
    registry.insertDimensionData(
        "instrument",
        {
            "name": INSTRUMENT,
            "visit_max": 10**6,
            "exposure_max": 10**6,
            "detector_max": 1000,
            "class_name": "not.a.real.Instrument",  # never imported by this pipeline
        },
    )
    registry.insertDimensionData(
        "physical_filter", {"instrument": INSTRUMENT, "name": f"{INSTRUMENT}-r", "band": "r"}
    )
    registry.insertDimensionData("day_obs", {"instrument": INSTRUMENT, "id": 20250101})
    registry.insertDimensionData(
        "detector",
        *[{"instrument": INSTRUMENT, "id": d, "full_name": f"D{d:03d}"} for d in range(detectors)],
    )
    registry.insertDimensionData(
        "visit",
        *[
            {
                "instrument": INSTRUMENT,
                "id": 1000 + v,
                "name": f"v{1000 + v}",
                "day_obs": 20250101,
                "physical_filter": f"{INSTRUMENT}-r",
            }
            for v in range(visits)
        ],
    )
    # The graph builder expands data IDs with every element's record, so the
    # (visit, detector) join rows must exist even though this pipeline does no
    # spatial matching (their sky regions can stay empty).
    registry.insertDimensionData(
        "visit_detector_region",
        *[
            {"instrument": INSTRUMENT, "visit": 1000 + v, "detector": d}
            for v in range(visits)
            for d in range(detectors)
        ],
    )


def add_tasks(repo: DirectButlerRepo, tasks: int) -> list[str]:
    """A chain bench_t1 -> bench_t2 -> ... of one-input, one-output mock tasks."""
    labels = []
    for k in range(1, tasks + 1):
        label = f"bench_t{k}"
        repo.add_task(
            label,
            dimensions=DIMENSIONS,
            inputs={
                "input": DynamicConnectionConfig(dataset_type_name=f"bench_d{k - 1}", dimensions=DIMENSIONS)
            },
            outputs={
                "output": DynamicConnectionConfig(dataset_type_name=f"bench_d{k}", dimensions=DIMENSIONS)
            },
        )
        labels.append(label)
    return labels


def mock_repo(butler: Butler, visits: int, detectors: int) -> DirectButlerRepo:
    """pipe_base's mock-repository helper on a new ``butler``, with V visits x D detectors of BenchCam.

    Also used by `rubin_execution.py`.
    """
    # data_root=None: no YAML import files; DirectButlerRepo creates the
    # input RUN and CHAINED collections.
    repo = DirectButlerRepo(
        butler,
        input_run=INPUT_RUN,
        input_chain=INPUT_CHAIN,
        use_import_collections_as_input=False,
        data_root=None,
    )
    insert_dimension_records(butler, visits, detectors)
    return repo


def make_repo(root: Path, visits: int, detectors: int, tasks: int) -> tuple[PipelineGraph, list[str]]:
    """Create and populate the repository at ``root``; return the pipeline graph and task labels."""
    config = Butler.makeRepo(str(root))
    with Butler.from_config(config, writeable=True) as butler:
        repo = mock_repo(butler, visits, detectors)
        labels = add_tasks(repo, tasks)
        # Writes one MockDataset file per (visit, detector) through butler.put.
        # limit=None: the data-ID query otherwise stops at its default limit.
        refs = repo.insert_datasets("bench_d0", limit=None)
        log(f"inserted {len(refs)} input datasets")
        # Register every output, config, metadata, log and "packages" dataset
        # type up front, so `pipetask run` needs no --register-dataset-types.
        repo.pipeline_graph.register_dataset_types(butler, include_packages=True)
    return repo.pipeline_graph, labels


def build_graph(root: Path, pipeline_graph: PipelineGraph, output_run: str, path: Path) -> float:
    """Build a QuantumGraph writing into ``output_run``, save it to ``path``; return seconds taken."""
    start = time.perf_counter()
    with Butler.from_config(str(root)) as butler:
        builder = AllDimensionsQuantumGraphBuilder(
            pipeline_graph,
            butler,
            where=f"instrument = '{INSTRUMENT}'",
            input_collections=[INPUT_CHAIN],
            output_run=output_run,
        )
        # Datastore records only matter for quantum-backed butlers (run-qbb).
        components = builder.finish(attach_datastore_records=False)
        components.write(str(path))
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# Measuring a subprocess: wall time, peak RSS.
# ---------------------------------------------------------------------------


def run_measured(argv: list[str], log_path: Path) -> dict:
    """Run ``argv``, return wall time, exit code and peak RSS figures."""
    time_bin = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    time_out = log_path.with_suffix(".time")
    full = [time_bin, "-v", "-o", str(time_out), *argv] if time_bin else argv
    with open(log_path, "w") as logf:
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=logf, stderr=subprocess.STDOUT)
        sampler = TreeRssSampler(proc.pid)
        sampler.start()
        returncode = proc.wait()
        wall = time.perf_counter() - start
        sampler.stop()
    peak_kb = cpu = None
    if time_bin and time_out.exists():
        # GNU time reports the rusage of the command and of all descendants it
        # waited for: CPU times are summed, the max RSS is that of the largest
        # single process.
        fields = dict(
            line.strip().rsplit(": ", 1) for line in time_out.read_text().splitlines() if ": " in line
        )
        peak_kb = int(fields["Maximum resident set size (kbytes)"])
        cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
        if "Command exited with non-zero status" in fields:
            returncode = int(fields["Command exited with non-zero status"])
    else:  # fallback: running maximum over every child this script has waited for
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "returncode": returncode,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3) if cpu is not None else None,
        "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
        "peak_tree_rss_mb": round(sampler.peak_kb / 1024, 1),
    }


def parse_long_log(log_path: Path) -> dict:
    """Timings from a ``pipetask --long-log`` log (lines start with ``LEVEL ISO-TIMESTAMP``).

    ``execution_seconds`` runs from the first "Preparing execution of quantum"
    line to the last "Executed N quanta" line, i.e. it excludes interpreter
    start-up, graph loading and init-output writes (with ``-j > 1`` it also
    misses the start-up of the very first worker process).
    ``in_quantum_seconds`` sums what SingleQuantumExecutor reports per quantum
    ("... took X seconds": input checks, task construction, runQuantum, output
    and metadata writes; not log writing or process start-up).
    """
    first = last = None
    in_quantum = 0.0
    with open(log_path, errors="replace") as f:
        for line in f:
            parts = line.split(" ", 2)
            if len(parts) < 3 or not parts[1][:4].isdigit():
                continue
            if "Preparing execution of quantum" in line and first is None:
                first = parts[1]
            elif " quanta successfully, " in line:
                last = parts[1]
            elif line.rstrip().endswith(" seconds") and " took " in line:
                in_quantum += float(line.rsplit(" took ", 1)[1].split()[0])
    out: dict = {"in_quantum_seconds": round(in_quantum, 3)}
    if first and last:
        span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
        out["execution_seconds"] = round(span.total_seconds(), 3)
    return out


# ---------------------------------------------------------------------------
# Verification.
# ---------------------------------------------------------------------------


def count_outputs(root: Path, output_run: str, labels: list[str]) -> tuple[int, int]:
    """Return (succeeded quanta, regular outputs) found in ``output_run``."""
    succeeded = outputs = 0
    with Butler.from_config(str(root)) as butler:
        try:
            butler.collections.get_info(output_run)
        except MissingCollectionError:  # pipetask failed before creating the run
            return 0, 0
        for k, label in enumerate(labels, start=1):
            kwargs = {"collections": [output_run], "limit": None, "explain": False}
            succeeded += len(butler.query_datasets(f"{label}_metadata", **kwargs))
            outputs += len(butler.query_datasets(f"bench_d{k}", **kwargs))
    return succeeded, outputs


# ---------------------------------------------------------------------------


def per_quantum(seconds: float | None, quanta: int) -> float | None:
    return round(seconds / quanta, 4) if quanta and seconds is not None else None


def run_plan(
    args: argparse.Namespace,
    plan: list[tuple[str, int]],
    root: Path,
    work: Path,
    pipeline_graph: PipelineGraph,
    labels: list[str],
    pipetask: str,
    version: str,
    setup_seconds: float,
) -> int:
    """Build a graph and run pipetask for each (mode, jobs); print one JSON line each; return failures."""
    baseline: dict | None = None
    failures = 0
    for mode, jobs in plan:
        name = f"{mode}-j{jobs}"
        output_run = f"bench/out/{name}"
        graph = work / f"{name}.qg"
        build_seconds = build_graph(root, pipeline_graph, output_run, graph)
        argv = [pipetask, "--long-log", "run", "-b", str(root), "-g", str(graph), "--output-run", output_run]
        argv += ["--init-only"] if mode == "init-only" else ["-j", str(jobs)]
        argv += args.pipetask_arg
        log(f"{name}: graph built in {build_seconds:.1f} s; running {' '.join(argv[1:])}")
        load1 = os.getloadavg()[0]
        m = run_measured(argv, work / f"{name}.log")
        if any("forkserver" in a for a in args.pipetask_arg):
            m["cpu_seconds"] = None  # see the module docstring
        succeeded, outputs = count_outputs(root, output_run, labels)
        timings = parse_long_log(work / f"{name}.log")
        quanta = args.quanta if mode == "run" else 0
        record = {
            "tool": "pipetask run" + (" --init-only" if mode == "init-only" else ""),
            "version": version,
            "jobs": jobs,
            "quanta": quanta,
            "tasks": args.tasks,
            "wall_seconds": m["wall_seconds"],
            "seconds_per_quantum": per_quantum(m["wall_seconds"], quanta),
            "execution_seconds": timings.get("execution_seconds"),
            "execution_seconds_per_quantum": per_quantum(timings.get("execution_seconds"), quanta),
            "in_quantum_seconds_per_quantum": per_quantum(timings["in_quantum_seconds"], quanta),
            "cpu_seconds": m["cpu_seconds"],
            "cpu_seconds_per_quantum": per_quantum(m["cpu_seconds"], quanta),
            "peak_rss_mb": m["peak_rss_mb"],
            "peak_tree_rss_mb": m["peak_tree_rss_mb"],
            "succeeded": succeeded,
            "outputs": outputs,
            "returncode": m["returncode"],
            "graph_build_seconds": round(build_seconds, 3),
            "setup_seconds": round(setup_seconds, 3),
            "loadavg_1m_before": round(load1, 2),
        }
        if mode == "init-only":
            baseline = m
        elif baseline is not None:
            # Marginal cost: subtract everything that does not scale with quanta.
            record["baseline_wall_seconds"] = baseline["wall_seconds"]
            record["marginal_seconds_per_quantum"] = per_quantum(
                m["wall_seconds"] - baseline["wall_seconds"], quanta
            )
            if m["cpu_seconds"] is not None and baseline["cpu_seconds"] is not None:
                record["marginal_cpu_seconds_per_quantum"] = per_quantum(
                    m["cpu_seconds"] - baseline["cpu_seconds"], quanta
                )
        print(json.dumps(record), flush=True)
        if m["returncode"] != 0 or succeeded != quanta:
            failures += 1
            log(f"FAILED: {name} exit {m['returncode']}, {succeeded}/{quanta} quanta succeeded")
            log(f"see {work / (name + '.log')}" + ("" if args.workdir else " (add --workdir to keep it)"))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quanta", type=int, default=50, help="total quanta per graph (default 50)")
    parser.add_argument("--tasks", type=int, default=2, help="length of the task chain (default 2)")
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=[1, 2], help="pipetask -j values (default 1 2)"
    )
    parser.add_argument("--baseline", action="store_true", help="also measure `pipetask run --init-only`")
    parser.add_argument("--workdir", type=Path, default=None, help="keep repo, graphs and logs here")
    parser.add_argument("--pipetask", default=None, help="pipetask executable (default: next to python)")
    parser.add_argument(
        "--pipetask-arg", action="append", default=[], help="extra argument for `pipetask run` (repeatable)"
    )
    args = parser.parse_args()

    pipetask = args.pipetask or str(Path(sys.executable).parent / "pipetask")
    if not os.path.exists(pipetask):
        pipetask = shutil.which("pipetask") or sys.exit("pipetask not found; install lsst-ctrl-mpexec")
    version = importlib.metadata.version("lsst-ctrl-mpexec")
    visits, detectors = choose_shape(args.quanta, args.tasks)

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="pipetask-bench-")
        work = Path(tmp.name)
    else:
        work = args.workdir
        if work.exists() and any(work.iterdir()):
            sys.exit(f"--workdir {work} must be empty or absent")
        work.mkdir(parents=True, exist_ok=True)
    root = work / "repo"

    t0 = time.perf_counter()
    pipeline_graph, labels = make_repo(root, visits, detectors, args.tasks)
    setup_seconds = time.perf_counter() - t0
    shape = f"{args.tasks} tasks x {visits} visits x {detectors} detectors"
    log(f"repo {root}: {shape}, setup {setup_seconds:.1f} s")

    plan: list[tuple[str, int]] = ([("init-only", 0)] if args.baseline else []) + [
        ("run", j) for j in args.jobs
    ]
    failures = run_plan(args, plan, root, work, pipeline_graph, labels, pipetask, version, setup_seconds)
    if tmp is not None:
        tmp.cleanup()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
