"""Loading attempt journals into the graph: what batch jobs ran, recorded in bulk, idempotently.

Batch jobs write their attempts to journals (`provenance_graph.journal`) instead of
talking to Neo4j. `record_journals` loads the records of any number of journals:

- **Idempotent.** Each record's ``record_id`` stays on its attempt; a record loaded before
  (from this journal, or from the job's own answer to the submitting process) is skipped.
- **In order.** A quantum's records are loaded in the order its journal has them, so its
  status is that of its last attempt; records of different quanta are loaded in batches.
- **The execution.** A record's execution is found, or made (activator ``dagman``, status
  ``recorded``) for jobs that ran without any Activator holding a database connection.

The Cypher is in ``cypher/journals.cypher``; the properties in ``docs/schema.md``.
"""

from __future__ import annotations

import getpass
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from provenance_graph.errors import PlanNotFoundError
from provenance_graph.journal import JournalRecord
from provenance_graph.store._batches import batches
from provenance_graph.store.connection import GraphStore

__all__ = ["DAGMAN_ACTIVATOR", "RecordResult", "record_journals"]

#: The ``activator`` of an execution made from journals alone (an HTCondor DAGMan submission).
DAGMAN_ACTIVATOR = "dagman"
#: Rows per transaction.
BATCH = 2000


@dataclass(frozen=True)
class RecordResult:
    """What loading journal records did."""

    recorded: int
    """Attempts recorded now."""
    already: int
    """Records skipped because they were recorded before."""
    unknown: int
    """Records whose quantum is not in their plan (a plan replaced since the job ran)."""
    executions: tuple[str, ...]
    """The executions the records belong to."""


def record_journals(store: GraphStore, records: Sequence[JournalRecord]) -> RecordResult:
    """Load journal records into the graph (see the module docstring).

    Raises `PlanNotFoundError` if a record's plan is not stored whole.
    """
    by_execution: dict[str, list[JournalRecord]] = defaultdict(list)
    for record in records:
        by_execution[record.execution_id].append(record)
    recorded = already = unknown = 0
    for execution_id, mine in by_execution.items():
        first = mine[0]
        found = store.write(
            "journal_execution",
            plan_id=first.plan_id,
            execution_id=execution_id,
            activator=DAGMAN_ACTIVATOR,
            host=first.outcome.host,
            user=getpass.getuser(),
            started=min(r.written for r in mine),
        )
        if not found:
            raise PlanNotFoundError(
                f"journal records of execution {execution_id} are of plan {first.plan_id!r}, "
                "which is not stored whole",
                hint="store the plan again (provgraph plan ...), then record the journals",
            )
        for plan_id, rounds in _rounds(mine).items():
            for round_rows in rounds:
                for chunk in batches(round_rows, BATCH):
                    rows = store.write("journal_record_attempts", rows=list(chunk), plan_id=plan_id)
                    recorded += sum(1 for r in rows if r["recorded"])
                    already += sum(1 for r in rows if not r["recorded"])
                    unknown += len(chunk) - len(rows)
    return RecordResult(recorded, already, unknown, tuple(by_execution))


def _rounds(records: Sequence[JournalRecord]) -> dict[str, list[list[dict[str, object]]]]:
    """Rows per plan in rounds: a quantum's n-th record is in round n, so one query has it once."""
    rounds: dict[str, list[list[dict[str, object]]]] = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)
    for record in records:
        n = seen[record.outcome.quantum_id]
        seen[record.outcome.quantum_id] += 1
        plan_rounds = rounds[record.plan_id]
        while len(plan_rounds) <= n:
            plan_rounds.append([])
        plan_rounds[n].append(record.row())
    return rounds
