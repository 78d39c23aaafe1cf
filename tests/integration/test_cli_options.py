"""pipetask's words where the graph answers: one data query everywhere, ``-b`` for a stored plan,
and ``-c`` overrides that are recorded, shown on rerun and changed only with ``--change-config``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.model import PlanGraph
from provenance_graph.preflight import Expression
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from provenance_graph.store.execution import last_options
from provenance_graph.store.plan_read import read_plan_header
from tests.integration.test_cli import run
from tests.integration.test_viz import svg_nodes

PIPELINE = str(demo_pipeline_path())


@pytest.fixture
def planned(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> PlanGraph:
    """A stored plan of the demo pipeline over 2 visits x 3 detectors, made with pipetask's words."""
    repo = tmp_path / "repo"
    make_demo_repo(repo, 2, 3, write_pixels=False).close()
    plan_id = f"{namespace}-where"
    done = run(
        ["plan", "-p", PIPELINE, "-b", str(repo), "--plan-id", plan_id, "--output-run", f"{namespace}/out"],
        neo4j_settings,
    )
    assert done.returncode == 0, done.stderr
    return read_plan(store, plan_id)


def _admitted(graph: PlanGraph, query: str, task: str | None = None) -> list[str]:
    expression = Expression(query)
    return sorted(
        q.id
        for q in graph.quanta.values()
        if expression.admits(q.data_id.to_dict()) and task in (None, q.task_label)
    )


@pytest.mark.parametrize(
    "query",
    ["visit = 1 AND detector IN (0, 2)", "visit=1", "detector != 1 AND NOT visit = 2", "visit IN (2..9)"],
)
def test_query_subgraph_selects_quanta_by_the_data_query_of_plan(
    planned: PlanGraph, neo4j_settings: ConnectionSettings, query: str
) -> None:
    expected = _admitted(planned, query)
    assert 0 < len(expected) < len(planned)
    for spelling in ("--where", "-d", "--data-query"):
        done = run(["query", "subgraph", planned.plan.id, spelling, query, "--json"], neo4j_settings)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["quantum_ids"] == expected


def test_viz_plan_and_query_prov_take_the_data_query_too(
    planned: PlanGraph, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    query = "visit = 2 AND detector != 0"
    chosen = _admitted(planned, query, "isr")
    others = sorted(q.id for q in planned.quanta.values() if q.task_label == "isr" and q.id not in chosen)
    assert chosen and others
    picture = tmp_path / "part.svg"
    done = run(
        ["viz", "plan", planned.plan.id, "--task", "isr", "-d", query, "-o", str(picture)], neo4j_settings
    )
    assert done.returncode == 0, done.stderr
    assert {n[2:] for n in svg_nodes(picture) if n.startswith("q:")} == set(chosen)
    prov = tmp_path / "prov.json"
    done = run(
        ["query", "prov", planned.plan.id, "--task", "isr", "--where", query, "-o", str(prov)], neo4j_settings
    )
    assert done.returncode == 0, done.stderr
    text = prov.read_text()
    assert all(q in text for q in chosen) and not any(q in text for q in others)


def test_cypher_of_a_subgraph_says_the_data_query_is_applied_after(
    planned: PlanGraph, neo4j_settings: ConnectionSettings
) -> None:
    done = run(["query", "subgraph", planned.plan.id, "-d", "visit = 1", "--cypher"], neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert "// then keep the quanta whose data_id the data query admits: visit = 1" in done.stdout


def test_config_overrides_are_recorded_shown_on_rerun_and_changed_only_with_change_config(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    make_demo_repo(repo, 2, 2).close()
    plan_id = f"{namespace}-config"
    fail = "calibrate:fail_on=[{visit: 2, detector: 1}]"
    planning = [
        "run",
        "-p",
        PIPELINE,
        "-b",
        str(repo),
        "--plan-id",
        plan_id,
        "--output-run",
        f"{namespace}/out",
    ]
    first = run([*planning, "-c", fail], neo4j_settings)
    assert first.returncode == 1, first.stdout + first.stderr
    # The plan records what it was made with; every rerun says so.
    assert json.loads(str(read_plan_header(store, plan_id).metadata["config_overrides"])) == [fail]
    again = run(["run", "--plan", plan_id], neo4j_settings)
    assert again.returncode == 1
    assert f"config: plan '{plan_id}' was made with -c '{fail}'" in again.stderr

    # Another -c is refused until the change is asked for; nothing ran meanwhile.
    executions = _executions(store, plan_id)
    changed = run(["run", "--plan", plan_id, "-c", "calibrate:fail_on=[]"], neo4j_settings)
    assert changed.returncode == 1 and "Traceback" not in changed.stderr
    assert changed.stderr.startswith(f"error: plan '{plan_id}' last ran with no -c overrides"), changed.stderr
    assert "--change-config" in changed.stderr
    assert _executions(store, plan_id) == executions
    fixed = run(["run", "--plan", plan_id, "--change-config", "-c", "calibrate:fail_on=[]"], neo4j_settings)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (last_options(store, plan_id) or {})["config"] == {"calibrate": {"fail_on": []}}

    # Kept for later reruns, and shown; --change-config alone drops them.
    kept = run(["run", "--plan", plan_id, "-b", str(repo)], neo4j_settings)
    assert kept.returncode == 0, kept.stderr
    assert "config: this run overrides -c 'calibrate:fail_on=[]'" in kept.stderr
    dropped = run(["run", "--plan", plan_id, "--change-config"], neo4j_settings)
    assert dropped.returncode == 0, dropped.stderr
    assert "this run overrides" not in dropped.stderr
    assert (last_options(store, plan_id) or {})["config"] == {}


def _executions(store: GraphStore, plan_id: str) -> int:
    with store.driver.session(database=store.settings.database) as session:
        record = session.run("MATCH (e:Execution {plan_id: $p}) RETURN count(e) AS n", p=plan_id).single()
    assert record is not None
    return int(record["n"])
