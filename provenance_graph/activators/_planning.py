"""Planning a pipeline for an Activator: open the repository, pre-flight, store the plan.

Every caller that turns a pipeline into a stored plan (``provgraph plan``, ``provgraph
run PIPELINE``, the demo, the benchmarks) does it through `plan_pipeline`, which also
owns the default output run name (`default_output_run`).
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance_graph.model import PlanGraph
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import save_plan
from provenance_graph.preflight import preflight
from provenance_graph.repository import Repository
from provenance_graph.store import GraphStore, WriteResult, write_plan

__all__ = ["PlannedPipeline", "default_output_run", "plan_pipeline"]


def default_output_run(user: str | None = None, now: dt.datetime | None = None) -> str:
    """``u/<user>/<UTC time>``, e.g. ``u/jdoe/20261204T173000Z``: a new run for each plan.

    pipetask's default output collection has the same ``u/<user>/`` prefix.
    """
    when = now or dt.datetime.now(dt.UTC)
    return f"u/{user or getpass.getuser()}/{when.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class PlannedPipeline:
    """What `plan_pipeline` made."""

    graph: PlanGraph
    """The plan."""
    stored: WriteResult | None
    """How it was stored, or None when no store was given."""
    saved_bytes: int | None = None
    """The size of the plan file written, if one was asked for."""


def plan_pipeline(
    pipeline: Pipeline,
    repository: Path | Repository,
    where: str = "",
    *,
    output_run: str | None = None,
    input_runs: Sequence[str] | None = None,
    plan_id: str | None = None,
    save: Path | None = None,
    store: GraphStore | None = None,
    replace: bool = False,
) -> PlannedPipeline:
    """Pre-flight ``pipeline`` over a repository and store the plan whole, if ``store`` is given.

    Parameters
    ----------
    pipeline
        The checked pipeline, with any config overrides applied.
    repository
        A repository's path (opened and closed here), or an open repository.
    where
        The data query; empty for everything.
    output_run
        The run to write outputs to; default `default_output_run`.
    input_runs
        The runs to search for inputs, first match wins; default every other run.
    plan_id
        The plan's id; default a fresh one.
    save
        Also write the plan to this plan file (`planfile.save_plan`), before storing it.
    store
        Where to store the plan (`write_plan`: whole or not at all, idempotent).
    replace
        Replace a stored plan of the same id but other content.
    """
    run = output_run or default_output_run()
    if isinstance(repository, Repository):
        graph = preflight(pipeline, repository, where, output_run=run, input_runs=input_runs, plan_id=plan_id)
    else:
        with Repository.open(repository) as opened:
            graph = preflight(pipeline, opened, where, output_run=run, input_runs=input_runs, plan_id=plan_id)
    saved = save_plan(graph, save) if save is not None else None
    stored = write_plan(store, graph, replace=replace) if store is not None else None
    return PlannedPipeline(graph, stored, saved)
