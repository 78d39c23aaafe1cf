"""The Neo4j graph store: connection, schema version and migrations, plan writes and reads.

Nothing outside this package talks to the Neo4j driver. Long writes (plans, clusterings,
executions) follow the one lease protocol of `store._lease`; plans are written by
`store.plan_write` and read back by `store.plan_read`.
"""

from provenance_graph.store import _driver  # noqa: F401  # first: the driver without pandas
from provenance_graph.store._missing import check_dataset, check_plan, plan_not_found
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.datasets import register_datasets
from provenance_graph.store.imported_execution import ImportResult, record_imported_execution
from provenance_graph.store.opening import open_store
from provenance_graph.store.plan_delete import delete_plan
from provenance_graph.store.plan_read import (
    PlanSummary,
    StoredPlan,
    list_plans,
    plan_notes,
    plan_summary,
    read_plan,
)
from provenance_graph.store.plan_write import BatchSizes, WriteResult, write_plan
from provenance_graph.store.schema import (
    SCHEMA_VERSION,
    Upgrade,
    ensure_schema,
    migrate,
    pending_upgrade,
    schema_version,
)

__all__ = [
    "SCHEMA_VERSION",
    "BatchSizes",
    "GraphStore",
    "ImportResult",
    "PlanSummary",
    "StoredPlan",
    "Upgrade",
    "WriteResult",
    "check_dataset",
    "check_plan",
    "delete_plan",
    "ensure_schema",
    "list_plans",
    "migrate",
    "open_store",
    "pending_upgrade",
    "plan_not_found",
    "plan_notes",
    "plan_summary",
    "read_plan",
    "record_imported_execution",
    "register_datasets",
    "schema_version",
    "write_plan",
]
