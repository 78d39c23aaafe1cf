"""``provgraph stats`` and ``provgraph footprint`` against two real runs of the demo plan.

One module-scoped pair of executed plans: ``base`` and ``slow``, the same small demo plan
(37 quanta) in two output runs, ``slow`` with ``-c isr:sleep=0.4`` so that its isr quanta
take 0.4 s more. Both are run by the real ``provgraph run``. Each answer is checked against
a reference computed here, in plain Python and networkx, from the graph read back with raw
Cypher: it shares no code with `provenance_graph.store.analytics`.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from typer.testing import CliRunner

from provenance_graph.cli.main import app
from provenance_graph.demo import demo_pipeline_path
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from provenance_graph.store.clustering import delete_clustering
from tests.integration.test_cli import run
from tests.support.graph_checks import rows

PIPELINE = str(demo_pipeline_path())
CLUSTERING = str(Path(PIPELINE).with_name("clustering.yaml"))
SLEEP = 0.4


@dataclass(frozen=True)
class Runs:
    base: str
    slow: str
    executions: dict[str, str]
    planned: str
    """The same plan again in a third output run, planned and never run."""


@pytest.fixture(scope="module")
def runs(neo4j_settings: ConnectionSettings, store: GraphStore, demo_repo: Path) -> Iterator[Runs]:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    base, slow = f"{prefix}-base", f"{prefix}-slow"
    for plan_id, extra in ((base, []), (slow, ["-c", f"isr:sleep={SLEEP}"])):
        done = run(["run", PIPELINE, "--repo", str(demo_repo), "--where", "instrument='DemoCam'",
                    "--plan-id", plan_id, "--output-run", f"{plan_id}/out", "-j", "2", *extra],
                   neo4j_settings)  # fmt: skip
        assert done.returncode == 0, done.stderr
    planned = f"{prefix}-next"
    done = run(["plan", PIPELINE, "--repo", str(demo_repo), "--where", "instrument='DemoCam'",
                "--plan-id", planned, "--output-run", f"{planned}/out"], neo4j_settings)  # fmt: skip
    assert done.returncode == 0, done.stderr
    clustered = run(["cluster", slow, "--clustering", CLUSTERING], neo4j_settings)
    assert clustered.returncode == 0, clustered.stderr
    executions = {
        r["plan"]: r["id"]
        for r in rows(
            store,
            "MATCH (e:Execution) WHERE e.plan_id IN $p RETURN e.plan_id AS plan, e.id AS id",
            p=[base, slow],
        )
    }
    yield Runs(base, slow, executions, planned)
    with contextlib.suppress(Exception):
        delete_clustering(store, slow, "demo")
    for plan_id in (planned, slow, base):
        with contextlib.suppress(Exception):
            delete_plan(store, plan_id)
    store.autocommit("datasets_delete_orphans", run_prefix=prefix)


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    return result


def answer(*args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# --- the reference: plain Python over the graph read back --------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (Neo4j's percentileCont, numpy's default)."""
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def attempts_read_back(store: GraphStore, plan_id: str) -> list[dict[str, Any]]:
    return rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[:HAS_ATTEMPT]->(a:Attempt) "
        "RETURN q.task AS task, q.data_id AS data_id, a.status AS status, a.duration_s AS duration, "
        "a.peak_rss_mb AS memory, a.execution_id AS execution, a.quantum_id AS quantum",
        p=plan_id,
    )


def reference_stats(attempts: list[dict[str, Any]], by: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for a in attempts:
        if a["status"] != "succeeded" or a["duration"] is None:
            continue
        values = json.loads(a["data_id"])
        key = tuple(a["task"] if name == "task" else values.get(name) for name in by)
        if None not in key:
            groups[key].append(a)
    found = {}
    for key, members in groups.items():
        durations = [m["duration"] for m in members]
        memory = [m["memory"] for m in members if m["memory"] is not None]
        found[key] = {
            "attempts": len(members),
            "p50": percentile(durations, 0.5),
            "p90": percentile(durations, 0.9),
            "max": max(durations),
            "mem_p50": percentile(memory, 0.5),
            "mem_max": max(memory),
            "cpu": sum(durations),  # ours record no CPU time: wall time stands for it
            "slowest": sorted(durations, reverse=True)[:3],
        }
    return found


def _key(group: dict[str, Any], by: list[str]) -> tuple[Any, ...]:
    return tuple(group["task"] if name == "task" else group["data_id"][name] for name in by)


# --- stats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", [["task"], ["task", "detector"], ["visit"]])
def test_stats_match_a_reference_computed_from_the_attempts(
    runs: Runs, store: GraphStore, by: list[str]
) -> None:
    options = [x for name in by for x in ("--by", name)]
    got = answer("stats", runs.slow, *options)
    expected = reference_stats(attempts_read_back(store, runs.slow), by)
    assert {_key(g, by) for g in got["groups"]} == set(expected)
    for g in got["groups"]:
        e = expected[_key(g, by)]
        assert g["attempts"] == e["attempts"]
        assert g["duration_s"]["p50"] == pytest.approx(e["p50"])
        assert g["duration_s"]["p90"] == pytest.approx(e["p90"])
        assert g["duration_s"]["max"] == pytest.approx(e["max"])
        assert g["peak_rss_mb"]["p50"] == pytest.approx(e["mem_p50"])
        assert g["peak_rss_mb"]["max"] == pytest.approx(e["mem_max"])
        assert g["cpu_s"] == pytest.approx(e["cpu"])
        assert [s["duration_s"] for s in g["slowest"]] == pytest.approx(e["slowest"])
    if by == ["visit"]:  # isr runs per exposure: its attempts have no visit, and are in no group
        without = [a for a in attempts_read_back(store, runs.slow)
                   if a["status"] == "succeeded" and "visit" not in json.loads(a["data_id"])]  # fmt: skip
        assert "isr" in {a["task"] for a in without}
        assert got["ungrouped"] == len(without)


def test_compare_flags_the_task_slowed_down_in_the_second_run(runs: Runs, store: GraphStore) -> None:
    got = answer("stats", runs.slow, "--compare", runs.base, "--min-seconds", "0.2")
    assert [r["task"] for r in got["regressions"]] == ["isr"]
    slow = reference_stats(attempts_read_back(store, runs.slow), ["task"])
    base = reference_stats(attempts_read_back(store, runs.base), ["task"])
    for g in got["groups"]:
        key = (g["task"],)
        assert g["duration_p50_ratio"] == pytest.approx(slow[key]["p50"] / base[key]["p50"])
    isr = next(g for g in got["groups"] if g["task"] == "isr")
    assert isr["duration_p50_ratio"] >= 1.2
    assert "duration" in isr["regressed"]
    # The other way round nothing is slower; by execution ids the same comparison as by plans.
    assert answer("stats", runs.base, "--compare", runs.slow, "--min-seconds", "0.2")["regressions"] == []
    by_execution = answer("stats", runs.slow, "--execution", runs.executions[runs.slow],
                          "--compare", runs.executions[runs.base], "--min-seconds", "0.2")  # fmt: skip
    assert [r["task"] for r in by_execution["regressions"]] == ["isr"]
    table = cli("stats", runs.slow, "--compare", runs.base, "--min-seconds", "0.2")
    assert table.exit_code == 0, table.output
    assert "regression: isr: duration" in table.output


def test_stats_table_cypher_and_plot(runs: Runs, tmp_path: Path) -> None:
    table = cli("stats", runs.slow, "--top", "1")
    assert table.exit_code == 0, table.output
    assert "isr" in table.output and "slowest attempts" in table.output
    assert "wall time" in table.output  # says what stands for CPU time
    cypher = cli("stats", runs.slow, "--by", "visit", "--cypher")
    assert cypher.exit_code == 0, cypher.output
    assert "// stats_groups:" in cypher.output and "// stats_slowest:" in cypher.output
    assert f'plan_id: "{runs.slow}"' in cypher.output and 'by: ["visit"]' in cypher.output
    picture = tmp_path / "stats.png"
    plotted = cli("stats", runs.slow, "--compare", runs.base, "--plot", str(picture))
    assert plotted.exit_code == 0, plotted.output
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_an_error_with_a_hint(runs: Runs) -> None:
    missing = run_error("stats", runs.slow[:-1] + "x")
    assert "did you mean" in missing and runs.slow in missing
    assert "did you mean 'visit'" in run_error("stats", runs.slow, "--by", "visti")
    assert "no plan or execution 'nothing-here'" in run_error("stats", runs.slow, "--compare", "nothing-here")
    assert f"ran plan {runs.base!r}" in run_error(
        "stats", runs.slow, "--execution", runs.executions[runs.base]
    )
    assert "no complete clustering 'nope'" in run_error("footprint", runs.slow, "--clustering", "nope")


def run_error(*args: str) -> str:
    """The error a command stops with: its message and its hint (``provgraph`` prints them, no traceback)."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code != 0
    error = result.exception
    assert error is not None and not isinstance(error, SystemExit), result.output
    assert getattr(error, "hint", None), error  # every one says how to fix it
    return f"{error}"


# --- footprint ---------------------------------------------------------------------------------


def reference_footprint(store: GraphStore, plan_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per task predicted bytes, and the mean size per dataset type, from the graph read back."""
    sizes: dict[str, list[int]] = defaultdict(list)
    for r in rows(store, "MATCH (d:Dataset) WHERE d.size IS NOT NULL AND d.plan_id IS NOT NULL "
                  "AND d.plan_id <> $p RETURN d.dataset_type AS t, d.size AS size", p=plan_id):  # fmt: skip
        sizes[r["t"]].append(r["size"])
    means = {t: sum(v) / len(v) for t, v in sizes.items()}
    per_task: dict[str, float] = defaultdict(float)
    for r in rows(store, "MATCH (q:Quantum {plan_id: $p})-[:PRODUCES]->(d:Dataset) "
                  "RETURN q.task AS task, d.dataset_type AS t", p=plan_id):  # fmt: skip
        per_task[r["task"]] += means.get(r["t"], 0.0)
    return dict(per_task), means


def reference_scratch(store: GraphStore, plan_id: str, means: dict[str, float]) -> tuple[float, str]:
    """Peak scratch: jobs in networkx's lexicographical topological order; a job's outputs held from
    its start until the last of the jobs depending on it has finished."""
    dag = nx.DiGraph()
    job_bytes: dict[str, float] = defaultdict(float)
    for r in rows(store, "MATCH (j:BatchJob {clustering_id: $c}) OPTIONAL MATCH (j)-[:RUNS]->(:Quantum)"
                  "-[:PRODUCES]->(d:Dataset) RETURN j.name AS job, d.dataset_type AS t",
                  c=f"{plan_id}/demo"):  # fmt: skip
        dag.add_node(r["job"])
        if r["t"] is not None:
            job_bytes[r["job"]] += means.get(r["t"], 0.0)
    for r in rows(store, "MATCH (c:BatchJob {clustering_id: $c})-[:DEPENDS_ON]->(p:BatchJob) "
                  "RETURN c.name AS child, p.name AS parent", c=f"{plan_id}/demo"):  # fmt: skip
        dag.add_edge(r["parent"], r["child"])
    order = list(nx.lexicographical_topological_sort(dag))
    position = {job: i for i, job in enumerate(order)}
    best, best_job = -1.0, ""
    for t, running in enumerate(order):
        held = [running] + [job for job in order[:t] if any(position[c] >= t for c in dag.successors(job))]
        in_use = sum(job_bytes[j] for j in held)
        if in_use > best:
            best, best_job = in_use, running
    return best, best_job


def test_footprint_matches_a_reference_from_recorded_sizes(runs: Runs, store: GraphStore) -> None:
    got = answer("footprint", runs.slow, "--clustering", "demo")
    per_task, means = reference_footprint(store, runs.slow)
    assert {t["task"]: t["predicted_bytes"] for t in got["tasks"]} == pytest.approx(per_task)
    assert got["predicted_bytes"] == pytest.approx(sum(per_task.values()))
    for t in got["tasks"]:
        for o in t["outputs"]:
            assert o["samples"] >= 1  # the base run recorded every type
            assert o["mean_bytes"] == pytest.approx(means[o["dataset_type"]])
    # What the plan's own run wrote is shown beside the prediction (not part of it).
    own = rows(store, "MATCH (:Quantum {plan_id: $p})-[:PRODUCES]->(d:Dataset) RETURN sum(d.size) AS b",
               p=runs.slow)  # fmt: skip
    assert got["recorded_bytes"] == own[0]["b"] > 0
    peak, job = reference_scratch(store, runs.slow, means)
    assert got["scratch"]["peak_bytes"] == pytest.approx(peak)
    assert got["scratch"]["peak_job"] == job
    table = cli("footprint", runs.slow, "--clustering", "demo")
    assert table.exit_code == 0, table.output
    assert "peak scratch of clustering demo" in table.output
    cypher = cli("footprint", runs.slow, "--clustering", "demo", "--cypher")
    assert "// footprint_jobs:" in cypher.output and f'clustering_id: "{runs.slow}/demo"' in cypher.output


def test_a_plan_not_run_yet_has_a_footprint_and_no_stats(runs: Runs, store: GraphStore) -> None:
    got = answer("footprint", runs.planned)
    per_task, _ = reference_footprint(store, runs.planned)
    assert {t["task"]: t["predicted_bytes"] for t in got["tasks"]} == pytest.approx(per_task)
    assert got["recorded_bytes"] == 0 and got["unknown_dataset_types"] == []
    assert got["predicted_bytes"] > 0
    table = cli("stats", runs.planned)
    assert table.exit_code == 0, table.output
    assert "no succeeded attempts recorded" in table.output
    assert answer("stats", runs.planned)["groups"] == []
