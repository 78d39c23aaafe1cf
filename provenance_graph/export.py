"""Stored plans and their execution in other people's formats: W3C PROV and OpenLineage.

This module owns the composition only. What a plan holds and what ran of it
comes from a typed store function (`provenance_graph.store.plan_questions.recorded_plan`);
the mapping to PROV is `provenance_graph.interop.prov`'s, and that to OpenLineage
`provenance_graph.interop.openlineage`'s; neither sees the database. Joining them
here, a layer above both, keeps exporters out of the store: the store returns rows and knows no export format.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import prov.model as pm
from openlineage.client.event_v2 import RunEvent

from provenance_graph.interop.openlineage import attempt_events
from provenance_graph.interop.prov import plan_to_prov
from provenance_graph.store import GraphStore
from provenance_graph.store.execution import attempts
from provenance_graph.store.plan_questions import recorded_plan
from provenance_graph.store.plan_read import DataIdFilter, read_plan

__all__ = ["openlineage_events", "prov_document"]


def openlineage_events(store: GraphStore, plan_id: str) -> Iterator[RunEvent]:
    """The OpenLineage run events of every recorded attempt of a plan's quanta, oldest first.

    Raises
    ------
    PlanNotFoundError
        No plan ``plan_id`` is stored.
    """
    graph = read_plan(store, plan_id)
    return attempt_events(graph, attempts(store, plan_id))


def prov_document(
    store: GraphStore,
    plan_id: str,
    tasks: Sequence[str] | None = None,
    where: DataIdFilter | None = None,
) -> pm.ProvDocument:
    """A plan (or a subgraph of it) and what ran of it, as a W3C PROV document.

    Parameters
    ----------
    store
        The graph store holding the plan.
    plan_id
        The stored plan's id.
    tasks, where
        Only the quanta of these task labels, at these data-ID values (as for
        `provenance_graph.store.plan_questions.subgraph`); None: the whole plan.

    Raises
    ------
    PlanNotFoundError
        No plan ``plan_id`` is stored.
    """
    record = recorded_plan(store, plan_id, tasks=tasks, where=where)
    facts = {d_id: dataclasses.asdict(known) for d_id, known in record.facts.items()}
    return plan_to_prov(record.graph, record.statuses, record.last_attempts, facts)
