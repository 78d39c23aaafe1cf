"""Pre-flight benchmark: plan-building wall and CPU time and peak memory, ours against lsst-pipe-base.

For each size, and each repetition, runs in fresh subprocesses, one after the other:

- ours (`benchmarks/preflight_ours.py`): create a demo repository (registry only,
  no pixels; timed as setup), then, in a new process, open it and time
  `preflight()` of the twelve-task demo DRP pipeline, then `save_plan`;
- lsst-pipe-base (`benchmarks/lsst_qgraph_build.py`, run by ``--lsst-python``):
  populate an in-memory mock butler with the same DRP shape (timed as setup),
  then time `AllDimensionsQuantumGraphBuilder.finish()`, then the ``.qg`` write.

Sizes are chosen so that both sides plan about the same number of quanta:

    small   ~1k quanta     medium  ~10k quanta     large  ~100k quanta     xlarge  ~1M quanta

    .venv/bin/python benchmarks/preflight.py --sizes small,medium --repeat 3
    .venv/bin/python benchmarks/preflight.py --sizes large --lsst-python /path/to/venv/bin/python
    .venv/bin/python benchmarks/preflight.py --sizes small,medium,large --tools ours

One JSON line per measurement is appended to benchmarks/results/preflight.jsonl;
a table of medians is printed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "preflight.jsonl"
OURS = "provenance-graph"
LSST = "lsst-pipe-base"


@dataclass(frozen=True)
class Shape:
    visits: int
    detectors: int
    tracts: int

    def __str__(self) -> str:
        return f"{self.visits}x{self.detectors}x{self.tracts}"


@dataclass(frozen=True)
class Size:
    name: str
    ours: Shape
    lsst: Shape


# Both sides plan the same shape (visits x detectors x tracts, 4 x 4 patches a tract) on skies of the same
# proportions: a visit's focal plane is half a tract's side and lies inside one tract, dithered the same
# way (pipe_base: a 1 degree focal plane on 2 degree tracts; ours, provenance_graph/demo/geometry.py:
# ceil(sqrt(D)) detectors of 32 px on tracts twice that). Totals differ by under 1.5%: ours
# 1,003 / 10,433 / 101,698 quanta against pipe_base's 1,017 / 10,491 / 101,847. Per task they agree but
# for makeWarp (84 / 327 / 864 against 96 / 385 / 1,013) and assembleCoadd and detection (41 against 42
# at small): pipe_base's sky regions are closed, so a focal plane whose edge lies on a patch boundary
# also "overlaps" the patch beyond it; ours count only shared pixels.
SIZES = {
    "small": Size("small", ours=Shape(10, 16, 1), lsst=Shape(10, 16, 1)),
    "medium": Size("medium", ours=Shape(40, 49, 2), lsst=Shape(40, 49, 2)),
    "large": Size("large", ours=Shape(106, 189, 4), lsst=Shape(106, 189, 4)),
    # ~1M quanta (ten times large). Not in the defaults: it takes a long time.
    "xlarge": Size("xlarge", ours=Shape(1060, 189, 4), lsst=Shape(1060, 189, 4)),
}


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_state() -> dict[str, Any]:
    """The commit, and whether (and how) provenance_graph/ differs from it, right now.

    Read before every measurement: the code may be committed or edited while a long run goes on.
    """
    state: dict[str, Any] = {"commit": git("rev-parse", "--short", "HEAD")}
    diff = git("diff", "HEAD", "--", "provenance_graph")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "provenance_graph")
    state["dirty"] = bool(diff or untracked)
    if state["dirty"]:
        state["diff_sha256"] = hashlib.sha256((diff + untracked).encode()).hexdigest()[:12]
    return state


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")
        )
        meminfo = Path("/proc/meminfo").read_text().split()
        info["memory_gb"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024**2, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return info


def run_json(command: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run ``command``, return the JSON object on the last line of its stdout."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit code {done.returncode}:\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def lsst_python(option: str | None, console: Console) -> str | None:
    """The Python to run the pipe_base side with, or None (with a message) to skip it."""
    if option:
        check = subprocess.run(
            [option, "-c", "import lsst.pipe.base"], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            sys.exit(f"--lsst-python {option} cannot import lsst.pipe.base:\n{check.stderr[-2000:]}")
        return option
    try:
        found = importlib.util.find_spec("lsst.pipe.base") is not None
    except ImportError:  # no "lsst" namespace at all
        found = False
    if found:
        return sys.executable
    console.print(
        "[yellow]lsst-pipe-base is not importable by this Python; skipping the pipe_base column. "
        "Pass --lsst-python PATH (a Python with lsst-pipe-base installed) to include it.[/yellow]"
    )
    return None


def measure_ours(shape: Shape, workdir: Path, write: bool, timeout: float) -> dict[str, Any]:
    repo = workdir / f"repo-{shape}-{time.monotonic_ns()}"
    script = str(HERE / "preflight_ours.py")
    common = ["--repo", str(repo), "--visits", str(shape.visits)]
    created = run_json(
        [
            sys.executable,
            script,
            "--create",
            *common,
            "--detectors",
            str(shape.detectors),
            "--tracts",
            str(shape.tracts),
        ],
        timeout,
    )
    load = os.getloadavg()[0]
    command = [sys.executable, script, *common]
    if write:
        command += ["--plan-file", str(workdir / "plan.json.gz")]
    record = run_json(command, timeout)
    record["setup_seconds"] = created["setup_seconds"]
    record["setup_peak_rss_mb"] = created["setup_peak_rss_mb"]
    record["load_1m_before"] = round(load, 2)
    return record


def measure_lsst(python: str, shape: Shape, workdir: Path, write: bool, timeout: float) -> dict[str, Any]:
    command = [
        python, str(HERE / "lsst_qgraph_build.py"),
        "--visits", str(shape.visits), "--detectors", str(shape.detectors), "--tracts", str(shape.tracts),
    ]  # fmt: skip
    if write:
        command += ["--write", str(workdir / "graph.qg")]
    load = os.getloadavg()[0]
    record = run_json(command, timeout)
    record["load_1m_before"] = round(load, 2)
    return record


def summarize(records: list[dict[str, Any]], console: Console) -> None:
    table = Table(
        title="Pre-flight: median of runs (build = plan building only; setup and write separate)",
        caption="speed-up = pipe_base build s / ours; memory ratio = pipe_base peak RSS / ours",
    )
    for column in ("size", "tool", "VxDxT", "quanta", "datasets", "runs", "build s", "build CPU s", "peak RSS MB",
                   "setup s", "write s", "speed-up", "memory ratio"):  # fmt: skip
        table.add_column(column, justify="left" if column in {"size", "tool", "VxDxT"} else "right")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["size"], record["tool"]), []).append(record)

    def median(rows: list[dict[str, Any]], key: str) -> float | None:
        values = [row[key] for row in rows if key in row]
        return statistics.median(values) if values else None

    def fmt(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    for size in SIZES:
        ours, theirs = groups.get((size, OURS)), groups.get((size, LSST))
        for tool, rows in ((OURS, ours), (LSST, theirs)):
            if not rows:
                continue
            ratio_time = ratio_memory = ""
            if tool == LSST and ours:
                ours_build, their_build = median(ours, "build_seconds"), median(rows, "build_seconds")
                ours_rss, their_rss = median(ours, "peak_rss_mb"), median(rows, "peak_rss_mb")
                if ours_build and their_build and ours_rss and their_rss:
                    ratio_time = f"{their_build / ours_build:.1f}x"
                    ratio_memory = f"{their_rss / ours_rss:.1f}x"
            first = rows[0]
            table.add_row(
                size,
                tool,
                f"{first['visits']}x{first['detectors']}x{first['tracts']}",
                f"{first['quanta']:,}",
                f"{first['datasets']:,}",
                str(len(rows)),
                fmt(median(rows, "build_seconds")),
                fmt(median(rows, "build_cpu_seconds")),
                fmt(median(rows, "peak_rss_mb"), 0),
                fmt(median(rows, "setup_seconds")),
                fmt(median(rows, "write_seconds")),
                ratio_time,
                ratio_memory,
            )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="small,medium", help="comma-separated: small, medium, large, xlarge"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measurements per size and tool")
    parser.add_argument("--tools", default="ours,lsst", help="comma-separated: ours, lsst")
    parser.add_argument(
        "--lsst-python",
        help="a Python with lsst-pipe-base installed (default: this one, if it can import lsst.pipe.base)",
    )
    parser.add_argument("--no-write", action="store_true", help="skip writing the plan / graph files")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON-lines file to append to")
    args = parser.parse_args()
    console = Console() if sys.stdout.isatty() else Console(width=150)

    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    tools = {t.strip() for t in args.tools.split(",") if t.strip()}
    if unknown := [s for s in sizes if s not in SIZES]:
        parser.error(f"unknown size(s) {unknown}; choose from {', '.join(SIZES)}")
    if unknown := sorted(tools - {"ours", "lsst"}):
        parser.error(f"unknown tool(s) {unknown}; choose from ours, lsst")
    python = lsst_python(args.lsst_python, console) if "lsst" in tools else None

    common = {"benchmark": "preflight", "machine": machine()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp:
        workdir = Path(tmp)
        for name in sizes:
            size = SIZES[name]
            for run in range(1, args.repeat + 1):
                jobs: list[tuple[str, Shape]] = []
                if "ours" in tools:
                    jobs.append((OURS, size.ours))
                if python:
                    jobs.append((LSST, size.lsst))
                for tool, shape in jobs:
                    console.print(f"{name} run {run}/{args.repeat}: {tool} {shape} ...", end=" ")
                    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                    state = code_state()
                    if tool == OURS:
                        measured = measure_ours(shape, workdir, not args.no_write, args.timeout)
                    else:
                        assert python is not None
                        measured = measure_lsst(python, shape, workdir, not args.no_write, args.timeout)
                    record = {
                        **common,
                        **state,
                        "when": when,
                        "size": name,
                        "run": run,
                        "visits": shape.visits,
                        "detectors": shape.detectors,
                        "tracts": shape.tracts,
                        **measured,
                    }
                    records.append(record)
                    with args.results.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    console.print(
                        f"{record['quanta']:,} quanta in {record['build_seconds']:.2f} s, "
                        f"peak {record['peak_rss_mb']:,.0f} MB"
                    )
    summarize(records, console)
    states = sorted({(r["commit"], r["dirty"]) for r in records})
    described = ", ".join(f"{commit}{' + uncommitted changes' if dirty else ''}" for commit, dirty in states)
    console.print(f"code: {described}; results appended to {args.results}")


if __name__ == "__main__":
    main()
