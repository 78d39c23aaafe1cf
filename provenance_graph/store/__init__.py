"""The Neo4j graph store: connection, schema and version, plan writes and reads.

Nothing outside this package talks to the Neo4j driver. Long writes (plans, clusterings,
executions) follow the one lease protocol of `store._lease`; plans are written by
`store.plan_write` and read back by `store.plan_read`.
"""

from provenance_graph.store.connection import GraphStore, open_store
from provenance_graph.store.datasets import register_datasets
from provenance_graph.store.plan_delete import delete_plan
from provenance_graph.store.plan_read import PlanSummary, StoredPlan, list_plans, plan_summary, read_plan
from provenance_graph.store.plan_write import BatchSizes, WriteResult, write_plan
from provenance_graph.store.schema import SCHEMA_VERSION, ensure_schema, schema_version

__all__ = [
    "SCHEMA_VERSION",
    "BatchSizes",
    "GraphStore",
    "PlanSummary",
    "StoredPlan",
    "WriteResult",
    "delete_plan",
    "ensure_schema",
    "list_plans",
    "open_store",
    "plan_summary",
    "read_plan",
    "register_datasets",
    "schema_version",
    "write_plan",
]
