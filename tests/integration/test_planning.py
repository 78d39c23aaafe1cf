"""`plan_pipeline`, the one way a pipeline becomes a stored plan, and Activators that read nothing until asked."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from provenance_graph.activators import LocalActivator, default_output_run, plan_pipeline
from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.errors import ExecutionError, PlanNotFoundError
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import load_plan
from provenance_graph.store import GraphStore, read_plan


def test_plan_pipeline_plans_saves_and_stores_whole(
    store: GraphStore, namespace: str, tmp_path: Path
) -> None:
    make_demo_repo(tmp_path / "repo", 2, 2).close()
    pipeline = Pipeline.from_file(demo_pipeline_path())
    planned = plan_pipeline(
        pipeline,
        tmp_path / "repo",
        "instrument = 'DemoCam' AND visit = 1",
        output_run=f"{namespace}/run",
        plan_id=f"{namespace}-plan",
        save=tmp_path / "plan.json.gz",
        store=store,
    )
    assert planned.stored is not None and planned.stored.outcome == "written"
    assert planned.stored.quanta == len(planned.graph) > 0
    assert read_plan(store, f"{namespace}-plan") == planned.graph == load_plan(tmp_path / "plan.json.gz")
    assert planned.saved_bytes == (tmp_path / "plan.json.gz").stat().st_size
    # Without a store nothing is written, and the output run defaults to u/<user>/<time>.
    again = plan_pipeline(pipeline, tmp_path / "repo", "visit = 2", plan_id=f"{namespace}-other")
    assert again.stored is None
    assert re.fullmatch(r"u/[^/]+/\d{8}T\d{6}Z", again.graph.plan.output_run)
    with pytest.raises(PlanNotFoundError):
        read_plan(store, f"{namespace}-other")


def test_default_output_run_is_the_users_and_utc() -> None:
    when = dt.datetime(2026, 12, 4, 18, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert default_output_run("jdoe", when) == "u/jdoe/20261204T173005Z"


def test_an_activator_reads_nothing_until_prepared(store: GraphStore, namespace: str) -> None:
    activator = LocalActivator(store, f"{namespace}-no-such-plan", jobs=2)  # no I/O: no error yet
    with pytest.raises(ExecutionError, match="has not read its plan yet"):
        _ = activator.graph
    with pytest.raises(PlanNotFoundError, match=f"no plan '{namespace}-no-such-plan'"):
        activator.prepare()
    with pytest.raises(PlanNotFoundError):
        activator.run()
