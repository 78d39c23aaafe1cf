"""The graph schema's version, and creating or checking the schema on connect.

The schema (labels, relationship types, properties, constraints and indexes)
is a user-facing contract, documented in ``docs/schema.md``. Its version lives
in one ``(:SchemaVersion {name: 'provenance-graph'})`` node.

Changelog of `SCHEMA_VERSION`:

1. First version: ``:Plan``, ``:Quantum``, ``:Dataset``, ``:DatasetType``;
   ``PRODUCES``, ``CONSUMES``, ``IN_PLAN``; unique ids; indexes on task label,
   dataset type, plan id, run and the common data-ID dimensions.
2. Pre-flight: ``:PlanNote`` nodes (``(:Plan)-[:HAS_NOTE]->(:PlanNote)``) record
   the data IDs pre-flight dropped and why; ``:Plan.pipeline`` holds the
   pipeline definition (YAML); ``:Dataset.uri`` holds the file URI. A version-1
   database is upgraded in place: the new properties are simply absent on old plans.
3. Execution provenance: ``:Execution`` nodes (``(:Execution)-[:EXECUTES]->(:Plan)``),
   ``:Attempt`` nodes (``(:Quantum)-[:HAS_ATTEMPT]->(:Attempt)``), ``:Quantum.status``
   (with ``execution_id``, ``attempt_count``, ``blocked_by``) and, on produced datasets,
   ``exists``, ``size``, ``checksum``, ``created``. A version-2 database is upgraded in
   place: its quanta have no status, which reads as ``pending``.
4. A composite index ``quantum_plan_task`` on ``:Quantum(plan_id, task)``, so a
   subgraph pull by task reads only those quanta. A version-3 database gains it on connect.
5. A quantum's status is mirrored by a label, ``:Running``, ``:Succeeded``, ``:Failed``,
   ``:Blocked`` or ``:Skipped`` (none while pending), so Neo4j Browser can colour quanta by
   status. A version-4 database's quanta are labelled on connect.
6. Batch jobs: ``:Clustering`` nodes (``(:Clustering)-[:CLUSTERS]->(:Plan)``), ``:BatchJob``
   nodes with ``(:BatchJob)-[:RUNS {position}]->(:Quantum)`` and the job DAG
   ``(:BatchJob)-[:DEPENDS_ON]->(:BatchJob)``; constraints ``clustering_id``, ``batch_job_id``;
   indexes ``clustering_plan``, ``batch_job_clustering``. A version-5 database gains the
   constraints and indexes on connect; nothing else changes.
"""

from __future__ import annotations

import logging

from neo4j import exceptions as neo4j_errors

from provenance_graph import __version__
from provenance_graph.errors import SchemaVersionError
from provenance_graph.store.connection import GraphStore

__all__ = ["SCHEMA_FILE", "SCHEMA_VERSION", "ensure_schema", "schema_version"]

SCHEMA_VERSION = 6
SCHEMA_FILE = "schema.cypher"


def schema_version(store: GraphStore) -> int | None:
    """The schema version recorded in the database, or None for an empty database."""
    rows = store.read("schema_version_get")
    return int(rows[0]["version"]) if rows else None


def ensure_schema(store: GraphStore) -> int:
    """Create the schema in a new database, upgrade an older one, refuse a newer one.

    Returns the schema version in force.
    """
    found = schema_version(store)
    if found == SCHEMA_VERSION:
        return found
    if found is not None and found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database at {store.settings.uri} holds graph schema version {found}, newer "
            f"than version {SCHEMA_VERSION} that provenance-graph {__version__} understands",
            hint="upgrade provenance-graph, or use another database",
        )
    for name in store.queries.names():
        if store.queries[name].source != SCHEMA_FILE:
            continue
        try:
            store.autocommit(name)
        except neo4j_errors.ClientError as err:
            # A concurrent client created the same rule first: that is what we wanted.
            if "EquivalentSchemaRuleAlreadyExists" not in (err.code or ""):
                raise
            logging.getLogger(__name__).debug("schema rule %s: a concurrent client created it first", name)
    store.autocommit("schema_await_indexes", timeout_seconds=300)
    store.write("schema_version_set", version=SCHEMA_VERSION, writer=f"provenance-graph {__version__}")
    return SCHEMA_VERSION
