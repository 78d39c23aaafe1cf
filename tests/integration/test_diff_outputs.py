"""``provgraph diff-outputs``: which outputs changed between two executions, and why (issue 21 item 6).

The scenario of issue 21: a bias was bad (100 counts too high: in range, so the demo isr
accepts it and every output is made) when the plan ran; it is fixed, and its impact rerun
into a new run (``plan --rerun-of --impact-of``). ``diff-outputs`` between the two
executions must name the bias as the cause of every changed output, and the changed outputs
must be exactly those of its downstream whose files differ: checked against the files
themselves and a networkx walk of the plan read back with plain Cypher, sharing no code with
the implementation. Then a config override on one task, run as a new plan: the cause is
that task's config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import networkx as nx
import numpy as np
import pytest

from provenance_graph.demo import CALIB_RUN, make_demo_repo
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from tests.integration.test_cli import run
from tests.integration.test_operations import _read_graph
from tests.integration.test_rerun import BAD_BIAS, PIPELINE, ok, set_bias
from tests.support.graph_checks import rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, neo4j_settings: ConnectionSettings, store: GraphStore
) -> Iterator[dict[str, str]]:
    """A run with a bias 100 counts too high, then the fixed bias's impact rerun into a new run."""
    repo = tmp_path_factory.mktemp("diff") / "repo"
    make_demo_repo(repo, visits=1, detectors=2).close()
    prefix = f"df{tmp_path_factory.getbasetemp().name[-6:]}".replace("-", "")
    names = {"repo": str(repo), "bad": f"{prefix}-bad", "fix": f"{prefix}-fix", "prefix": prefix}
    with Repository.open(repo) as opened:
        good = opened.get(opened.ref("bias", BAD_BIAS, CALIB_RUN))
    set_bias(repo, np.asarray(good) + 100.0)
    ok(
        ["run", PIPELINE, "-b", str(repo), "--output-run", f"{prefix}/bad", "--plan-id", names["bad"]],
        neo4j_settings,
    )
    set_bias(repo, good)
    ok(
        ["plan", "--rerun-of", names["bad"], "--impact-of", "bias instrument=DemoCam detector=1",
         "--output-run", f"{prefix}/fix", "--plan-id", names["fix"]],
        neo4j_settings,
    )  # fmt: skip
    ok(["run", "--plan", names["fix"]], neo4j_settings)
    yield names
    for row in store.read("plan_list", include_incomplete=True):  # newest (the reruns) first
        if row["id"].startswith(prefix):
            delete_plan(store, row["id"])


def _diff(settings: ConnectionSettings, *args: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(ok(["diff-outputs", *args, "--json"], settings))
    return answer


def _file_sha(uri: str) -> str:
    return "sha256:" + hashlib.sha256(Path(unquote(urlparse(uri).path)).read_bytes()).hexdigest()


def _outputs(store: GraphStore, plan_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """A plan's existing outputs by (type, data ID), each with the sha256 of its file as it is now."""
    found = rows(
        store,
        "MATCH (:Quantum {plan_id: $p})-[:PRODUCES]->(d:Dataset) WHERE d.exists "
        "RETURN d.id AS id, d.dataset_type AS type, d.data_id AS data_id, d.uri AS uri",
        p=plan_id,
    )
    return {(r["type"], r["data_id"]): {**r, "sha": _file_sha(r["uri"])} for r in found}


def _key(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["dataset_type"], json.dumps(entry["data_id"], sort_keys=True, separators=(",", ":"))


def test_the_fixed_bias_is_named_the_cause_of_every_changed_output(
    scenario: dict[str, str], neo4j_settings: ConnectionSettings, store: GraphStore
) -> None:
    answer = _diff(neo4j_settings, scenario["bad"], scenario["fix"])  # plan ids: their latest execution
    graph = _read_graph(store, scenario["bad"])
    bias = next(
        n for n, a in graph.nodes(data=True) if a["name"] == "bias" and json.loads(a["data_id"]) == BAD_BIAS
    )
    downstream = {
        (graph.nodes[n]["name"], graph.nodes[n]["data_id"])
        for n in nx.descendants(graph, bias)
        if graph.nodes[n]["kind"] == "dataset"
    }
    # What the files say: the rerun remade the bias's downstream; those whose bytes differ changed.
    bad, fixed = _outputs(store, scenario["bad"]), _outputs(store, scenario["fix"])
    assert fixed.keys() == downstream
    differ = {k for k in fixed if fixed[k]["sha"] != bad[k]["sha"]}
    assert {k for k in differ if k[0] == "postISRCCD"} == {k for k in downstream if k[0] == "postISRCCD"}
    changed = {_key(c) for c in answer["changed"]}
    assert changed == differ
    assert changed <= downstream
    for c in answer["changed"]:
        assert [(x["kind"], x["name"], x["data_id"], x["dataset_ids"]) for x in c["causes"]] == [
            ("input", "bias", BAD_BIAS, [bias])
        ], c
        [cause] = c["causes"]
        assert cause["a"] != cause["b"] and cause["a"].startswith("sha256:")
    assert answer["causes"][0]["outputs"] == len(changed)
    # Every other output is the same: reused (one dataset) or remade identically.
    assert answer["only_a"] == [] and answer["only_b"] == []
    assert answer["same"] == len(bad) - len(changed)
    assert answer["a"]["plans"] == [scenario["bad"]]
    assert answer["b"]["plans"] == [scenario["fix"], scenario["bad"]]
    # The table says the same, and execution ids work as plan ids do.
    table = ok(["diff-outputs", answer["a"]["execution_id"], answer["b"]["execution_id"]], neo4j_settings)
    assert f"{len(changed)} output(s) changed" in table and "bias" in table and "detector=1" in table


def test_the_attempts_record_the_bias_they_read(scenario: dict[str, str], store: GraphStore) -> None:
    found = rows(
        store,
        "MATCH (:Quantum {plan_id: $p, task: 'isr'})-[:HAS_ATTEMPT]->(a:Attempt {status: 'succeeded'}) "
        "RETURN a.input_checksums_json AS sums",
        p=scenario["fix"],
    )
    assert found
    for row in found:
        read = json.loads(row["sums"])
        assert read and all(v.startswith("sha256:") for v in read.values())


def test_a_config_override_is_named_the_cause(
    scenario: dict[str, str], neo4j_settings: ConnectionSettings, store: GraphStore
) -> None:
    prefix, repo = scenario["prefix"], scenario["repo"]
    override = f"{prefix}-cfg"
    ok(
        ["run", PIPELINE, "-b", repo, "--output-run", f"{prefix}/cfg", "--plan-id", override,
         "-c", "calibrate:threshold=6.0"],
        neo4j_settings,
    )  # fmt: skip
    answer = _diff(neo4j_settings, scenario["fix"], override)
    assert answer["changed"]
    graph = _read_graph(store, override)
    calibrate = [n for n, a in graph.nodes(data=True) if a["kind"] == "quantum" and a["name"] == "calibrate"]
    downstream = {
        (graph.nodes[n]["name"], graph.nodes[n]["data_id"])
        for q in calibrate
        for n in nx.descendants(graph, q)
        if graph.nodes[n]["kind"] == "dataset"
    }
    assert {_key(c) for c in answer["changed"]} <= downstream
    for c in answer["changed"]:
        assert [(x["kind"], x["name"]) for x in c["causes"]] == [("config", "calibrate")], c


def test_an_unknown_execution_is_one_line_with_a_hint(
    scenario: dict[str, str], neo4j_settings: ConnectionSettings
) -> None:
    done = run(["diff-outputs", scenario["bad"], "no-such-execution"], neo4j_settings)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "no-such-execution" in done.stderr and "plans list" in done.stderr


def test_cypher_is_printed_not_run(scenario: dict[str, str], neo4j_settings: ConnectionSettings) -> None:
    said = ok(["diff-outputs", scenario["bad"], scenario["fix"], "--cypher"], neo4j_settings)
    assert said.count("// diff_lineage:") == 2 and ":params {" in said
