"""`Step`, one migration step of the graph schema, and `apply_step`, which runs it.

A step is data: its version, what it changes (its module's docstring) and the named
queries of ``cypher/migrations.cypher`` it runs, in order. `apply_step` runs them,
waits for new indexes to come online, and then records the step's version, so a
crash at any point leaves the version of the last step done and a rerun starts at
the step that was interrupted. That is safe because every query is idempotent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from neo4j import exceptions as neo4j_errors

from provenance_graph import __version__
from provenance_graph.crashpoints import crash_point
from provenance_graph.errors import DatabaseError
from provenance_graph.store.connection import GraphStore

__all__ = ["BATCH_SIZE", "INDEX_WAIT_SECONDS", "Step", "StepResult", "apply_step"]

BATCH_SIZE = 10_000
"""Nodes a rewrite changes per transaction (``$batch_size`` of ``CALL ... IN TRANSACTIONS``)."""

INDEX_WAIT_SECONDS = 300
"""How long a step waits for the indexes it created to come online."""

_RULE_RACED = "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists"


@dataclass(frozen=True)
class Step:
    """One migration step: what brings a database of schema ``version - 1`` to ``version``."""

    version: int
    """The schema version the step brings the database to."""
    name: str
    """A short name; the step's module is ``v<version, 4 digits>_<name>``."""
    doc: str
    """What the step changes: its module's docstring."""
    queries: tuple[str, ...]
    """Its named queries (``cypher/migrations.cypher``), run in this order; each is idempotent."""
    heavy: bool = False
    """True when it rewrites much data: then only ``provgraph migrate`` applies it, never a connect."""

    @property
    def label(self) -> str:
        """``v5 status_labels``: how progress and errors name the step."""
        return f"v{self.version} {self.name}"

    @property
    def summary(self) -> str:
        """The first line of its docstring, for people: without ``Version N:`` and markup."""
        lines = self.doc.strip().splitlines()
        first = lines[0] if lines else ""
        return first.removeprefix(f"Version {self.version}: ").replace("``", "")


@dataclass(frozen=True)
class StepResult:
    """What applying one step did."""

    step: Step
    """The step."""
    seconds: float
    """Wall time, index population included."""
    counts: dict[str, int] = field(default_factory=dict)
    """What its rewrites changed, by the names their queries return (``quanta_labelled``);
    all zero when the step had been applied already."""


def apply_step(store: GraphStore, step: Step, *, batch_size: int = BATCH_SIZE) -> StepResult:
    """Run ``step``'s queries in order, wait for its indexes, then record its version.

    Safe to rerun, whole or after a crash part way: every query is idempotent, and the
    recorded version never goes down (a slower concurrent client finishing an earlier
    step leaves it).

    Parameters
    ----------
    store
        The database.
    step
        The step to apply.
    batch_size
        Nodes a rewrite changes per transaction.

    Returns
    -------
    StepResult
        How long it took and what its rewrites changed.
    """
    started = time.monotonic()
    given = {"batch_size": batch_size}
    counts: dict[str, int] = {}
    for name in step.queries:
        params = {key: value for key, value in given.items() if key in store.queries[name].parameters}
        for row in _run(store, name, params):
            for key, value in row.items():
                counts[key] = counts.get(key, 0) + int(value)
        crash_point("migration.query")
    _await_indexes(store)
    store.write("schema_version_advance", version=step.version, writer=f"provenance-graph {__version__}")
    return StepResult(step=step, seconds=time.monotonic() - started, counts=counts)


def _run(store: GraphStore, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one step query in auto-commit (``CALL ... IN TRANSACTIONS`` needs it).

    Clients connecting at once run the same ``CREATE ... IF NOT EXISTS``; the loser of
    that race gets EquivalentSchemaRuleAlreadyExists, which means the rule it wanted exists.
    """
    try:
        return store.autocommit(name, **params)
    except DatabaseError as err:
        if _neo4j_code(err) == _RULE_RACED:
            return []
        raise


def _await_indexes(store: GraphStore) -> None:
    """Wait until every index is online, for up to `INDEX_WAIT_SECONDS`.

    Polls in short auto-commit reads: ``CALL db.awaitIndexes()`` waits inside its
    transaction, and a client migrating at the same time then cannot commit its
    ``CREATE CONSTRAINT`` until that wait times out.
    """
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    delay = 0.05
    while True:
        waiting = store.autocommit("schema_indexes_not_online")
        failed = [row["name"] for row in waiting if row["state"] == "FAILED"]
        if failed:
            raise DatabaseError(
                f"Neo4j at {store.settings.uri} failed to build the index(es) {', '.join(failed)}",
                hint="see SHOW INDEXES and the server's debug.log; drop the failed index(es), then "
                "rerun 'provgraph migrate'",
            )
        if not waiting:
            return
        if time.monotonic() + delay > deadline:
            names = ", ".join(f"{row['name']} ({row['populationPercent']:.0f}%)" for row in waiting)
            raise DatabaseError(
                f"indexes of Neo4j at {store.settings.uri} are still not online after "
                f"{INDEX_WAIT_SECONDS} s: {names}",
                hint="rerun 'provgraph migrate' once they are (SHOW INDEXES shows their progress)",
            )
        time.sleep(delay)
        delay = min(2 * delay, 1.0)


def _neo4j_code(err: DatabaseError) -> str | None:
    """The Neo4j status code of the driver error a `DatabaseError` translates, if any."""
    cause = err.__cause__
    return cause.code if isinstance(cause, neo4j_errors.Neo4jError) else None
