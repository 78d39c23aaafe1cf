"""``provgraph plan --rerun-of``: rerun what failed, or what a bad input touched, into a new run.

The scenario of issue 21: a bias was bad when the plan ran; it is fixed; the operator
reruns everything downstream of it (``--impact-of``) into a new output run, reusing every
other output of the old run. Checked by the files' checksums against a run that had the
good bias from the start, and by lineage walking from the new outputs into the old run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance_graph.demo import CALIB_RUN, demo_pipeline_path, make_demo_repo
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, read_plan
from provenance_graph.store.plan_read import read_plan_header
from tests.integration.test_cli import run
from tests.support.graph_checks import file_checksums

pytestmark = pytest.mark.slow

PIPELINE = str(demo_pipeline_path())
BAD_BIAS = {"instrument": "DemoCam", "detector": 1}


def set_bias(repo: Path, image: Any) -> Any:
    """Replace detector 1's bias by ``image`` (a bad calibration, or its fix); return the one it had."""
    with Repository.open(repo) as opened:
        ref = opened.ref("bias", BAD_BIAS, CALIB_RUN)
        before = opened.get(ref)
        opened.remove(ref)
        opened.put(image, ref)
    return before


def _flat(text: str) -> str:
    """A usage error's words, without the box and line breaks rich draws around them."""
    return " ".join(text.replace("│", " ").split())


def ok(args: list[str], settings: ConnectionSettings) -> str:
    done = run(args, settings)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, neo4j_settings: ConnectionSettings, store: GraphStore
) -> Iterator[dict[str, str]]:
    """A clean run, then a run with a bad bias (fixed afterwards), of one small demo repository."""
    repo = tmp_path_factory.mktemp("rerun") / "repo"
    make_demo_repo(repo, visits=1, detectors=2).close()
    prefix = f"rr{tmp_path_factory.getbasetemp().name[-6:]}".replace("-", "")
    names = {"repo": str(repo), "clean": f"{prefix}-clean", "bad": f"{prefix}-bad", "prefix": prefix}
    ok(
        ["run", PIPELINE, "-b", str(repo), "--output-run", f"{prefix}/clean", "--plan-id", names["clean"]],
        neo4j_settings,
    )
    with Repository.open(repo) as opened:
        good = opened.get(opened.ref("bias", BAD_BIAS, CALIB_RUN))
    set_bias(repo, np.asarray(good) + 500.0)
    ok(
        ["run", PIPELINE, "-b", str(repo), "--output-run", f"{prefix}/bad", "--plan-id", names["bad"]],
        neo4j_settings,
    )
    set_bias(repo, good)  # the bias is fixed; the bad run's outputs downstream of it are not
    yield names
    for row in store.read("plan_list", include_incomplete=True):  # newest (the reruns) first
        if row["id"].startswith(prefix):
            delete_plan(store, row["id"])


def test_a_rerun_of_the_impact_of_a_fixed_bias_remakes_exactly_its_outputs_and_reuses_the_rest(
    scenario: dict[str, str], neo4j_settings: ConnectionSettings, store: GraphStore
) -> None:
    repo, prefix = Path(scenario["repo"]), scenario["prefix"]
    new_plan = f"{prefix}-fix"
    said = ok(
        [
            "plan",
            "--rerun-of",
            scenario["bad"],
            "--impact-of",
            "bias instrument=DemoCam detector=1",
            "--output-run",
            f"{prefix}/fix",
            "--plan-id",
            new_plan,
        ],
        neo4j_settings,
    )
    assert f"rerun of:    {scenario['bad']} (impact-of bias instrument=DemoCam detector=1)" in said
    assert f"provgraph run --plan {new_plan}" in said
    ran = ok(["run", "--plan", new_plan], neo4j_settings)

    clean = file_checksums(repo / f"{prefix}/clean")
    bad = file_checksums(repo / f"{prefix}/bad")
    fixed = file_checksums(repo / f"{prefix}/fix")
    assert clean.keys() == bad.keys() and fixed.keys() < clean.keys()
    # What the bad bias touched, by an independent walk of the old plan: its consumers, and on down.
    old = read_plan(store, scenario["bad"])
    bias_id = next(
        i
        for i, r in old.datasets.items()
        if r.dataset_type.name == "bias" and r.data_id.to_dict().get("detector") == 1
    )
    touched: set[str] = set()
    todo = [q.id for q in old.consumers(bias_id)]
    while todo:
        qid = todo.pop()
        if qid not in touched:
            touched.add(qid)
            todo += [c.id for ref in old.quanta[qid].outputs for c in old.consumers(ref.id)]
    rerun = read_plan(store, new_plan)
    assert {(q.task_label, q.data_id.key()) for q in rerun.quanta.values()} == {
        (old.quanta[q].task_label, old.quanta[q].data_id.key()) for q in touched
    }
    # The rerun's outputs are the clean run's, file for file, and they differ from the bad ones.
    assert fixed, ran
    assert all(fixed[f] == clean[f] for f in fixed)
    assert any(bad[f] != clean[f] for f in fixed if f.startswith("postISRCCD/"))
    # Everything else the bad run made was good, and the rerun read it where it is.
    assert all(bad[f] == clean[f] for f in clean.keys() - fixed.keys())
    reused = [r for r in rerun.initial_inputs() if r.run == f"{prefix}/bad"]
    assert reused
    # The new plan says where it came from, and lineage walks through the reused outputs.
    metadata = read_plan_header(store, new_plan).metadata
    assert metadata["rerun_of"] == scenario["bad"]
    assert metadata["rerun_reason"] == "impact-of bias instrument=DemoCam detector=1"
    table = next(r for r in rerun.final_outputs() if r.dataset_type.name == "forced_src")
    walked = json.loads(ok(["query", "lineage", table.id, "--json"], neo4j_settings))
    runs = {d["run"] for d in walked["datasets"]}
    assert {f"{prefix}/fix", f"{prefix}/bad"} <= runs


def test_a_rerun_refuses_an_unknown_dataset_and_an_empty_selection(
    scenario: dict[str, str], neo4j_settings: ConnectionSettings
) -> None:
    unknown = run(["plan", "--rerun-of", scenario["bad"], "--impact-of", "bias detector=7"], neo4j_settings)
    assert unknown.returncode != 0
    assert "neither reads nor writes a dataset 'bias detector=7'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    nothing = run(["plan", "--rerun-of", scenario["clean"], "--failed"], neo4j_settings)
    assert nothing.returncode != 0 and "nothing that failed selects" in nothing.stderr
    stray = run(["plan", PIPELINE, "--failed"], neo4j_settings)
    assert stray.returncode != 0 and "go with --rerun-of" in _flat(stray.stderr)
    other = run(["plan", "--rerun-of", scenario["bad"], "--failed", "-o", "u/me/x"], neo4j_settings)
    assert other.returncode != 0 and "takes -o from PLAN" in _flat(other.stderr)
    into_clean = run(
        ["plan", "--rerun-of", scenario["bad"], "--failed", "--impact-of", "bias instrument=DemoCam detector=1",
         "--output-run", f"{scenario['prefix']}/clean"],
        neo4j_settings,
    )  # fmt: skip
    assert into_clean.returncode != 0 and "already holds" in into_clean.stderr
    assert "--clobber-outputs" in into_clean.stderr
