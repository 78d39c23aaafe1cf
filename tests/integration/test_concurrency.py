"""Several activators at once on one repository and one database.

Five ``provgraph run PIPELINE`` commands start together on the same repository:
three plan and run three different plans (different output runs, the same raw
inputs), and two race to plan and run one same plan. Afterwards every command has
succeeded, the graph holds each plan once with no duplicated node, every dataset has
at most one producer, no quantum ran to success twice (the racing pair shared the
work), and every output run holds the same files, byte for byte.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.support.graph_checks import file_checksums, rows

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

WHERE = "instrument = 'DemoCam'"


def test_activators_at_once_on_different_plans_and_racing_on_one(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo, 2, 3).close()
    with Repository.open(repo) as repository:
        raws = repository.count().get("raw", 0)
    different = [(f"{namespace}-p{i}", f"{namespace}/run{i}") for i in range(3)]
    racing = [(f"{namespace}-same", f"{namespace}/same")] * 2
    env = {**os.environ, **_env_for(neo4j_settings)}
    plan_and_run = [PROVGRAPH, "run", str(demo_pipeline_path()), "--repo", str(repo), "--where", WHERE]
    children = [
        subprocess.Popen(
            [*plan_and_run, "--plan-id", plan_id, "--output-run", run, "-j", "1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for plan_id, run in different + racing
    ]
    outputs = [child.communicate(timeout=600) for child in children]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, out + err
    reliability.count("activators run at once", len(children))

    plans = dict(different + racing[:1])
    duplicates = 0
    for plan_id, run in plans.items():
        graph = read_plan(store, plan_id)
        [found] = rows(
            store,
            "MATCH (p:Plan {id: $p}) WITH count(p) AS plans "
            "MATCH (q:Quantum {plan_id: $p}) "
            "OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {status: 'succeeded'}) "
            "WITH plans, q, count(a) AS successes "
            "RETURN plans, count(q) AS quanta, collect(DISTINCT q.status) AS statuses, "
            "       sum(CASE WHEN successes > 1 THEN 1 ELSE 0 END) AS twice, "
            "       sum(CASE WHEN successes = 0 THEN 1 ELSE 0 END) AS never",
            p=plan_id,
        )
        [datasets] = rows(
            store,
            "MATCH (d:Dataset {run: $run}) "
            "RETURN count(d) AS nodes, count(DISTINCT d.id) AS ids, "
            "       max(COUNT { (d)<-[:PRODUCES]-() }) AS max_producers",
            run=run,
        )
        produced = sum(len(q.outputs) for q in graph.quanta.values())
        duplicates += found["plans"] - 1 + found["twice"] + datasets["nodes"] - produced
        assert (found["plans"], found["quanta"], found["statuses"]) == (1, len(graph), ["succeeded"])
        assert found["twice"] == 0, f"{found['twice']} quanta of {plan_id} succeeded twice"
        assert found["never"] == 0
        assert (datasets["nodes"], datasets["ids"], datasets["max_producers"]) == (produced, produced, 1)
    # The raw inputs every plan reads are one node each, however many plans merged them at once.
    [shared] = rows(
        store,
        "MATCH (q:Quantum)-[:CONSUMES]->(d:Dataset {dataset_type: 'raw'}) WHERE q.plan_id IN $plans "
        "RETURN count(DISTINCT d) AS nodes, count(DISTINCT [d.run, d.data_id]) AS datasets",
        plans=list(plans),
    )
    assert shared["nodes"] == shared["datasets"] == raws
    duplicates += shared["nodes"] - shared["datasets"]
    reliability.count("duplicates found", duplicates)
    assert duplicates == 0

    # The racing pair shared one plan's work, and every run wrote the same files.
    ran = [
        int(m.group(1))
        for (plan_id, _run), (out, _err) in zip(different + racing, outputs, strict=True)
        if plan_id == racing[0][0]
        for m in [re.search(r"^this run: +(\d+) succeeded", out, re.MULTILINE)]
        if m
    ]
    assert sum(ran) == len(read_plan(store, racing[0][0])), ran
    reference = file_checksums(repo / different[0][1])
    assert reference
    for run in list(plans.values())[1:]:
        assert file_checksums(repo / run) == reference
