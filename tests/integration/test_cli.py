"""The ``provgraph`` command as a user runs it: the demo, plan inspection, and clean errors."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance_graph.model import DataId, PlanGraph
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, list_plans, read_plan
from tests.support.drp import expected_counts

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))


def _env_for(settings: ConnectionSettings) -> dict[str, str]:
    if settings.managed:
        return {}
    return {
        "NEO4J_URI": settings.uri,
        "NEO4J_USER": settings.user,
        "NEO4J_PASSWORD": settings.password.get_secret_value(),
        "NEO4J_DATABASE": settings.database,
    }


def run(args: list[str], settings: ConnectionSettings, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **_env_for(settings), **env}
    return subprocess.run(
        [PROVGRAPH, *args], capture_output=True, text=True, env=full_env, timeout=600, check=False
    )


def _upstream(graph: PlanGraph, dataset_id: str) -> tuple[set[str], set[str]]:
    """Quanta upstream of a dataset, and the pre-existing datasets they read (plain BFS)."""
    quanta: set[str] = set()
    inputs: set[str] = set()
    producer = graph.producer(dataset_id)
    stack = [producer.id] if producer else []
    while stack:
        quantum = graph.quanta[stack.pop()]
        if quantum.id in quanta:
            continue
        quanta.add(quantum.id)
        for ref in quantum.inputs:
            parent = graph.producer(ref.id)
            if parent is None:
                inputs.add(ref.id)
            else:
                stack.append(parent.id)
    return quanta, inputs


def _demo_labels() -> list[str]:
    from provenance_graph.demo.repo import demo_pipeline_path
    from provenance_graph.pipeline import Pipeline

    return list(Pipeline.from_file(demo_pipeline_path()).labels)


@pytest.fixture
def no_demo_plan(store: GraphStore) -> Iterator[None]:
    """No plan ``demo-drp`` (the demo's fixed id) before the test, nor after it.

    Other tests run the demo too (the docs' examples start from it), in any order on
    the pytest-xdist workers.
    """

    def delete() -> None:
        if "demo-drp" in {p.id for p in list_plans(store, include_incomplete=True)}:
            delete_plan(store, "demo-drp")

    delete()
    yield
    delete()


def test_demo_plans_runs_and_shows_a_coadds_provenance(
    store: GraphStore, neo4j_settings: ConnectionSettings, tmp_path: Path, no_demo_plan: None
) -> None:
    repo_path = tmp_path / "demo-repo"
    args = ["demo", "--visits", "3", "--detectors", "5", "--repo", str(repo_path)]
    done = run(args, neo4j_settings)
    assert done.returncode == 0, done.stderr
    with Repository.open(repo_path) as repo:
        counts = expected_counts(repo)
    expected = sum(counts.values())
    assert f"quanta: {expected}" in done.stdout
    assert "forcedPhotCcd" in done.stdout
    assert "note: isr: no raw" in done.stdout
    graph = read_plan(store, "demo-drp")
    assert graph.task_counts() == counts
    # One missing raw, one root-cause note; later tasks' drops name the task upstream.
    assert [n.kind.value for n in graph.notes if n.kind.value != "upstream"] == ["missing_input"]
    assert {n.upstream_task for n in graph.notes if n.kind.value == "upstream"} >= {"isr"}
    # It ran: every quantum succeeded, and the printed provenance is the coadd's real lineage.
    assert "Run: succeeded in" in done.stdout and f"({expected} succeeded)" in done.stdout
    with store.driver.session(database=store.settings.database) as session:
        statuses = session.run(
            "MATCH (q:Quantum {plan_id: 'demo-drp'}) RETURN collect(DISTINCT q.status) AS s"
        ).single(strict=True)["s"]
    assert statuses == ["succeeded"]
    coadd_line = next(line for line in done.stdout.splitlines() if line.startswith("Provenance of deepCoadd"))
    shown = coadd_line.removeprefix("Provenance of deepCoadd (").removesuffix("):")
    assert shown.startswith("skymap=demo tract=")  # the data ID's human form, which reads back
    [coadd] = [
        r
        for r in graph.datasets.values()
        if r.dataset_type.name == "deepCoadd" and r.data_id == DataId.parse(shown)
    ]
    quanta, inputs = _upstream(graph, coadd.id)
    raws = sum(1 for d in inputs if graph.datasets[d].dataset_type.name == "raw")
    assert f"  from      {raws} raw" in done.stdout.splitlines()
    isr = sum(1 for q in quanta if graph.quanta[q].task_label == "isr")
    assert f"  made by   isr: {isr} succeeded" in done.stdout.splitlines()
    assert isr == raws > 0
    # What a person reads, in order: the stored plan, then the run, then the lineage, whose
    # "made by" lines follow the pipeline's order.
    lines = done.stdout.splitlines()
    written = next(i for i, line in enumerate(lines) if line.startswith("Plan 'demo-drp' written"))
    ran = next(i for i, line in enumerate(lines) if line.startswith("Run: succeeded"))
    assert written < ran
    made_by = [line.split()[2].rstrip(":") for line in lines if line.startswith("  made by")]
    assert made_by == [label for label in _demo_labels() if label in made_by]
    assert "isr" in made_by and "assembleCoadd" in made_by
    if neo4j_settings.managed:
        assert "stop it with 'provgraph server stop'" in lines[-1]
        url = next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("Browser:"))
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
            assert "Neo4j Browser" in page.read().decode()
    again = run(args, neo4j_settings)
    assert again.returncode == 0, again.stderr
    shown = run(["plans", "show", "demo-drp"], neo4j_settings)
    assert shown.returncode == 0
    assert f"quanta: {expected}" in shown.stdout
    listed = run(["plans", "list"], neo4j_settings)
    assert "demo-drp" in listed.stdout


def test_errors_are_one_clear_message_without_traceback(neo4j_settings: ConnectionSettings) -> None:
    done = run(["plans", "show", "no-such-plan-anywhere"], neo4j_settings)
    assert done.returncode == 1
    assert "error: no plan 'no-such-plan-anywhere' is stored" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def list_plans_with(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROVGRAPH, "plans", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_no_server_is_explained() -> None:
    done = list_plans_with(NEO4J_URI="neo4j://127.0.0.1:1", NEO4J_PASSWORD="x")
    assert done.returncode == 1
    assert "no Neo4j server answers at neo4j://127.0.0.1:1" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.usefixtures("store")
def test_wrong_password_is_an_auth_error(neo4j_settings: ConnectionSettings) -> None:
    done = list_plans_with(
        NEO4J_URI=neo4j_settings.uri, NEO4J_PASSWORD="definitely-wrong", NEO4J_USER=neo4j_settings.user
    )
    assert done.returncode == 1
    assert "rejected user 'neo4j': wrong user name or password" in done.stderr
    assert "definitely-wrong" not in done.stderr
    assert "Traceback" not in done.stderr


def test_readme_python_example_runs(
    store: GraphStore, neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    snippet = readme.split("## From Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    env = (
        {}
        if neo4j_settings.managed
        else {
            "NEO4J_URI": neo4j_settings.uri,
            "NEO4J_USER": neo4j_settings.user,
            "NEO4J_PASSWORD": neo4j_settings.password.get_secret_value(),
            "NEO4J_DATABASE": neo4j_settings.database,
        }
    )
    script = tmp_path / "example.py"
    script.write_text(snippet)  # saved as a script, as the example says: workers import it
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            cwd=tmp_path,  # the example makes "my-repo" in the current directory
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # 2 visits x 8 detectors of isr; every quantum ran.
        assert done.stdout.startswith("16 isr quanta; succeeded {"), done.stdout
    finally:
        from provenance_graph.store import delete_plan

        delete_plan(store, "my-plan")


def test_export_then_import_gives_back_the_same_plan(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    from provenance_graph.store import delete_plan, write_plan
    from provenance_graph.synthetic import drp_plan

    graph = drp_plan(
        2,
        3,
        plan_id=f"{namespace}-x",
        output_run=f"{namespace}/x",
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    write_plan(store, graph)
    path = tmp_path / "plan.json.gz"
    exported = run(["plans", "export", graph.plan.id, str(path)], neo4j_settings)
    assert exported.returncode == 0, exported.stderr
    assert path.is_file()
    delete_plan(store, graph.plan.id)
    imported = run(["plans", "import", str(path)], neo4j_settings)
    assert imported.returncode == 0, imported.stderr
    assert f"plan '{graph.plan.id}' written" in imported.stdout
    assert read_plan(store, graph.plan.id) == graph
    again = run(["plans", "import", str(path)], neo4j_settings)
    assert f"plan '{graph.plan.id}' unchanged" in again.stdout


@pytest.mark.slow
def test_kill_9_of_an_import_then_rerun_resumes(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    import signal

    from provenance_graph.planfile import save_plan
    from provenance_graph.store import list_plans
    from provenance_graph.synthetic import drp_plan

    graph = drp_plan(
        40,
        100,
        plan_id=f"{namespace}-big",
        output_run=f"{namespace}/big",
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    path = tmp_path / "big.json.gz"
    save_plan(graph, path)
    child = subprocess.Popen(
        [PROVGRAPH, "plans", "import", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **_env_for(neo4j_settings)},
    )
    assert child.stderr is not None
    for line in child.stderr:
        if line.startswith("quanta:"):
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, "the import was killed half-way"
    assert graph.plan.id not in [p.id for p in list_plans(store)]
    shown = run(["plans", "show", graph.plan.id], neo4j_settings)
    assert shown.returncode == 1 and "is incomplete" in shown.stderr

    rerun = run(["plans", "import", str(path)], neo4j_settings)
    assert rerun.returncode == 0, rerun.stderr
    assert f"plan '{graph.plan.id}' resumed" in rerun.stdout
    [counts] = store.read("plan_element_counts", plan_id=graph.plan.id)
    assert (counts["quanta"], counts["datasets"], counts["edges"]) == (
        len(graph),
        len(graph.datasets),
        graph.edge_count,
    )
    assert [p.id for p in list_plans(store, include_incomplete=True)].count(graph.plan.id) == 1
