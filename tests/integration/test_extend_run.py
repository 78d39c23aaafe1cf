"""``provgraph plan --rerun-of PLAN --extend-run``: rerun quanta of a plan in its own run.

From the user's side, through the real command, a real Neo4j and the real demo repository:
a detector's bias is shifted after a clean run (nothing fails, the outputs are only
stale); the quanta downstream of it, and only those, run again in the plan's own run and
write what a run with the new bias writes, while every other file stays byte for byte.
And a plan whose isr failed on a broken bias is completed in its own run once it is fixed.
What should rerun is checked by a walk of the stored plan with networkx, read by plain
Cypher: no code shared with the selection under test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

from provenance_graph.demo import CALIB_RUN, demo_pipeline_path, make_demo_repo
from provenance_graph.journal import JOURNAL_DIR
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from provenance_graph.store.execution import ExecutionRecord
from tests.integration.test_batch_jobs import DEMO_RULES
from tests.integration.test_cli import run
from tests.integration.test_rerun import BAD_BIAS, _flat, ok, set_bias
from tests.support.graph_checks import file_checksums, rows

pytestmark = pytest.mark.slow

PIPELINE = str(demo_pipeline_path())
IMPACT = "bias instrument=DemoCam detector=1"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory, store: GraphStore) -> Iterator[str]:
    """A namespace for this module's plans and runs; its plans are deleted at the end."""
    name = f"xr{tmp_path_factory.getbasetemp().name[-6:]}".replace("-", "")
    yield name
    for row in store.read("plan_list", include_incomplete=True):
        if row["id"].startswith(name):
            delete_plan(store, row["id"])
    store.autocommit("datasets_delete_orphans", run_prefix=name)


def _ran_demo(
    tmp_path_factory: pytest.TempPathFactory,
    settings: ConnectionSettings,
    plan: str,
    out: str,
    detectors: int = 2,
) -> Path:
    """A new demo repository of one visit, run whole as plan ``plan`` into run ``out``."""
    repo = tmp_path_factory.mktemp("extend") / "repo"
    make_demo_repo(repo, visits=1, detectors=detectors).close()
    ok(["run", PIPELINE, "-b", str(repo), "--output-run", out, "--plan-id", plan], settings)
    return repo


def _good_bias(repo: Path) -> Any:
    with Repository.open(repo) as opened:
        return opened.get(opened.ref("bias", BAD_BIAS, CALIB_RUN))


def _plan(store: GraphStore, plan_id: str) -> nx.DiGraph:
    """The stored plan as a graph (dataset -> quantum reads, quantum -> dataset writes), by plain Cypher."""
    graph = nx.DiGraph()
    for r in rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN q.id AS id, q.status AS status, "
        "q.attempt_count AS attempts, labels(q) AS labels, q.blocked_by AS blocked_by",
        p=plan_id,
    ):
        graph.add_node(
            r["id"], kind="quantum", **{k: r[k] for k in ("status", "attempts", "labels", "blocked_by")}
        )
    for r in rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[e:CONSUMES|PRODUCES]->(d:Dataset) "
        "RETURN q.id AS q, type(e) AS rel, d.id AS id, d.dataset_type AS type, d.data_id AS data_id, "
        "d.uri AS uri, d.exists AS exists, d.checksum AS checksum",
        p=plan_id,
    ):
        graph.add_node(r["id"], kind="dataset", type=r["type"], data_id=json.loads(r["data_id"]), uri=r["uri"],
                       exists=r["exists"], checksum=r["checksum"])  # fmt: skip
        graph.add_edge(*((r["id"], r["q"]) if r["rel"] == "CONSUMES" else (r["q"], r["id"])))
    return graph


def _downstream_of_bias(graph: nx.DiGraph) -> set[str]:
    [bias] = [
        n for n, a in graph.nodes(data=True)
        if a["kind"] == "dataset" and a["type"] == "bias" and a["data_id"].get("detector") == 1
    ]  # fmt: skip
    return {n for n in nx.descendants(graph, bias) if graph.nodes[n]["kind"] == "quantum"}


def _files(graph: nx.DiGraph, quanta: set[str], root: Path) -> set[str]:
    """The files (relative to ``root``) of the outputs of ``quanta``."""
    return {
        str(Path(graph.nodes[d]["uri"].removeprefix("file://")).relative_to(root))
        for q in quanta
        for d in graph.successors(q)
    }


def _outputs(run: Path) -> dict[str, str]:
    """`file_checksums` of a run's outputs, without the attempt journals of batch jobs."""
    return {f: c for f, c in file_checksums(run).items() if not f.startswith(JOURNAL_DIR)}


def _fails(args: list[str], settings: ConnectionSettings, *words: str) -> str:
    """Run a command that must fail with one short error, without a traceback; return its words."""
    done = run(args, settings)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    said = _flat(done.stderr)
    for word in words:
        assert word in said, said
    return said


def _executions_are_listed(
    store: GraphStore, settings: ConnectionSettings, plan: str, executions: list[str], rerun: int
) -> None:
    """`plans executions` lists both, oldest first, each with its attempts as the graph holds them."""
    listed = run(["plans", "executions", plan, "--json"], settings)
    assert listed.returncode == 0, listed.stderr
    answer = json.loads(listed.stdout)
    assert [e["id"] for e in answer] == executions
    for e in answer:
        counted = rows(
            store, "MATCH (a:Attempt {execution_id: $e}) RETURN a.status AS s, count(*) AS n", e=e["id"]
        )
        assert e["attempts"] == {r["s"]: r["n"] for r in counted} and e["activator"] == "cmdline", e
    assert answer[1]["attempts"] == {"succeeded": rerun}  # the extend-run ran only those
    table = run(["plans", "executions", plan], settings)
    assert table.returncode == 0 and all(x in _flat(table.stdout) for x in executions), table.stdout
    _fails(["plans", "executions", f"{plan}-nope"], settings, f"{plan}-nope")


def test_a_shifted_bias_reruns_exactly_its_downstream_in_the_plans_own_run(
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    neo4j_settings: ConnectionSettings,
    store: GraphStore,
) -> None:
    plan, out = f"{prefix}-shift", f"{prefix}/shift"
    repo = _ran_demo(tmp_path_factory, neo4j_settings, plan, out)
    before = file_checksums(repo / out)
    set_bias(repo, np.asarray(_good_bias(repo)) + 7.0)  # a new bias: nothing fails, outputs go stale

    args = ["plan", "--rerun-of", plan, "--extend-run", "--impact-of", IMPACT]
    _fails(args, neo4j_settings, f"exist in run '{out}'", "--clobber-outputs")
    assert file_checksums(repo / out) == before  # refused: nothing removed
    said = ok([*args, "--clobber-outputs"], neo4j_settings)

    graph = _plan(store, plan)
    touched = _downstream_of_bias(graph)
    assert (
        f"extend-run: {len(touched)} quanta of {plan} will run again in its run {out} (impact-of {IMPACT})"
        in said
    )
    assert f"provgraph run --plan {plan}" in said
    quanta = {n: a for n, a in graph.nodes(data=True) if a["kind"] == "quantum"}
    assert touched and len(touched) < len(quanta)
    assert {q for q, a in quanta.items() if a["status"] == "pending"} == touched
    assert all(a["status"] == "succeeded" for q, a in quanta.items() if q not in touched)
    assert all(not {"Succeeded", "Skipped"} & set(quanta[q]["labels"]) for q in touched)
    made = {d for q in touched for d in graph.successors(q)}
    assert all(graph.nodes[d]["exists"] is None and graph.nodes[d]["checksum"] is None for d in made)
    stale = _files(graph, touched, repo / out)
    assert stale and not (stale & file_checksums(repo / out).keys())  # their files are gone

    ok(["run", "--plan", plan], neo4j_settings)
    after = file_checksums(repo / out)
    ok(["run", PIPELINE, "-b", str(repo), "--output-run", f"{prefix}/ref", "--plan-id", f"{prefix}-ref"],
       neo4j_settings)  # fmt: skip
    reference = file_checksums(repo / f"{prefix}/ref")
    assert after.keys() == before.keys() == reference.keys()
    assert all(after[f] == reference[f] for f in stale)  # what a run with the new bias writes
    assert any(after[f] != before[f] for f in stale)
    assert all(after[f] == before[f] for f in after.keys() - stale)  # the rest untouched, byte for byte

    graph = _plan(store, plan)
    for q in quanta:
        node = graph.nodes[q]
        assert node["status"] == "succeeded"
        assert node["attempts"] == (2 if q in touched else 1), q
    assert all(graph.nodes[d]["exists"] is True for d in made)

    executions = [r["id"] for r in rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e.id AS id "
                                               "ORDER BY e.started", p=plan)]  # fmt: skip
    assert len(executions) == 2
    diff = run(["diff-outputs", *executions], neo4j_settings)
    assert diff.returncode == 0, diff.stderr
    said = _flat(diff.stdout)
    # The remade outputs keep only the second execution's checksums: only in B, and it says why.
    remade = {d for q in touched for d in graph.successors(q)}
    assert f"0 only in A, {len(remade)} only in B" in said, said
    assert f"note: both are executions of plan {plan}" in said, said

    _executions_are_listed(store, neo4j_settings, plan, executions, len(touched))


def test_a_failed_plan_is_completed_in_its_own_run(
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    neo4j_settings: ConnectionSettings,
    store: GraphStore,
) -> None:
    repo = tmp_path_factory.mktemp("extend") / "repo"
    make_demo_repo(repo, visits=1, detectors=2).close()
    good = _good_bias(repo)
    broken = np.array(good, dtype=float)
    broken[:4, :4] = np.nan  # a corrupted calibration: isr fails on it
    set_bias(repo, broken)
    plan, out = f"{prefix}-fail", f"{prefix}/fail"
    done = run(["run", PIPELINE, "-b", str(repo), "--output-run", out, "--plan-id", plan], neo4j_settings)
    assert done.returncode == 1, done.stdout + done.stderr
    first = _plan(store, plan)
    statuses = {a["status"] for _, a in first.nodes(data=True) if a["kind"] == "quantum"}
    assert {"failed", "blocked", "succeeded"} <= statuses
    redo = {
        n
        for n, a in first.nodes(data=True)
        if a["kind"] == "quantum" and a["status"] in ("failed", "blocked")
    }

    said = ok(["plan", "--rerun-of", plan, "--extend-run", "--failed", "--blocked"], neo4j_settings)
    assert (
        f"extend-run: {len(redo)} quanta of {plan} will run again in its run {out} (failed, blocked)" in said
    )
    reset = _plan(store, plan)
    assert {n for n, a in reset.nodes(data=True) if a.get("status") == "pending"} == redo
    assert all(reset.nodes[q]["blocked_by"] is None for q in redo)
    assert all(not {"Failed", "Blocked"} & set(reset.nodes[q]["labels"]) for q in redo)

    set_bias(repo, good)
    ok(["run", "--plan", plan], neo4j_settings)
    final = _plan(store, plan)
    quanta = {n: a for n, a in final.nodes(data=True) if a["kind"] == "quantum"}
    assert all(a["status"] == "succeeded" for a in quanta.values())
    assert all(final.nodes[d]["exists"] for q in quanta for d in final.successors(q))
    assert all(quanta[q]["attempts"] == 1 for q in quanta.keys() - redo)
    assert all(str(Path(final.nodes[d]["uri"].removeprefix("file://"))).startswith(str(repo / out))
               for q in quanta for d in final.successors(q))  # fmt: skip


def test_extend_run_refuses_bad_input_in_one_line(
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    neo4j_settings: ConnectionSettings,
    store: GraphStore,
) -> None:
    plan, out = f"{prefix}-bad", f"{prefix}/bad"
    repo = _ran_demo(tmp_path_factory, neo4j_settings, plan, out, detectors=1)
    before, files = dict(_plan(store, plan).nodes(data=True)), file_checksums(repo / out)

    _fails(["plan", PIPELINE, "-b", str(repo), "--extend-run"], neo4j_settings, "go with --rerun-of PLAN")
    base = ["plan", "--rerun-of", plan, "--extend-run"]
    _fails([*base, "--impact-of", IMPACT.replace("=1", "=0"), "--plan-id", "x"], neo4j_settings,
           "leave out --plan-id")  # fmt: skip
    _fails([*base, "--impact-of", IMPACT.replace("=1", "=0"), "--output-run", f"{prefix}/elsewhere"],
           neo4j_settings, f"in its own run '{out}'", "leave out --output-run")  # fmt: skip
    _fails([*base, "--failed", "-o", "u/me/x"], neo4j_settings, "takes -o from PLAN", "only what to rerun")
    _fails([*base, "--failed"], neo4j_settings, "nothing that failed selects")
    _fails(base, neo4j_settings, "needs something to run again", "--impact-of")
    _fails([*base, "--impact-of", "bias detector=7"], neo4j_settings, "neither reads nor writes")
    _fails(["plan", "--rerun-of", f"{prefix}-nosuch", "--extend-run", "--failed"], neo4j_settings, "no plan")
    # The plan's run is the default for a new plan from it too: refused, and pointed here.
    _fails(["plan", "--rerun-of", plan, "--impact-of", IMPACT.replace("=1", "=0"), "--output-run", out],
           neo4j_settings, "own run", "--extend-run")  # fmt: skip

    live = ExecutionRecord(store, plan, "test", 1)  # a live execution of the plan, in this process
    live.start()
    try:
        _fails([*base, "--impact-of", IMPACT.replace("=1", "=0"), "--clobber-outputs"], neo4j_settings,
               "cannot be reset", live.id)  # fmt: skip
    finally:
        live.close("interrupted", {})
    assert dict(_plan(store, plan).nodes(data=True)) == before  # nothing changed by any of them
    assert file_checksums(repo / out) == files


def test_restart_on_parsl_reruns_the_reset_quanta_with_the_plans_clustering(
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    neo4j_settings: ConnectionSettings,
    store: GraphStore,
) -> None:
    """The batch path: the reset leaves the plan (and so its digest) as it was, so its stored
    clustering still holds and ``restart`` runs the reset quanta in their batch jobs."""
    repo = tmp_path_factory.mktemp("extend") / "repo"
    make_demo_repo(repo, visits=1, detectors=2).close()
    plan, out = f"{prefix}-parsl", f"{prefix}/parsl"
    ok(["plan", PIPELINE, "-b", str(repo), "--output-run", out, "--plan-id", plan], neo4j_settings)
    ok(["submit", plan, "--clustering", str(DEMO_RULES), "-j", "2"], neo4j_settings)
    before = _outputs(repo / out)
    set_bias(repo, np.asarray(_good_bias(repo)) + 7.0)

    ok(
        ["plan", "--rerun-of", plan, "--extend-run", "--impact-of", IMPACT, "--clobber-outputs"],
        neo4j_settings,
    )
    touched = _downstream_of_bias(_plan(store, plan))
    said = ok(["restart", plan], neo4j_settings)
    assert f"this run:   {len(touched)} succeeded" in said, said
    graph = _plan(store, plan)
    quanta = {n: a for n, a in graph.nodes(data=True) if a["kind"] == "quantum"}
    assert all(
        a["status"] == "succeeded" and a["attempts"] == (2 if q in touched else 1) for q, a in quanta.items()
    )
    stale = _files(graph, touched, repo / out)
    after = _outputs(repo / out)
    assert after.keys() == before.keys()
    assert any(after[f] != before[f] for f in stale)
    assert all(after[f] == before[f] for f in after.keys() - stale)
