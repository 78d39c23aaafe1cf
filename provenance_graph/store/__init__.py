"""The Neo4j graph store: connection, schema version and migrations, plan writes and reads.

Nothing outside this package talks to the Neo4j driver. Long writes (plans, clusterings,
executions) follow the one lease protocol of `store._lease`; plans are written by
`store.plan_write` and read back by `store.plan_read`.

The names below are loaded from their modules when first used (PEP 562's module
``__getattr__``), so that a question to the graph (`store.provenance`, `store.opening`)
loads neither the plan writer nor the model's pydantic types: a cold ``provgraph query``
pays only for what it runs. The driver itself is imported first, always (`store._driver`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from provenance_graph.store import _driver  # noqa: F401  # first: the driver without pandas

if TYPE_CHECKING:
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
    from provenance_graph.store.plan_write import (
        BatchSizes,
        PartConflictError,
        PartsResult,
        WriteResult,
        write_plan,
        write_plan_parts,
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
    "ImportResult",
    "PartConflictError",
    "PartsResult",
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
    "write_plan_parts",
]

#: The module (in this package) that defines each name of `__all__`.
_WHERE: dict[str, str] = {
    "BatchSizes": "plan_write",
    "PartConflictError": "plan_write",
    "PartsResult": "plan_write",
    "GraphStore": "connection",
    "ImportResult": "imported_execution",
    "PlanSummary": "plan_read",
    "SCHEMA_VERSION": "schema",
    "StoredPlan": "plan_read",
    "Upgrade": "schema",
    "WriteResult": "plan_write",
    "check_dataset": "_missing",
    "check_plan": "_missing",
    "delete_plan": "plan_delete",
    "ensure_schema": "schema",
    "list_plans": "plan_read",
    "migrate": "schema",
    "open_store": "opening",
    "pending_upgrade": "schema",
    "plan_not_found": "_missing",
    "plan_notes": "plan_read",
    "plan_summary": "plan_read",
    "read_plan": "plan_read",
    "record_imported_execution": "imported_execution",
    "register_datasets": "datasets",
    "schema_version": "schema",
    "write_plan": "plan_write",
    "write_plan_parts": "plan_write",
}


def __getattr__(name: str) -> Any:
    """Load ``name`` from its module on first use, and keep it here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
