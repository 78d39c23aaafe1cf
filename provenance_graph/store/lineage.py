"""Lineage reads: where a dataset came from, as Cypher traversals of the plan graph.

The queries are in ``cypher/lineage.cypher``. They follow
``(:Dataset)<-[:PRODUCES]-(:Quantum)-[:CONSUMES]->(:Dataset)`` upstream through
complete plans.
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance_graph.store.connection import GraphStore

__all__ = ["DatasetLineage", "pick_dataset", "upstream_lineage"]


@dataclass(frozen=True)
class DatasetLineage:
    """What a dataset was made from: upstream quanta per task and status, and pre-existing inputs."""

    dataset_id: str
    quanta: dict[str, dict[str, int]]
    """``{task: {status: quanta}}`` of every quantum upstream (the producer included)."""
    inputs: dict[str, int]
    """``{dataset type: datasets}`` of the pre-existing datasets it was made from."""
    examples: dict[str, list[str]]
    """A few data IDs of those inputs, per dataset type."""


def upstream_lineage(store: GraphStore, dataset_id: str) -> DatasetLineage:
    """The upstream lineage of one dataset."""
    quanta: dict[str, dict[str, int]] = {}
    for r in store.read("lineage_upstream_tasks", dataset_id=dataset_id):
        quanta.setdefault(r["task"], {})[r["status"]] = r["quanta"]
    rows = store.read("lineage_upstream_inputs", dataset_id=dataset_id)
    return DatasetLineage(
        dataset_id,
        quanta,
        {r["dataset_type"]: r["datasets"] for r in rows},
        {r["dataset_type"]: list(r["examples"]) for r in rows},
    )


def pick_dataset(store: GraphStore, plan_id: str, dataset_type: str) -> dict[str, object] | None:
    """One dataset of a type that a plan produces (the first by data ID), or None."""
    rows = store.read("lineage_pick_dataset", plan_id=plan_id, dataset_type=dataset_type)
    return rows[0] if rows else None
