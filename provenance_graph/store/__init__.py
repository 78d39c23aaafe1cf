"""The Neo4j graph store: connection, schema version and migrations, plan writes and reads.

Nothing outside this package talks to the Neo4j driver.
"""

from provenance_graph.store.connection import GraphStore
from provenance_graph.store.datasets import register_datasets
from provenance_graph.store.opening import open_store
from provenance_graph.store.plans import (
    BatchSizes,
    PlanSummary,
    StoredPlan,
    WriteResult,
    delete_plan,
    list_plans,
    plan_summary,
    read_plan,
    write_plan,
)
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
    "PlanSummary",
    "StoredPlan",
    "Upgrade",
    "WriteResult",
    "delete_plan",
    "ensure_schema",
    "list_plans",
    "migrate",
    "open_store",
    "pending_upgrade",
    "plan_summary",
    "read_plan",
    "register_datasets",
    "schema_version",
    "write_plan",
]
