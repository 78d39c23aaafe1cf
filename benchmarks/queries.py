"""Provenance query latency: a plan stored in Neo4j, beside lsst-pipe-base answering from memory.

    .venv/bin/python benchmarks/queries.py --visits 106 --detectors 189 --tracts 4 --lsst   # ~100k quanta
    .venv/bin/python benchmarks/queries.py --visits 1060 --detectors 189 --tracts 4         # ~1M quanta
    .venv/bin/python benchmarks/queries.py --plan-id PLAN                                   # stored already

Ours: unless ``--plan-id`` names a stored plan, the demo repository of that shape
is made (registry only, `benchmarks/preflight_ours.py --create`) and the demo DRP
pipeline is planned and stored by the real command, ``provgraph plan ... --plan-id
bench-queries-VxDxT --replace``, in a subprocess (timed, reported as
``plan_and_store_seconds``). This process then asks, on starts sampled with
``--seed`` from the stored plan, through `provenance_graph.store.provenance`:

- ``upstream_coadd``: the whole upstream lineage of a ``deepCoadd`` (``--repeat-full``
  starts); ``upstream_coadd_depth2``: the same to 2 quanta; ``upstream_coadd_stop_calexp``:
  the same, not walking past ``calexp`` (what built this coadd, down to the calibrated
  exposures);
- ``downstream_raw``: the whole impact of a ``raw`` (``--repeat-full``); ``downstream_raw_depth2``;
- ``*_summary``: the whole lineage or impact in counts, computed in the server (`lineage_summary`);
- ``parents_children``: both neighbour lists of a random quantum (`dependencies`, one query);
- ``subgraph``: the isr quanta of the first exposures (by id), about 10k quanta, with their
  external inputs, as the `PlanGraph` an Activator runs (``subgraph``), and the two
  queries alone, records received but no objects built (``subgraph_queries_only``);
- ``cold_cli_*``: a fresh ``provgraph query lineage ID --json`` process, start to exit.

Each reports n, p50/p95/max in ms, and answer sizes of the first starts.

pipe_base (``--lsst``): the same shape is built with lsst-pipe-base's mock tasks
(`benchmarks/lsst_qgraph_build.py --write`), and `benchmarks/lsst_qgraph_query.py`
loads the ``.qg`` in a fresh process and answers the same kinds of question from
memory (networkx), on its own seeded starts: the two graphs have the same shape,
not the same ids. Its ``load_seconds`` is a whole load into networkx, which one answer
does not need: for the first answer from a cold process, compare with pipe_base's own
partial reader (`benchmarks/cold_cli.py`).

One JSON line per run goes to ``results/queries.jsonl``; a summary table is printed.
The stored plan is kept (delete it with ``provgraph plans delete``). A dataset read by
several plans is one node, and impact crosses plans: the demo repositories of all
shapes share their raws, so measure one shape at a time, on a database holding no
other plan of this benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cold_cli import managed_server_pid, server_cpu
from preflight import ROOT, code_state, machine, run_json
from preflight_ours import where_clause
from rich.console import Console
from rich.table import Table

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.store import GraphStore, open_store
from provenance_graph.store.plan_questions import subgraph
from provenance_graph.store.provenance import dependencies, downstream, lineage_summary, upstream

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "queries.jsonl"
PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))


def sample(store: GraphStore, plan_id: str, cypher: str, n: int, seed: int) -> list[str]:
    """Up to ``n`` ids chosen at random (seeded) from what ``cypher`` returns (sorted first)."""
    with store.session() as session:
        ids = sorted(r["id"] for r in session.run(cypher, plan_id=plan_id))
    random.Random(seed).shuffle(ids)
    return ids[:n]


def cpu_now() -> float:
    """CPU seconds of this process and of its children waited for (a cold CLI's process)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def timed(
    server_pid: int | None,
    fn: Callable[[str], Any],
    starts: Sequence[str],
    sizes: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Time ``fn`` on each start: p50/p95/max in ms, client and server CPU ms per answer
    (means), the 1-minute load before, and the answer sizes of the first five."""
    seconds: list[float] = []
    answers: list[Any] = []
    load, client_before, server_before = os.getloadavg()[0], cpu_now(), server_cpu(server_pid)
    for start in starts:
        began = time.perf_counter()
        answer = fn(start)
        seconds.append(time.perf_counter() - began)
        if sizes is not None and len(answers) < 5:
            answers.append(sizes(answer))
    ordered = sorted(seconds)
    out: dict[str, Any] = {
        "n": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "client_cpu_ms": round((cpu_now() - client_before) * 1000 / len(seconds), 2),
        "server_cpu_ms": round((server_cpu(server_pid) - server_before) * 1000 / len(seconds), 2)
        if server_pid
        else None,
        "load_1min": round(load, 2),
    }
    if answers:
        out["sizes"] = answers
    return out


def lineage_size(answer: Any) -> dict[str, int]:
    return {"quanta": len(answer.quanta), "datasets": len(answer.datasets)}


def store_plan(args: argparse.Namespace, workdir: Path, plan_id: str) -> dict[str, Any]:
    """Make the demo repository and plan and store the pipeline with the real command."""
    repo = workdir / f"repo-{args.visits}x{args.detectors}x{args.tracts}"
    created = {"setup_seconds": None}  # made by an earlier run with this --workdir
    if not repo.exists():
        created = run_json(
            [
                sys.executable, str(HERE / "preflight_ours.py"), "--create", "--repo", str(repo),
                "--visits", str(args.visits), "--detectors", str(args.detectors), "--tracts", str(args.tracts),
            ],
            timeout=7200,
        )  # fmt: skip
    began = time.perf_counter()
    subprocess.run(
        [
            PROVGRAPH, "plan", str(demo_pipeline_path()), "--repo", str(repo),
            "--where", where_clause(args.visits), "--output-run", f"bench/queries/{plan_id}",
            "--plan-id", plan_id, "--replace",
        ],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return {
        "setup_seconds": created["setup_seconds"],
        "plan_and_store_seconds": round(time.perf_counter() - began, 1),
    }


def measure_ours(
    store: GraphStore, plan_id: str, args: argparse.Namespace, server_pid: int | None
) -> dict[str, Any]:
    record: dict[str, Any] = {}
    coadds = sample(
        store, plan_id,
        "MATCH (:Quantum {plan_id: $plan_id, task: 'assembleCoadd'})-[:PRODUCES]->(d) RETURN d.id AS id",
        args.repeat, args.seed,
    )  # fmt: skip
    raws = sample(
        store, plan_id,
        "MATCH (:Quantum {plan_id: $plan_id, task: 'isr'})-[:CONSUMES]->(d:Dataset {dataset_type: 'raw'}) "
        "RETURN d.id AS id",
        args.repeat, args.seed,
    )  # fmt: skip
    quanta = sample(
        store, plan_id, "MATCH (q:Quantum {plan_id: $plan_id}) RETURN q.id AS id", args.repeat, args.seed
    )
    with store.session() as session:
        counts = session.run(
            "MATCH (q:Quantum {plan_id: $plan_id}) RETURN count(q) AS n, count(CASE q.task WHEN 'isr' THEN 1 END) AS isr",
            plan_id=plan_id,
        ).single()
        record["quanta"], record["quanta_isr"] = counts["n"], counts["isr"]  # type: ignore[index]
    full = args.repeat_full
    record["upstream_coadd"] = timed(server_pid, lambda d: upstream(store, d), coadds[:full], lineage_size)
    record["upstream_coadd_depth2"] = timed(
        server_pid, lambda d: upstream(store, d, depth=2), coadds, lineage_size
    )
    record["upstream_coadd_stop_calexp"] = timed(
        server_pid, lambda d: upstream(store, d, stop_types=["calexp"]), coadds, lineage_size
    )
    record["upstream_coadd_summary"] = timed(
        server_pid,
        lambda d: lineage_summary(store, "upstream", d),
        coadds[:full],
        lambda s: {"quanta": s.quanta},
    )
    record["downstream_raw"] = timed(server_pid, lambda d: downstream(store, d), raws[:full], lineage_size)
    record["downstream_raw_summary"] = timed(
        server_pid,
        lambda d: lineage_summary(store, "downstream", d),
        raws[:full],
        lambda s: {"quanta": s.quanta},
    )
    record["downstream_raw_depth2"] = timed(
        server_pid, lambda d: downstream(store, d, depth=2), raws, lineage_size
    )
    record["parents_children"] = timed(
        server_pid,
        lambda q: dependencies(store, q),
        quanta,
        lambda pc: {"parents": len(pc[0]), "children": len(pc[1])},
    )
    with store.session() as session:
        exposures = [
            r["e"]
            for r in session.run(
                "MATCH (q:Quantum {plan_id: $plan_id, task: 'isr'}) RETURN DISTINCT q.exposure AS e ORDER BY e",
                plan_id=plan_id,
            )
        ]
    per_exposure = record["isr_per_exposure"] = round(record["quanta_isr"] / max(1, len(exposures)))
    where = {"exposure": exposures[: math.ceil(10_000 / max(1, per_exposure))]}
    record["subgraph"] = timed(
        server_pid,
        lambda _: subgraph(store, plan_id, tasks=["isr"], where=where),
        ["isr"] * 5,
        lambda s: {"quanta": len(s.graph), "external_inputs": sum(s.external_inputs.values())},
    )
    # isr quanta all have an exposure, so read_plan seeks them through its index (plan_quanta).
    params = {"plan_id": plan_id, "tasks": ["isr"], "where": where, "seek": "exposure", "chunk": 2000}

    def queries_only(_: str) -> int:
        rows = [q for r in store.read("plan_quanta", **params) for q in r["quanta"]]
        ids = sorted({d for q in rows for d in (*q[4], *q[5])})
        found = [d for r in store.read("datasets_in_chunks", ids=ids, chunk=2000) for d in r["datasets"]]
        return len(rows) + len(found)

    record["subgraph_queries_only"] = timed(server_pid, queries_only, ["isr"] * 5)
    for name, extra in (
        ("cold_cli_depth2", ["--depth", "2"]),
        ("cold_cli_stop_calexp", ["--stop-type", "calexp"]),
    ):
        record[name] = timed(
            server_pid,
            lambda d, extra=extra: subprocess.run(  # type: ignore[misc]
                [PROVGRAPH, "query", "lineage", d, "--json", *extra], check=True, stdout=subprocess.DEVNULL
            ),
            coadds[:3],
        )
    return record


def measure_lsst(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    qg, questions = workdir / "graph.qg", workdir / "questions.json"
    if qg.exists():  # built by an earlier run with this --workdir
        return ask_lsst(args, qg, questions, {"reused": str(qg)})
    build = run_json(
        [
            sys.executable, str(HERE / "lsst_qgraph_build.py"), "--visits", str(args.visits),
            "--detectors", str(args.detectors), "--tracts", str(args.tracts), "--write", str(qg),
        ],
        timeout=7200,
    )  # fmt: skip
    return ask_lsst(args, qg, questions, {k: build[k] for k in ("build_seconds", "quanta") if k in build})


def ask_lsst(args: argparse.Namespace, qg: Path, questions: Path, build: dict[str, Any]) -> dict[str, Any]:
    script = str(HERE / "lsst_qgraph_query.py")
    subprocess.run(
        [sys.executable, script, "--qg", str(qg), "--make-questions", str(questions),
         "--n", str(args.repeat), "--seed", str(args.seed)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    answered = run_json(
        [sys.executable, script, "--qg", str(qg), "--questions", str(questions)], timeout=7200
    )
    answered["build"] = build
    return answered


def summarize(record: dict[str, Any], console: Console) -> None:
    ours, lsst = record["ours"], record.get("lsst", {})
    table = Table("question", "ours p50 ms", "ours CPU ms client/server", "ours answer",
                  "pipe_base p50 ms", "pipe_base answer",
                  title=f"{record['ours']['quanta']:,} quanta (ours)")  # fmt: skip
    for key, value in ours.items():
        if not isinstance(value, dict) or "p50_ms" not in value:
            continue
        theirs = lsst.get(key, {})
        table.add_row(
            key,
            f"{value['p50_ms']:,}",
            f"{value.get('client_cpu_ms')}/{value.get('server_cpu_ms')}",
            json.dumps(value.get("sizes", [""])[0]),
            f"{theirs['p50_ms']:,}" if "p50_ms" in theirs else "",
            json.dumps(theirs.get("first_sizes", [""])[0]) if theirs else "",
        )
    console.print(table)
    if lsst:
        console.print(f"pipe_base load before the first answer: {lsst.get('load_seconds')} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plan-id", help="a plan stored already (otherwise one is planned and stored)")
    parser.add_argument("--visits", type=int, default=106)
    parser.add_argument("--detectors", type=int, default=189)
    parser.add_argument("--tracts", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20, help="starts per question")
    parser.add_argument("--repeat-full", type=int, default=5, help="starts for the whole-lineage questions")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lsst", action="store_true", help="also measure lsst-pipe-base on the same shape")
    parser.add_argument(
        "--workdir", help="where to keep the repository and .qg (default: a temporary directory)"
    )
    parser.add_argument("--server-pid", type=int, help="the Neo4j server's pid (default: the managed one's)")
    parser.add_argument("--note", default="", help="a note kept with the result (what the database held)")
    args = parser.parse_args()
    console = Console(stderr=True, width=150)
    record: dict[str, Any] = {"benchmark": "queries", "machine": machine(), **code_state()}
    record["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record["note"] = args.note
    record["shape"] = {"visits": args.visits, "detectors": args.detectors, "tracts": args.tracts}
    with tempfile.TemporaryDirectory(prefix="provgraph-bench-queries-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        plan_id = args.plan_id or f"bench-queries-{args.visits}x{args.detectors}x{args.tracts}"
        if not args.plan_id:
            console.print(f"planning and storing {plan_id} ...")
            record["store"] = store_plan(args, workdir, plan_id)
        record["plan_id"] = plan_id
        console.print("asking ...")
        with open_store() as store:
            record["ours"] = measure_ours(store, plan_id, args, args.server_pid or managed_server_pid())
        if args.lsst:
            console.print("lsst-pipe-base: building and asking ...")
            record["lsst"] = measure_lsst(args, workdir)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    summarize(record, console)


if __name__ == "__main__":
    main()
