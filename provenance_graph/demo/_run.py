"""The demo job behind the README's main command.

It makes a demo repository of synthetic DemoCam images (one raw deliberately
missing, so the plan has a note to show), runs pre-flight of the shipped
twelve-task pipeline over it with a data query, stores the plan whole in Neo4j
(starting the managed server when nothing else is configured), runs it with the
command-line Activator (recording every attempt in the graph), and reads back
the lineage of one coadd.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from provenance_graph.demo.repo import demo_pipeline_path, make_demo_repo
from provenance_graph.model import PlanGraph
from provenance_graph.pipeline import Pipeline
from provenance_graph.repository import Repository

if TYPE_CHECKING:
    from provenance_graph.activators import Progress, RunReport
    from provenance_graph.store import PlanSummary, WriteResult
    from provenance_graph.store.provenance import Lineage

__all__ = ["DEMO_PLAN_ID", "DemoResult", "default_demo_repo", "run_demo"]

DEMO_PLAN_ID = "demo-drp"
DEMO_OUTPUT_RUN = "demo/drp"
#: The (visit, detector) whose raw the demo repository lacks.
MISSING_RAW = (2, 1)


def default_demo_repo() -> Path:
    """Where the demo keeps its repository: ``<user data dir>/provenance-graph/demo-repo``."""
    return Path(platformdirs.user_data_dir("provenance-graph")) / "demo-repo"


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where to look at it."""

    graph: PlanGraph
    """The plan pre-flight made."""
    pipeline: Pipeline
    """The demo pipeline."""
    repo: Path
    """The demo repository."""
    write: WriteResult
    """How the plan was written."""
    summary: PlanSummary
    """The stored plan's summary, read from the graph."""
    report: RunReport
    """What running the plan did."""
    coadd: dict[str, object] | None
    """One coadd the run produced: id, data ID, URI, checksum."""
    lineage: Lineage | None
    """That coadd's upstream lineage, read from the graph."""
    uri: str
    """The Bolt URI of the server used."""
    browser_url: str | None
    """Neo4j Browser's URL, for the managed server."""


def run_demo(
    visits: int = 4,
    detectors: int = 8,
    repo_path: Path | None = None,
    say: Callable[[str], None] = lambda _m: None,
    jobs: int = 2,
    on_progress: Callable[[Progress], None] | None = None,
    on_planned: Callable[[PlanGraph, Pipeline, WriteResult], None] | None = None,
) -> DemoResult:
    """Make the demo repository afresh, plan it, store the plan (replacing an earlier one), run it.

    ``on_planned`` is called once the plan is stored, before anything runs (to show it).
    """
    # Imported here so that importing the demo (its repository generator, its pipeline)
    # does not load the Neo4j driver: pre-flight alone never needs it.
    from provenance_graph.activators import LocalActivator, plan_pipeline
    from provenance_graph.store import open_store, plan_summary, write_plan
    from provenance_graph.store.plan_questions import pick_dataset
    from provenance_graph.store.provenance import upstream

    path = repo_path or default_demo_repo()
    if path.exists():
        Repository.open(path).close()  # refuse to delete anything that is not a repository
        shutil.rmtree(path)
    missing = {MISSING_RAW} if visits >= MISSING_RAW[0] and detectors > MISSING_RAW[1] else set()
    say(f"Making a demo repository of {visits} visits x {detectors} detectors in {path} ...")
    with make_demo_repo(path, visits, detectors, missing_raws=missing) as repo:
        pipeline = Pipeline.from_file(demo_pipeline_path())
        where = f"instrument = 'DemoCam' AND visit IN (1..{visits})"
        say(f"Pre-flight of {demo_pipeline_path().name} where {where} ...")
        graph = plan_pipeline(pipeline, repo, where, output_run=DEMO_OUTPUT_RUN, plan_id=DEMO_PLAN_ID).graph
    with open_store(say=say) as store:
        say(f"Writing plan {graph.plan.id!r}: {len(graph)} quanta, {len(graph.datasets)} datasets ...")
        result = write_plan(store, graph, replace=True)
        summary = plan_summary(store, graph.plan.id)
        if on_planned is not None:
            on_planned(graph, pipeline, result)
        say(f"Running {len(graph)} quanta with {jobs} worker processes ...")
        activator = LocalActivator(store, graph.plan.id, repository=path, jobs=jobs, on_progress=on_progress)
        report = activator.run()
        coadd = pick_dataset(store, graph.plan.id, "deepCoadd")
        lineage = upstream(store, str(coadd["id"])) if coadd else None
        browser = None
        if store.settings.managed:
            from provenance_graph.server import ManagedServer

            browser = ManagedServer().browser_url
        uri = store.settings.display_uri
        return DemoResult(graph, pipeline, path, result, summary, report, coadd, lineage, uri, browser)
