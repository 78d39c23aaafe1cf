"""Loading attempt journals into the graph: what batch jobs ran, recorded in bulk, idempotently.

Batch jobs write their attempts to journals (`provenance_graph.journal`) instead of
talking to Neo4j. `record_journals` loads the records of any number of journals:

- **Idempotent.** Each record's ``record_id`` stays on its attempt; a record loaded before
  (from this journal, or from the job's own answer to the submitting process) is skipped.
- **In order.** A quantum's records are loaded in the order its journal has them, so its
  status is that of its last attempt; records of different quanta are loaded in batches.
- **The execution.** A record's execution is found, or made (activator ``dagman``, status
  ``recorded``) for jobs that ran without any Activator holding a database connection.
- **Blocked quanta** (``block_children``, what ``provgraph record`` asks for): the pending
  quanta downstream of a quantum whose last record failed become ``blocked``, blamed on it,
  as the Activator marks them. DAGMan never starts a job whose parent failed, and journals
  hold only attempts, so without this they would stay ``pending`` and ``triage`` would see
  nothing blocked. A quantum that runs after all (a ``RETRY`` of the failed job succeeded)
  takes the status of its own attempt when that is recorded.

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
from provenance_graph.store.status_counts import write_counted

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
    blocked: int = 0
    """Quanta marked blocked by the failures recorded (with ``block_children``)."""


def record_journals(
    store: GraphStore, records: Sequence[JournalRecord], *, block_children: bool = False
) -> RecordResult:
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
                    rows = write_counted(store, "journal_record_attempts", rows=list(chunk), plan_id=plan_id)
                    recorded += sum(1 for r in rows if r["recorded"])
                    already += sum(1 for r in rows if not r["recorded"])
                    unknown += len(chunk) - len(rows)
    blocked = _block_children(store, records) if block_children else 0
    return RecordResult(recorded, already, unknown, tuple(by_execution), blocked)


def _block_children(store: GraphStore, records: Sequence[JournalRecord]) -> int:
    """Block the pending quanta downstream of the quanta whose last record failed; returns how many."""
    last: dict[tuple[str, str], bool] = {}
    for record in records:  # a quantum's records in the order written: the last one counts
        last[(record.plan_id, record.outcome.quantum_id)] = record.outcome.succeeded
    failed: dict[str, list[dict[str, str]]] = defaultdict(list)
    for (plan_id, quantum_id), ok in last.items():
        if not ok:
            failed[plan_id].append({"id": quantum_id, "blocked_by": quantum_id})
    blocked = 0
    for plan_id, first in failed.items():
        level = first
        while level:  # one level of children per query, each quantum once (it stops being pending)
            found: list[dict[str, str]] = []
            for chunk in batches(level, BATCH):
                found += write_counted(store, "journal_block_children", rows=list(chunk), plan_id=plan_id)
            blocked += len(found)
            level = [{"id": r["id"], "blocked_by": r["blocked_by"]} for r in found]
    return blocked


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
