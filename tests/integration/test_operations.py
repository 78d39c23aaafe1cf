"""``provgraph triage`` and ``provgraph suspects`` as an operator uses them, on a corrupted bias.

One demo repository of 2 visits x 3 detectors, whose detector 1 bias has NaN pixels, is
planned and run by the real ``provgraph run``: the isr quanta of detector 1 fail (the demo
IsrTask refuses a non-finite bias) and block what lies downstream. Every answer of the
commands (``--json``) is checked against an independent networkx computation over the graph
read back with plain Cypher; nothing here imports the implementation under test.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import networkx as nx
import pytest

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from tests.integration.test_cli import run
from tests.support.bad_bias import BAD_DETECTOR, run_with_bad_bias
from tests.support.graph_checks import rows

pytestmark = pytest.mark.integration


@dataclass
class Scenario:
    plan_id: str
    execution_id: str
    graph: nx.DiGraph
    """dataset -> quantum (consumes), quantum -> dataset (produces); node attributes from the graph."""
    settings: ConnectionSettings


@pytest.fixture(scope="module")
def scenario(
    neo4j_settings: ConnectionSettings, store: GraphStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    plan_id = run_with_bad_bias(tmp_path_factory.mktemp("ops"), neo4j_settings, "ops")
    execution = rows(store, "MATCH (e:Execution {plan_id: $p}) RETURN e.id AS id", p=plan_id)
    try:
        yield Scenario(plan_id, execution[0]["id"], _read_graph(store, plan_id), neo4j_settings)
    finally:
        with contextlib.suppress(Exception):
            delete_plan(store, plan_id)
        store.autocommit("datasets_delete_orphans", run_prefix=plan_id)


def _read_graph(store: GraphStore, plan_id: str) -> nx.DiGraph:
    """The plan as stored: its quanta, the datasets they read and write, and the edges."""
    graph = nx.DiGraph()
    for r in rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) "
        "OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count}) "
        "RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.status AS status, "
        "q.blocked_by AS blocked_by, a.error AS error",
        p=plan_id,
    ):
        graph.add_node(r["id"], kind="quantum", name=r["task"], data_id=r["data_id"], status=r["status"],
                       blocked_by=r["blocked_by"], error=r["error"])  # fmt: skip
    for r in rows(
        store,
        "MATCH (q:Quantum {plan_id: $p})-[e:CONSUMES|PRODUCES]->(d:Dataset) "
        "RETURN q.id AS q, type(e) AS rel, d.id AS id, d.dataset_type AS type, d.data_id AS data_id, "
        "d.exists AS exists, d.plan_id AS plan_id",
        p=plan_id,
    ):
        graph.add_node(r["id"], kind="dataset", name=r["type"], data_id=r["data_id"], exists=r["exists"],
                       plan_id=r["plan_id"])  # fmt: skip
        if r["rel"] == "CONSUMES":
            graph.add_edge(r["id"], r["q"])
        else:
            graph.add_edge(r["q"], r["id"])
    return graph


def _ranked(graph: nx.DiGraph, bad: list[str], good: list[str]) -> list[dict[str, Any]]:
    """The separation ranking, computed plainly: a start's lineage is every ancestor of it."""
    reverse = graph.reverse(copy=False)
    lineages = {n: nx.single_source_shortest_path_length(reverse, n) for n in [*bad, *good]}
    found: list[dict[str, Any]] = []
    for m in {m for n in bad for m in lineages[n]}:
        k_bad = sum(1 for n in bad if m in lineages[n] and m != n)
        k_good = sum(1 for n in good if m in lineages[n] and m != n)
        score = Fraction(k_bad, len(bad)) - (Fraction(k_good, len(good)) if good else 0)
        if k_bad == 0 or score <= 0:
            continue
        hops = min(lineages[n][m] for n in bad if m in lineages[n] and m != n)
        node = graph.nodes[m]
        found.append({"id": m, "kind": node["kind"], "name": node["name"], "data_id": node["data_id"],
                      "bad": k_bad, "good": k_good, "hops": hops, "score": score})  # fmt: skip
    found.sort(key=lambda s: (-s["score"], s["hops"], s["kind"], s["name"], s["data_id"], s["id"]))
    return found


def _cli_json(scenario: Scenario, *args: str) -> dict[str, Any]:
    done = run([*args, "--json"], scenario.settings)
    assert done.returncode == 0, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _bias(graph: nx.DiGraph, detector: int) -> str:
    return next(
        n for n, a in graph.nodes(data=True)
        if a["name"] == "bias" and json.loads(a["data_id"])["detector"] == detector
    )  # fmt: skip


def _as_ranking(found: list[dict[str, Any]]) -> list[tuple[str, int, int, int]]:
    return [(s["id"], s["bad"], s["good"], s["hops"]) for s in found]


def test_triage_groups_failures_and_names_the_corrupted_bias(scenario: Scenario) -> None:
    graph = scenario.graph
    answer = _cli_json(scenario, "triage", scenario.plan_id, "--limit", "1000")
    failed = sorted(
        n for n, a in graph.nodes(data=True) if a["kind"] == "quantum" and a["status"] == "failed"
    )
    assert failed and {graph.nodes[n]["name"] for n in failed} == {"isr"}
    assert {json.loads(graph.nodes[n]["data_id"])["detector"] for n in failed} == {BAD_DETECTOR}
    # One cause, one error: one group, holding every failure.
    assert answer["failed"] == len(failed)
    [group] = answer["groups"]
    assert group["task"] == "isr" and group["count"] == len(failed) and sorted(group["quanta"]) == failed
    assert "BadCalibrationError: bias (instrument=<v> detector=<v>) has" in group["signature"]
    assert not re.search(r"\d", group["signature"]), group["signature"]
    assert group["example"]["quantum_id"] in failed
    assert "non-finite" in group["example"]["error"]
    # Causes: what the failures share and the task's successes do not, against networkx.
    successes = [
        n for n, a in graph.nodes(data=True)
        if a["kind"] == "quantum" and a["name"] == "isr" and a["status"] in ("succeeded", "skipped")
    ]  # fmt: skip
    expected = _ranked(graph, failed, successes)
    got = group["causes"]
    assert _as_ranking(got) == _as_ranking(expected)
    assert all(c["bad_total"] == len(failed) and c["good_total"] == len(successes) for c in got)
    assert got[0]["id"] == _bias(graph, BAD_DETECTOR) and got[0]["score"] == 1.0
    # A sample of one failure and one success: the first of each by id.
    sampled = _cli_json(scenario, "triage", scenario.plan_id, "--limit", "1000", "--sample", "1")
    [one] = sampled["groups"]
    assert one["count"] == len(failed)
    assert _as_ranking(one["causes"]) == _as_ranking(_ranked(graph, failed[:1], sorted(successes)[:1]))
    # Blocked quanta, attributed to the failures that blocked them.
    blocked: dict[str, int] = {}
    per_failure: dict[str, dict[str, int]] = {f: {} for f in failed}
    for _n, a in graph.nodes(data=True):
        if a["kind"] == "quantum" and a["status"] == "blocked":
            assert a["blocked_by"] in failed
            blocked[a["name"]] = blocked.get(a["name"], 0) + 1
            counts = per_failure[a["blocked_by"]]
            counts[a["name"]] = counts.get(a["name"], 0) + 1
    assert blocked and group["blocked"] == blocked and answer["blocked_elsewhere"] == {}
    assert {f["quantum_id"]: f["blocked"] for f in group["failures"]} == per_failure
    # The table names the bias.
    table = run(["triage", scenario.plan_id], scenario.settings)
    assert table.returncode == 0, table.stderr
    assert "likely common causes" in table.stdout and "bias" in table.stdout
    assert f"detector={BAD_DETECTOR}" in table.stdout


def test_suspects_rank_the_corrupted_bias_first(scenario: Scenario) -> None:
    graph = scenario.graph
    calexps = {
        n: json.loads(a["data_id"])["detector"]
        for n, a in graph.nodes(data=True)
        if a["kind"] == "dataset" and a["name"] == "calexp"
    }
    bad = sorted(n for n, d in calexps.items() if d == BAD_DETECTOR)
    good = sorted(n for n, d in calexps.items() if d != BAD_DETECTOR)
    args = ["suspects", *(x for b in bad for x in ("--bad", b)), *(x for g in good for x in ("--good", g))]
    answer = _cli_json(scenario, *args, "--limit", "1000")
    expected = _ranked(graph, bad, good)
    assert _as_ranking(answer["suspects"]) == _as_ranking(expected)
    first = answer["suspects"][0]
    assert first["id"] == _bias(graph, BAD_DETECTOR)
    assert (first["bad"], first["bad_total"], first["good"], first["good_total"]) == (
        len(bad),
        len(bad),
        0,
        len(good),
    )
    sampled = _cli_json(scenario, *args, "--limit", "1000", "--sample", "1")
    assert sorted(sampled["bad"]) == bad and sorted(sampled["good"]) == good
    assert _as_ranking(sampled["suspects"]) == _as_ranking(_ranked(graph, bad[:1], good[:1]))
    # Named by plan, type and dimension values, with the default comparison: the plan's other
    # existing calexps (those of the bad detector were never made).
    by_values = _cli_json(
        scenario,
        "suspects",
        "--plan",
        scenario.plan_id,
        "--type",
        "calexp",
        "--bad-at",
        f"detector={BAD_DETECTOR}",
    )
    assert sorted(by_values["bad"]) == bad and by_values["good_by_default"]
    made = sorted(n for n in good if graph.nodes[n]["exists"])
    assert sorted(by_values["good"]) == made
    assert _as_ranking(by_values["suspects"]) == _as_ranking(_ranked(graph, bad, made)[:10])
    table = run(
        ["suspects", "--plan", scenario.plan_id, "--type", "calexp", "--bad-at", "detector=1"],
        scenario.settings,
    )
    assert table.returncode == 0, table.stderr
    first_row = next(line for line in table.stdout.splitlines() if re.match(r"\W*1\W", line))
    assert "bias" in first_row and "2/2" in first_row


def test_suspects_of_deep_lineages_and_with_nothing_good(scenario: Scenario) -> None:
    graph = scenario.graph
    coadds = sorted(
        n for n, a in graph.nodes(data=True) if a["kind"] == "dataset" and a["name"] == "deepCoadd"
    )
    bad, good = coadds[:3], coadds[3:]
    args = ["suspects", *(x for b in bad for x in ("--bad", b)), "--limit", "100000"]
    answer = _cli_json(scenario, *args, *(x for g in good for x in ("--good", g)))
    assert _as_ranking(answer["suspects"]) == _as_ranking(_ranked(graph, bad, good))
    # No coadd was made (all blocked): by default nothing is good, and the rank is by bad support.
    alone = _cli_json(scenario, *args)
    assert alone["good"] == [] and alone["good_by_default"]
    assert _as_ranking(alone["suspects"]) == _as_ranking(_ranked(graph, bad, []))
    assert all(s["good_total"] == 0 for s in alone["suspects"])


def test_cypher_is_printed_not_run(scenario: Scenario) -> None:
    done = run(["triage", scenario.plan_id, "--cypher"], scenario.settings)
    assert done.returncode == 0, done.stderr
    for name in ("triage_failures", "triage_blocked", "triage_causes"):
        assert f"// {name}:" in done.stdout
    assert f':params {{plan_id: "{scenario.plan_id}"' in done.stdout
    done = run(
        ["suspects", "--plan", scenario.plan_id, "--type", "calexp", "--bad-at", "detector=1", "--cypher"],
        scenario.settings,
    )
    assert done.returncode == 0, done.stderr
    assert "// suspects_scores:" in done.stdout and ":params {bad: [" in done.stdout


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["triage", "{plan}x"], "no plan '{plan}x' is stored", "did you mean '{plan}'"),
        (["triage", "{plan}", "--execution", "nope"], "there is no execution 'nope'", "execution ids"),
        (["suspects", "--bad", "0123456789abcdef"], "there is no dataset '0123456789abcdef'", ""),
        (
            ["suspects", "--plan", "{plan}", "--type", "calexp", "--bad-at", "detector=9"],
            "no calexp dataset",
            "",
        ),
    ],
)
def test_bad_input_is_one_line_with_a_hint(
    scenario: Scenario, args: list[str], message: str, hint: str
) -> None:
    done = run([a.format(plan=scenario.plan_id) for a in args], scenario.settings)
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr  # the error, then its hint
    assert message.format(plan=scenario.plan_id) in done.stderr
    assert hint.format(plan=scenario.plan_id) in done.stderr


def test_triage_of_one_execution_among_several(scenario: Scenario, store: GraphStore) -> None:
    """Run last: a second run of the plan, the bias still broken, fails the same quanta again."""
    again = run(["run", "--plan", scenario.plan_id, "-j", "2"], scenario.settings)
    assert again.returncode == 1, again.stdout + again.stderr
    executions = rows(
        store, "MATCH (e:Execution {plan_id: $p}) RETURN e.id AS id ORDER BY e.started", p=scenario.plan_id
    )
    first, second = (e["id"] for e in executions)
    assert first == scenario.execution_id
    now = _cli_json(scenario, "triage", scenario.plan_id)
    of_first = _cli_json(scenario, "triage", scenario.plan_id, "--execution", first)
    for answer, execution, attempt in ((now, second, 2), (of_first, first, 1)):
        [group] = answer["groups"]
        assert group["example"]["execution_id"] == execution and group["example"]["attempt"] == attempt
        assert group["causes"][0]["name"] == "bias"
    assert of_first["groups"][0]["quanta"] == now["groups"][0]["quanta"]
