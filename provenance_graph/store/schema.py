"""The graph schema's version, and when a database is brought up to it.

The schema (labels, relationship types, properties, constraints and indexes)
is a user-facing contract, documented in ``docs/schema.md``. Its version lives
in one ``(:SchemaVersion {name: 'provenance-graph'})`` node.

A database is brought from the version it holds to `SCHEMA_VERSION` by the
migration steps of `provenance_graph.store.migrations`, one a version, in order.
`ensure_schema` (on connect) applies them, unless one of them is ``heavy``
(it rewrites much data): then it refuses, and ``provgraph migrate`` (`migrate`)
applies them. A new, empty database gets every step on connect, heavy ones
included: there is nothing to rewrite. A database newer than `SCHEMA_VERSION`
is refused.

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
7. The Butler's identity: ``:Plan.repository`` (canonical ``file:///root/`` URI, index
   ``plan_repository``); ``repository`` and ``butler_id`` on the ``:Quantum`` and
   ``:Dataset`` nodes of Butler-backed plans (indexes ``quantum_butler_id``,
   ``dataset_butler_id``), whose ids include the repository; ``:DatasetType`` unique by
   ``key`` (constraint ``dataset_type_key``, replacing ``dataset_type_name``). A version-6
   database gains them on connect: its types are keyed by name, its plans given the
   repository their metadata names; no id changes.
8. Pre-flight notes tell root causes: ``:PlanNote.kind`` may be ``upstream`` (an earlier
   task dropped the data ID; ``:PlanNote.upstream_task`` names it), and the index
   ``note_plan_task`` on ``:PlanNote(plan_id, task)``. A version-7 database gains the index
   on connect; its notes are kept as they are.
9. ``data_id_display`` on ``:Quantum`` and ``:Dataset``: the data ID's human form
   (``visit=2 detector=1``, `provenance_graph.model.DataId.display`), which Neo4j Browser's
   captions show. A version-8 database's quanta and datasets are given it on connect.
10. Attempt journals: ``:Attempt.record_id`` (index ``attempt_record_id``), unique to the
    outcome an attempt was recorded from, by which loading a batch job's journal again adds
    nothing; ``:Attempt.batch_job`` on attempts from journals; executions made from journals
    alone (``activator`` ``dagman``, ``status`` ``recorded``). A version-9 database gains the
    index on connect; its attempts are kept as they are.
11. Lost attempts: ``:Attempt.status`` ``lost`` when the batch system lost the job (its
    quantum pending again), with ``infrastructure``, ``batch_job_id``, ``batch_state``,
    ``batch_exit_code`` and ``log``; ``request_memory``, ``request_cpus`` and
    ``request_walltime`` on attempts of jobs that asked for resources; the composite index
    ``attempt_plan_status`` on ``:Attempt(plan_id, status)``. A version-10 database gains
    the index on connect; its attempts are kept as they are.
12. Execution versions: ``:Execution.software_json`` and ``:Execution.tasks_json`` (per task:
    config digest, source digest, package, git commit), the index ``dataset_execution`` on
    ``:Dataset(execution_id)``. A version-11 database gains the index on connect; older
    executions lack the properties.
13. Input checksums: ``:Attempt.input_checksums_json`` (dataset id to ``sha256:<hex>`` of each
    input read from outside the quantum's output run), what ``provgraph diff-outputs`` compares
    for inputs no quantum produced. A version-12 database is upgraded on connect, changing
    nothing; older attempts lack the property.
14. Status counts: ``:TaskSummary`` per task and ``:StatusCell`` per task, dimension and value
    of each complete plan, with its quanta per status, kept by every status change in the same
    transaction (`provenance_graph.store.status_counts`); indexes ``task_summary_plan``,
    ``status_cell_plan`` and ``attempt_execution_status``. A version-13 database's complete
    plans are counted on connect.
15. Signatures: ``:Quantum.signature`` (a digest of its inputs and outputs by dataset type and
    data ID) and ``:TaskSummary.signature`` (its quanta's, folded), written with each plan
    (`provenance_graph.store.signatures`); ``query diff`` skips tasks whose signatures agree.
    A version-14 database is upgraded on connect, changing nothing: older plans lack them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provenance_graph import __version__
from provenance_graph.errors import SchemaVersionError
from provenance_graph.store.connection import GraphStore, Say, quiet
from provenance_graph.store.migrations import STEPS, Step, StepResult, apply_step

__all__ = ["SCHEMA_VERSION", "Upgrade", "ensure_schema", "migrate", "pending_upgrade", "schema_version"]

SCHEMA_VERSION = 15
"""The schema version this code reads and writes: the version of the last migration step."""


def schema_version(store: GraphStore) -> int | None:
    """The schema version recorded in the database, or None for an empty database."""
    rows = store.read("schema_version_get")
    return int(rows[0]["version"]) if rows else None


@dataclass(frozen=True)
class Upgrade:
    """What brings one database to the current schema: the version it holds and the steps to go."""

    uri: str
    """The database's server, for messages."""
    found: int | None
    """The schema version the database holds; None for a new, empty database."""
    target: int
    """The version the steps bring it to."""
    steps: tuple[Step, ...]
    """The steps still to apply, in order; none when the database is current."""

    @property
    def heavy(self) -> tuple[Step, ...]:
        """The steps only ``provgraph migrate`` may apply; none for a new database."""
        if self.found is None:
            return ()
        return tuple(step for step in self.steps if step.heavy)


def pending_upgrade(store: GraphStore, steps: Sequence[Step] = STEPS) -> Upgrade:
    """What ``steps`` would do to the database; refuse a database newer than they know.

    Parameters
    ----------
    store
        The database.
    steps
        Every migration step, in version order (the package's `STEPS`).

    Returns
    -------
    Upgrade
        The version found and the steps after it.

    Raises
    ------
    SchemaVersionError
        The database holds a newer schema version than the last step's.
    """
    found = schema_version(store)
    target = steps[-1].version
    if found is not None and found > target:
        raise SchemaVersionError(
            f"the database at {store.settings.uri} holds graph schema version {found}, newer "
            f"than version {target} that provenance-graph {__version__} understands",
            hint="upgrade provenance-graph, or use another database",
        )
    pending = tuple(step for step in steps if step.version > (found or 0))
    return Upgrade(uri=store.settings.uri, found=found, target=target, steps=pending)


def ensure_schema(store: GraphStore, *, say: Say = quiet, steps: Sequence[Step] = STEPS) -> int:
    """Create the schema in a new database, upgrade an older one, refuse a newer one.

    Called on connect. Clients connecting at once may run the same steps together:
    every step is idempotent, and the recorded version never goes down.

    Parameters
    ----------
    store
        The database.
    say
        Where to say that the schema is being created or upgraded.
    steps
        Every migration step, in version order (the package's `STEPS`).

    Returns
    -------
    int
        The schema version in force.

    Raises
    ------
    SchemaVersionError
        The database is newer than this code, or an older one needs a heavy step,
        which only ``provgraph migrate`` applies.
    """
    upgrade = pending_upgrade(store, steps)
    if not upgrade.steps:
        return upgrade.target
    if upgrade.heavy:
        names = ", ".join(step.label for step in upgrade.heavy)
        raise SchemaVersionError(
            f"the database at {upgrade.uri} holds graph schema version {upgrade.found}; provenance-graph "
            f"{__version__} needs version {upgrade.target}, and the upgrade rewrites much data ({names}), "
            "which is not done on connect",
            hint="run 'provgraph migrate' (with --dry-run first to see its steps)",
        )
    if upgrade.found is None:
        say(f"Creating the graph schema (version {upgrade.target}) ...")
    else:
        say(f"Upgrading the graph schema from version {upgrade.found} to {upgrade.target} ...")
    migrate(store, upgrade)
    return upgrade.target


def migrate(store: GraphStore, upgrade: Upgrade, *, say: Say = quiet) -> list[StepResult]:
    """Apply an upgrade's steps in order, heavy ones included, recording the version after each.

    What ``provgraph migrate`` runs. A crash part way leaves the version of the
    last step done; rerunning applies the rest (each step is safe to rerun).

    Parameters
    ----------
    store
        The database.
    upgrade
        What to apply, from `pending_upgrade`.
    say
        Where to report progress: a line when a step starts, one when it is done.

    Returns
    -------
    list of StepResult
        What each step did.
    """
    results: list[StepResult] = []
    for step in upgrade.steps:
        say(f"Applying {step.label} ...")
        result = apply_step(store, step)
        changed = "".join(f", {n:,} {what.replace('_', ' ')}" for what, n in result.counts.items())
        say(f"  done in {result.seconds:.1f} s{changed}; schema version {step.version} recorded")
        results.append(result)
    return results
