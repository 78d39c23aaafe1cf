"""Deleting stored plans: a plan, its clusterings, its quanta and the datasets only it owns.

A plan whose outputs other plans read is not deleted (nor replaced); neither is one a live
writer or a live execution holds (the lease policy of `store._lease`).
"""

from __future__ import annotations

from provenance_graph.errors import PlanBusyError, PlanConflictError
from provenance_graph.store._lease import Holder
from provenance_graph.store.clustering import delete_clustering, list_clusterings
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.execution import refuse_if_running

__all__ = ["delete_content", "delete_plan", "refuse_if_read_by_others"]


def delete_plan(store: GraphStore, plan_id: str) -> bool:
    """Delete a plan (complete or not), its clusterings, its quanta and the datasets only it produced.

    Refuses when quanta of other plans read datasets this plan produces.
    Returns False when there was no such plan.
    """
    header = store.read("plan_header", plan_id=plan_id)
    if not header:
        return False
    props = header[0]["plan"]
    holder = Holder(
        props.get("writer"), props.get("writer_host"), props.get("writer_pid"), header[0]["idle_seconds"]
    )
    if props.get("status") == "writing" and holder.alive():
        raise PlanBusyError(
            f"plan {plan_id!r} is being written by {holder.describe()}",
            hint="wait for that write to finish, or stop it, then delete the plan",
        )
    refuse_if_read_by_others(store, plan_id, "deleted")
    refuse_if_running(store, plan_id, "deleted")
    for clustering in list_clusterings(store, plan_id):  # batch jobs point at the plan's quanta
        delete_clustering(store, plan_id, clustering.name)
    delete_content(store, plan_id)
    store.write("plan_delete_node", plan_id=plan_id, token=None)
    return True


def refuse_if_read_by_others(store: GraphStore, plan_id: str, verb: str) -> None:
    """Raise `PlanConflictError` if quanta of other plans read datasets this plan produces."""
    readers = store.read("plan_external_consumers", plan_id=plan_id)
    if readers:
        others = ", ".join(repr(r["plan_id"]) for r in readers)
        raise PlanConflictError(
            f"plan {plan_id!r} cannot be {verb}: plan(s) {others} read datasets it produces",
            hint="delete those plans first",
        )


def delete_content(store: GraphStore, plan_id: str) -> None:
    """Delete a plan's quanta, and the datasets it owns that no other plan reads.

    A plan owns the datasets it produces, and the inputs it reads from its own output run
    (which nothing produces: only a plan file or a QuantumGraph can ask for them). Inputs
    from other runs (raw data, calibrations, other runs' outputs) are shared, and stay.
    """
    store.write("status_counts_delete", plan_id=plan_id)
    store.autocommit("plan_delete_notes", plan_id=plan_id)
    store.autocommit("plan_delete_attempts", plan_id=plan_id)
    store.autocommit("plan_delete_executions", plan_id=plan_id)
    store.write("plan_delete_own_run_inputs", plan_id=plan_id)  # while the quanta still link them
    store.autocommit("plan_delete_quanta", plan_id=plan_id)
    store.autocommit("plan_delete_datasets", plan_id=plan_id)
