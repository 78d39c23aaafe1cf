"""The demo job behind the README's main command.

It opens the graph store (starting the managed Neo4j when nothing else is
configured), builds a small DRP-shaped plan, stores it whole, and reads back
its summary from the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provenance_graph.store import PlanSummary, WriteResult, open_store, plan_summary, write_plan
from provenance_graph.synthetic import drp_plan

__all__ = ["DEMO_PLAN_ID", "DemoResult", "run_demo"]

DEMO_PLAN_ID = "demo-drp"


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where to look at it."""

    write: WriteResult
    """How the plan was written."""
    summary: PlanSummary
    """The stored plan's summary, read from the graph."""
    uri: str
    """The Bolt URI of the server used."""
    browser_url: str | None
    """Neo4j Browser's URL, for the managed server."""


def run_demo(visits: int = 4, detectors: int = 8, say: Callable[[str], None] = lambda _m: None) -> DemoResult:
    """Store the demo plan (replacing an earlier one) and return its summary."""
    with open_store(say=say) as store:
        graph = drp_plan(
            visits,
            detectors,
            plan_id=DEMO_PLAN_ID,
            output_run="demo/drp",
            constraints=f"instrument='DemoCam' AND visit IN (0..{visits - 1})",
        )
        say(f"Writing plan {graph.plan.id!r}: {len(graph)} quanta, {len(graph.datasets)} datasets ...")
        result = write_plan(store, graph, replace=True)
        summary = plan_summary(store, graph.plan.id)
        browser = None
        if store.settings.managed:
            from provenance_graph.server import ManagedServer

            browser = ManagedServer().browser_url
        return DemoResult(result, summary, store.settings.uri, browser)
