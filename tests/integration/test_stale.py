"""``provgraph query stale``: what a changed config would make differently (issue 21 item 5).

A run records each task's config and code digests with its execution; a config override on
one task then makes exactly that task's outputs, and everything made from them, stale.
Checked against an independent walk of the plan read back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, read_plan
from tests.integration.test_cli import run
from tests.support.graph_checks import rows

pytestmark = pytest.mark.slow

PIPELINE = str(demo_pipeline_path())


@pytest.fixture(scope="module")
def ran(
    demo_repo: Path,
    neo4j_settings: ConnectionSettings,
    store: GraphStore,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The demo plan, run once (the module's demo repository: 1 visit x 2 detectors)."""
    plan_id = f"stale{tmp_path_factory.getbasetemp().name[-4:]}".replace("-", "")
    done = run(
        ["run", PIPELINE, "-b", str(demo_repo), "--output-run", f"{plan_id}/run", "--plan-id", plan_id],
        neo4j_settings,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield plan_id
    delete_plan(store, plan_id)


def _stale(args: list[str], settings: ConnectionSettings) -> dict[str, object]:
    done = run(["query", "stale", *args, "--json"], settings)
    assert done.returncode == 0, done.stdout + done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_an_execution_records_its_software_and_each_tasks_versions(ran: str, store: GraphStore) -> None:
    [execution] = rows(
        store, "MATCH (e:Execution {plan_id: $p}) RETURN e.software_json AS s, e.tasks_json AS t", p=ran
    )
    software, tasks = json.loads(execution["s"]), json.loads(execution["t"])
    assert {"python", "provenance-graph", "neo4j"} <= software.keys()
    graph = read_plan(store, ran)
    assert tasks.keys() == {q.task_label for q in graph.quanta.values()}
    for versions in tasks.values():
        assert len(versions["config"]) == 64 and len(versions["source"]) == 64
        assert versions["package"].startswith("provenance-graph ")


def test_nothing_is_stale_until_a_config_changes_then_that_task_and_its_downstream(
    ran: str, neo4j_settings: ConnectionSettings, store: GraphStore
) -> None:
    unchanged = _stale([ran], neo4j_settings)
    assert unchanged["stale"] == [] and unchanged["unknown"] == 0 and unchanged["outputs"]

    changed = _stale([ran, "-c", "calibrate:threshold=6.0"], neo4j_settings)
    stale = {(s["dataset_type"], json.dumps(s["data_id"], sort_keys=True)) for s in changed["stale"]}  # type: ignore[index, union-attr]
    # The expected answer, walked independently: calibrate's outputs, and on down the plan.
    graph = read_plan(store, ran)
    todo = [r.id for q in graph.quanta.values() if q.task_label == "calibrate" for r in q.outputs]
    expected: set[str] = set()
    while todo:
        dataset_id = todo.pop()
        if dataset_id not in expected:
            expected.add(dataset_id)
            todo += [r.id for q in graph.consumers(dataset_id) for r in q.outputs]
    wanted = {
        (graph.datasets[d].dataset_type.name, json.dumps(graph.datasets[d].data_id.to_dict(), sort_keys=True))
        for d in expected
    }
    assert stale == wanted
    reasons = {r for s in changed["stale"] for r in s["reasons"]}  # type: ignore[union-attr, index]
    assert "config of calibrate changed" in reasons
    assert any(r.startswith("made from stale calexp (") for r in reasons)

    table = run(["query", "stale", ran, "-c", "calibrate:threshold=6.0"], neo4j_settings)
    assert (
        table.returncode == 0 and f"{len(wanted)} of {changed['outputs']} outputs are stale" in table.stdout
    )
