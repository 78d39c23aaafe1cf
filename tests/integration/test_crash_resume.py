"""A plan write killed with ``kill -9`` leaves nothing visible, and the next write resumes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from provenance_graph.errors import PlanNotFoundError
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, list_plans, plan_summary, read_plan, write_plan
from provenance_graph.synthetic import drp_plan

CHILD = textwrap.dedent(
    """
    import sys
    from provenance_graph.store import BatchSizes, open_store, write_plan
    from provenance_graph.synthetic import drp_plan

    plan_id, ns = sys.argv[1], sys.argv[2]
    graph = drp_plan(6, 20, plan_id=plan_id, output_run=ns + "/out", raw_run=ns + "/raw", calib_run=ns + "/calib")

    def progress(phase, done, total):
        print(phase, done, total, flush=True)

    with open_store() as store:
        write_plan(store, graph, batches=BatchSizes(datasets=50, quanta=25), progress=progress)
    print("finished", flush=True)
    """
)


def _kill_during(settings: ConnectionSettings, plan_id: str, ns: str, phase: str, after: int) -> None:
    env = {
        **os.environ,
        "NEO4J_URI": settings.uri,
        "NEO4J_USER": settings.user,
        "NEO4J_PASSWORD": settings.password.get_secret_value(),
        "NEO4J_DATABASE": settings.database,
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, plan_id, ns], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    seen = 0
    for line in child.stdout:
        if line.startswith(phase):
            seen += 1
            if seen >= after:
                child.send_signal(signal.SIGKILL)
                break
        assert not line.startswith("finished"), f"the write finished before the kill point {phase}#{after}"
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phase", "after"), [("inputs", 1), ("outputs", 2), ("quanta", 1), ("quanta", 12), ("quanta", 24)]
)
def test_kill_9_then_rerun_leaves_exactly_one_complete_plan(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, phase: str, after: int
) -> None:
    plan_id = f"{namespace}-killed"
    _kill_during(neo4j_settings, plan_id, namespace, phase, after)

    # Nothing of the half-written plan is visible.
    assert plan_id not in [p.id for p in list_plans(store)]
    assert plan_id in [p.id for p in list_plans(store, include_incomplete=True)]
    with pytest.raises(PlanNotFoundError, match="incomplete"):
        read_plan(store, plan_id)
    with pytest.raises(PlanNotFoundError, match="incomplete"):
        plan_summary(store, plan_id)

    # The rerun takes over the dead writer's plan and completes it.
    graph = drp_plan(
        6,
        20,
        plan_id=plan_id,
        output_run=f"{namespace}/out",
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    result = write_plan(store, graph)
    assert result.outcome == "resumed"
    assert [p.id for p in list_plans(store)].count(plan_id) == 1
    [counts] = store.read("plan_element_counts", plan_id=plan_id)
    assert (counts["quanta"], counts["datasets"], counts["edges"]) == (
        len(graph),
        len(graph.datasets),
        graph.edge_count,
    )
    with store.session() as session:
        record = session.run(
            "MATCH (d:Dataset) WHERE d.run STARTS WITH $ns "
            "RETURN count(d) AS datasets, max(COUNT { (d)<-[:PRODUCES]-() }) AS max_producers",
            ns=namespace,
        ).single()
    assert record is not None
    assert record["datasets"] == len(graph.datasets), "no stray or duplicated dataset nodes"
    assert record["max_producers"] == 1
    assert read_plan(store, plan_id) == graph
