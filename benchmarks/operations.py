"""Operations benchmark: ``triage``, ``suspects``, ``stats`` and ``footprint`` on a large executed plan.

Builds a synthetic DRP-shaped plan (default about 100k quanta), stores it in the configured
Neo4j, and records an execution of it the way a real batch run records one:

- the attempts that ran, through journals (`JournalWriter`, one per ``--per-journal`` quanta)
  loaded by `record_journals`, as ``provgraph record`` does;
- the blocked quanta, by `ExecutionRecord.block` (``execution_block_quanta``), as the Activator
  that submitted the jobs marks them once a quantum has finally failed. Journals only hold
  attempts: a quantum that never ran has none, and a run recorded from journals alone
  (``provgraph record`` after DAGMan) leaves such quanta ``pending``.

No node is written directly. Each attempt gets a duration and a peak memory drawn per task
(log-normal, seeded). ``--failures`` (default 1%) of the quanta fail, most of them with a
shared cause: ``--causes`` bias datasets (three by default) are bad, and 80% of the failure
budget falls on the ``isr`` quanta that read them, with one error signature. The rest fail
scattered over all tasks with two other errors. Everything downstream of a failure (in plan
order, as the Activator does with one quantum per unit: the rest of a clustered job is not
blocked here) is blocked by the first failure that reaches it, and never runs. One more bias
is bad without failing: the calexps made from it are the bad outputs ``suspects`` is asked about.

Then it times, each ``--repeat`` times (cold first, then warm), the typed functions the
commands call: `triage` (``provgraph triage PLAN``), `suspects` with 100 bad calexps and 400
good ones (``provgraph suspects --bad ... --good ...``, default ``--sample 500``) and with the
default good outputs (no ``--good``), `runtime_stats` per task (``stats PLAN``), per visit
(``stats PLAN --by visit``), the two sides of a comparison (``stats PLAN --compare OTHER``:
this plan against itself) and `footprint`. Reports wall time, this process's CPU seconds and
the Neo4j server's (from /proc, when it is on this machine), and the 1-minute load average
before each question. The plan is deleted afterwards unless ``--keep``.

    .venv/bin/python benchmarks/operations.py                               # ~100k quanta
    .venv/bin/python benchmarks/operations.py --visits 20 --detectors 50   # ~10k, quick
    .venv/bin/python benchmarks/operations.py --visits 2000 --detectors 100  # ~1M: long

Results are appended as JSON lines to benchmarks/results/operations.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from provenance_graph.journal import JournalRecord, JournalWriter, read_journals
from provenance_graph.model import AttemptOutcome, OutputRecord, Quantum
from provenance_graph.store import delete_plan, open_store, write_plan
from provenance_graph.store.analytics import compare_stats, footprint, runtime_stats
from provenance_graph.store.execution import ExecutionRecord
from provenance_graph.store.journals import record_journals
from provenance_graph.store.operations import suspects, triage
from provenance_graph.synthetic import drp_plan

RESULTS = Path(__file__).resolve().parent / "results" / "operations.jsonl"
EXECUTION = "bench-operations-execution"
#: Share of the failure budget that falls on the quanta reading the bad biases.
CAUSED = 0.8
#: Rows per `ExecutionRecord.block` call.
BLOCK_BATCH = 5000


def server_cpu() -> float | None:
    """CPU seconds (user + system) of the Neo4j server this run talks to, if it is on this machine.

    The server under ``PROVGRAPH_HOME`` when that is set (a test suite's own), else the first one.
    """
    home = os.environ.get("PROVGRAPH_HOME")
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "org.neo4j.server" in cmd and (home is None or home in cmd):
            times = proc.cpu_times()
            return float(times.user + times.system)
    return None


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], Any]) -> tuple[Any, dict[str, float | None]]:
    load = os.getloadavg()[0]
    wall, mine, server = time.perf_counter(), cpu(), server_cpu()
    result = work()
    wall, mine, after = time.perf_counter() - wall, cpu() - mine, server_cpu()
    server_s = round(after - server, 2) if server is not None and after is not None else None
    return result, {
        "wall_s": round(wall, 2),
        "client_cpu_s": round(mine, 2),
        "server_cpu_s": server_s,
        "load_1min": round(load, 2),
    }


@dataclass
class Outcomes:
    """What happened to each quantum of the synthetic execution."""

    failed: dict[str, str] = field(default_factory=dict)
    """Failed quantum -> its error."""
    blocked: dict[str, str] = field(default_factory=dict)
    """Blocked quantum -> the failed quantum that blocked it (the first to reach it)."""
    cause_biases: list[str] = field(default_factory=list)
    suspect_bias: str = ""
    caused: int = 0
    """Failures of the isr quanta reading a bad bias."""


def _bias(quantum: Quantum) -> tuple[str, int]:
    bias = next(r for r in quantum.inputs if r.dataset_type.name == "bias")
    return bias.id, int(bias.data_id.to_dict()["detector"])


def simulate(quanta: Sequence[Quantum], failures: float, causes: int, seed: int = 21) -> Outcomes:
    """Which quanta fail, with which error, and which are blocked (see the module docstring).

    ``quanta`` are in plan order (every quantum after the producers of its inputs).
    """
    rng = random.Random(seed)
    isr_by_bias: dict[str, list[Quantum]] = defaultdict(list)
    for q in quanta:
        if q.task_label == "isr":
            isr_by_bias[_bias(q)[0]].append(q)
    biases = sorted(isr_by_bias, key=lambda b: _bias(isr_by_bias[b][0])[1])
    chosen = rng.sample(biases, min(len(biases), causes + 1))
    cause_biases, suspect_bias = chosen[:-1], chosen[-1]
    budget = round(failures * len(quanta))
    readers = sorted((q for b in cause_biases for q in isr_by_bias[b]), key=lambda q: q.id)
    caused = rng.sample(readers, min(len(readers), round(CAUSED * budget)))
    caused_error = {}
    for q in caused:
        values = q.data_id.to_dict()
        caused_error[q.id] = (
            "Traceback (most recent call last):\n"
            '  File "/sw/ip_isr/isrTask.py", line 1812, in run\n'
            f"ValueError: ISR failed for exposure={values['exposure']} detector={values['detector']}: "
            f"overscan fit did not converge (residual {rng.uniform(5, 50):.2f} ADU)"
        )
    producer = {r.id: q.id for q in quanta for r in q.outputs}

    def one_pass(scattered: float) -> Outcomes:
        pick = random.Random(seed + 1)
        out = Outcomes(cause_biases=cause_biases, suspect_bias=suspect_bias)
        blame: dict[str, str] = {}  # failed or blocked quantum -> the failure to blame
        for q in quanta:
            upstream = [producer[r.id] for r in q.inputs if r.id in producer]
            by = next((blame[u] for u in sorted(upstream) if u in blame), None)
            if by is not None:
                out.blocked[q.id] = by
                blame[q.id] = by
            elif q.id in caused_error:
                out.failed[q.id] = caused_error[q.id]
                out.caused += 1
                blame[q.id] = q.id
            elif pick.random() < scattered:
                out.failed[q.id] = pick.choice(
                    (
                        f"MemoryError: std::bad_alloc allocating {pick.randint(10**8, 10**9)} bytes",
                        f"TimeoutError: butler get of {q.inputs[0].id} timed out after "
                        f"{pick.uniform(300, 400):.1f} s",
                    )
                )
                blame[q.id] = q.id
        return out

    outcome = one_pass(0.0)
    runnable = len(quanta) - len(outcome.failed) - len(outcome.blocked)
    wanted = budget - outcome.caused
    scattered = wanted / runnable if wanted > 0 and runnable else 0.0
    for _ in range(3):  # scattered failures block quanta that might have failed: aim again
        outcome = one_pass(scattered)
        got = len(outcome.failed) - outcome.caused
        if wanted <= 0 or got == 0 or abs(got - wanted) <= max(1, wanted // 100):
            break
        scattered *= wanted / got
    return outcome


def record_execution(
    store: Any, plan_id: str, quanta: Sequence[Quantum], outcomes: Outcomes, per_journal: int
) -> dict[str, Any]:
    """Record the execution through journals and the Activator's blocking; returns the timings."""
    rng = random.Random(21)
    scale = {
        task: (rng.uniform(0.5, 60.0), rng.uniform(200.0, 4000.0))
        for task in sorted({q.task_label for q in quanta})
    }
    ran = [q for q in quanta if q.id not in outcomes.blocked]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="provgraph-bench-operations-") as tmp:
        folder = Path(tmp)
        for start in range(0, len(ran), per_journal):
            job = f"job_{start // per_journal}"
            with JournalWriter(folder / f"{job}.jsonl") as journal:
                for quantum in ran[start : start + per_journal]:
                    seconds, mb = scale[quantum.task_label]
                    error = outcomes.failed.get(quantum.id)
                    ok = error is None
                    outputs = tuple(
                        OutputRecord(r.id, f"file:///bench/{r.id}.npy", rng.randint(10**5, 10**7),
                                     "sha256:" + "0" * 64)
                        for r in quantum.outputs
                    ) if ok else ()  # fmt: skip
                    outcome = AttemptOutcome(
                        quantum.id, ok, seconds * rng.lognormvariate(0, 0.3), "node1", 42,
                        mb * rng.lognormvariate(0, 0.1), 0 if ok else 1, error=error, outputs=outputs,
                    )  # fmt: skip
                    journal.write(JournalRecord(plan_id, EXECUTION, job, outcome))
        read = read_journals([folder])
        result, figures["record"] = timed(lambda: record_journals(store, read.records))
    print(f"recorded {result.recorded} attempts ({len(outcomes.failed)} failed): {figures['record']}")
    execution = ExecutionRecord(store, plan_id, "bench", 1, id=EXECUTION)
    rows = list(outcomes.blocked.items())

    def block() -> int:
        return sum(
            len(execution.block(dict(rows[i : i + BLOCK_BATCH]))) for i in range(0, len(rows), BLOCK_BATCH)
        )

    marked, figures["block"] = timed(block)
    print(f"blocked {marked} quanta: {figures['block']}")
    return figures


def suspect_outputs(quanta: Sequence[Quantum], outcomes: Outcomes) -> tuple[list[str], list[str]]:
    """100 bad calexps (made from the suspect bias) and 400 good ones (other detectors, same visits)."""
    made = [
        q
        for q in quanta
        if q.task_label == "calibrate" and q.id not in outcomes.failed and q.id not in outcomes.blocked
    ]
    detector = {
        q.outputs[0].data_id.to_dict()["detector"]
        for q in quanta
        if q.task_label == "isr" and _bias(q)[0] == outcomes.suspect_bias
    }
    calexps = [r for q in made for r in q.outputs if r.dataset_type.name == "calexp"]
    bad = [r for r in calexps if r.data_id.to_dict()["detector"] in detector][:100]
    visits = {r.data_id.to_dict()["visit"] for r in bad}
    good = [
        r
        for r in calexps
        if r.data_id.to_dict()["detector"] not in detector and r.data_id.to_dict()["visit"] in visits
    ]
    return [r.id for r in bad], [r.id for r in random.Random(22).sample(good, min(400, len(good)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=200)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--failures", type=float, default=0.01, help="share of quanta that fail")
    parser.add_argument("--causes", type=int, default=3, help="bad bias datasets most failures share")
    parser.add_argument("--per-journal", type=int, default=100, help="quanta per journal (batch job)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the plan (and reuse a kept one)")
    args = parser.parse_args()

    plan_id = f"bench-operations-{args.visits}x{args.detectors}"
    started = time.perf_counter()
    graph = drp_plan(
        args.visits,
        args.detectors,
        tracts=max(1, args.visits // 50),
        plan_id=plan_id,
        output_run=f"bench/operations/{args.visits}x{args.detectors}",
        raw_run="bench/raw",
        calib_run="bench/calib",
    )
    quanta = list(graph.quanta.values())
    outcomes = simulate(quanta, args.failures, args.causes)
    bad, good = suspect_outputs(quanta, outcomes)
    print(
        f"{len(quanta)} quanta: {len(outcomes.failed)} fail ({outcomes.caused} reading the bad biases), "
        f"{len(outcomes.blocked)} blocked; built in {time.perf_counter() - started:.0f} s"
    )
    figures: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    with open_store(say=print) as store:
        kept = args.keep and bool(store.read("plan_executions", plan_id=plan_id))
        if not kept:
            delete_plan(store, plan_id)
            _, figures["write_plan"] = timed(lambda: write_plan(store, graph))
            print(f"{len(quanta)} quanta stored: {figures['write_plan']}")
            figures.update(record_execution(store, plan_id, quanta, outcomes, args.per_journal))
        try:
            questions: dict[str, Callable[[], Any]] = {
                "triage": lambda: triage(store, plan_id),
                "suspects": lambda: suspects(store, bad, good),
                "suspects_default_good": lambda: suspects(store, bad),
                "stats_by_task": lambda: runtime_stats(store, plan_id),
                "stats_by_visit": lambda: runtime_stats(store, plan_id, by=["visit"]),
                "stats_compare": lambda: compare_stats(
                    runtime_stats(store, plan_id), runtime_stats(store, plan_id)
                ),
                "footprint": lambda: footprint(store, plan_id),
            }
            for name, question in questions.items():
                runs = []
                for _ in range(args.repeat):
                    answer, measured = timed(question)
                    runs.append(measured)
                figures[name] = runs
                answers[name] = summary(name, answer, outcomes)
                print(f"{name}: {runs} {answers[name]}")
        finally:
            if not args.keep:
                delete_plan(store, plan_id)
    record = {
        "benchmark": "operations",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "load_1min": round(os.getloadavg()[0], 2),
        "quanta": len(quanta),
        "failures": args.failures,
        "failed": len(outcomes.failed),
        "failed_by_bad_biases": outcomes.caused,
        "blocked": len(outcomes.blocked),
        "kept": kept,
        **figures,
        "answers": answers,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(record) + "\n")


def summary(name: str, answer: Any, outcomes: Outcomes) -> dict[str, Any] | None:
    """What an answer said, in brief, to check it names the planted causes."""
    if name == "triage":
        top = answer.groups[0] if answer.groups else None
        return {
            "groups": len(answer.groups),
            "failed": answer.failed,
            "blocked": answer.blocked + sum(answer.blocked_elsewhere.values()),
            "top_group": f"{top.task}: {top.signature} ({len(top.failures)})" if top else None,
            "top_causes_are_bad_biases": [c.id in outcomes.cause_biases for c in top.causes[:4]]
            if top
            else [],
        }
    if name.startswith("suspects"):
        first = answer.suspects[0] if answer.suspects else None
        return {
            "bad": len(answer.bad),
            "good": len(answer.good),
            "first": f"{first.kind} {first.name} {first.data_id} {first.bad}/{first.bad_total} "
            f"{first.good}/{first.good_total}"
            if first
            else None,
            "first_is_suspect_bias": first is not None and first.id == outcomes.suspect_bias,
        }
    return None


if __name__ == "__main__":
    main()
