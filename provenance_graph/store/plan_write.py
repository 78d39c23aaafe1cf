"""Storing execution plans in Neo4j whole or not at all.

Writing a plan
--------------
1. Dataset types are registered (a conflicting definition is an error).
2. The writer *claims* the ``:Plan`` node: status ``'writing'``, with a random
   lease (`store._lease`: token, host, pid, heartbeat). If the plan is already complete
   with the same content digest, nothing is written (idempotent). If another writer holds
   it and is alive, a writer of the same content waits for it and one of other content
   gets `PlanBusyError`; if that writer is dead (``kill -9``), the plan is taken over and
   its partial content deleted.
3. Input datasets (merged: shared with other plans), produced datasets and
   quanta (created) and their edges are written with batched ``UNWIND`` queries,
   several at once. Each batch checks the writer still holds the plan. The unique
   id constraints refuse a dataset with a second producer, or a quantum of
   another plan; the error then names the culprits and their plans.
4. Status ``'complete'`` is set last. Queries only see complete plans.

Any error during steps 3-4 deletes what was written, so a failed write leaves
nothing; a killed write leaves an incomplete plan that no query shows and that
the next write of the plan replaces.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neo4j import exceptions as neo4j_errors

from provenance_graph.crashpoints import crash_point
from provenance_graph.errors import (
    ConfigurationError,
    PlanBusyError,
    PlanConflictError,
    PlanError,
    PlanExistsError,
)
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, PlanNote, Quantum
from provenance_graph.store._batches import Check, write_in_parallel
from provenance_graph.store._batches import batches as _batches
from provenance_graph.store._lease import STALE_AFTER, WAIT_FOR_HOLDER, Holder, Lease, contend
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.datasets import dataset_row, register_dataset_types
from provenance_graph.store.execution import refuse_if_running
from provenance_graph.store.plan_delete import delete_content, refuse_if_read_by_others
from provenance_graph.store.schema import SCHEMA_VERSION
from provenance_graph.store.signatures import quantum_signature
from provenance_graph.store.status_counts import SummaryCounter

__all__ = [
    "BatchSizes",
    "PartConflictError",
    "PartsResult",
    "WriteResult",
    "plan_differences",
    "write_plan",
    "write_plan_parts",
]

logger = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
WriteOutcome = Literal["written", "unchanged", "resumed", "replaced"]


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


_MAX_DIGITS = 9
"""The most digits a batch size may have."""


@dataclass(frozen=True)
class BatchSizes:
    """How many rows each write transaction carries."""

    datasets: int = 10_000
    """Datasets per transaction."""
    quanta: int = 2_000
    """Quanta, with their edges, per transaction."""
    workers: int = 2
    """Write transactions in flight at once."""

    @classmethod
    def from_env(cls) -> BatchSizes:
        """The defaults, changed by ``PROVGRAPH_BATCH_DATASETS``, ``..._QUANTA`` and ``..._WORKERS``.

        Smaller batches use less memory in the server per transaction; more of them cost
        more round trips.
        """
        sizes: dict[str, int] = {}
        for name in ("datasets", "quanta", "workers"):
            var = f"PROVGRAPH_BATCH_{name.upper()}"
            text = os.environ.get(var, "").strip()
            if not text:
                continue
            # ASCII digits only (str.isdigit() also takes '²', which int() refuses), and few
            # enough that int() converts them (it refuses more than 4300).
            if not (text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS) or int(text) < 1:
                raise ConfigurationError(
                    f"{var}={text[:40]!r}{'...' if len(text) > 40 else ''} is not a whole number "
                    f"from 1 to {10**_MAX_DIGITS - 1:,}",
                    hint=f"set {var} to a number such as {getattr(cls(), name)}, or unset it",
                )
            sizes[name] = int(text)
        return cls(**sizes)


@dataclass(frozen=True)
class WriteResult:
    """What `write_plan` did."""

    plan_id: str
    """The plan's id."""
    outcome: WriteOutcome
    """``written`` (new), ``unchanged`` (already stored, identical), ``resumed`` (took over an
    interrupted write) or ``replaced`` (overwrote a different complete plan)."""
    quanta: int
    """Quanta in the plan."""
    datasets: int
    """Datasets read or written by the plan."""
    edges: int
    """CONSUMES plus PRODUCES edges."""
    seconds: float
    """Wall time of the write."""

    @property
    def elements(self) -> int:
        """Nodes plus relationships of the plan (quanta, datasets, edges, plan membership)."""
        return self.quanta + self.datasets + self.edges + self.quanta


@dataclass(frozen=True)
class _Totals:
    """A plan's element counts, as ``plan_complete`` records and checks them."""

    quanta: int
    produced: int
    datasets: int
    edges: int


def _header_props(plan: Plan, digest: str) -> dict[str, Any]:
    return {
        "output_run": plan.output_run,
        "created": plan.created,
        "pipeline_digest": plan.pipeline_digest,
        "pipeline": plan.pipeline,
        "constraints": plan.constraints,
        "metadata_json": json.dumps(plan.metadata, sort_keys=True),
        "repository": plan.repository,
        "digest": digest,
        "schema_version": SCHEMA_VERSION,
    }


def plan_differences(
    stored: Mapping[str, Any], stored_notes: tuple[int, int], graph: PlanGraph
) -> tuple[str, ...]:
    """What differs between a stored plan and ``graph``, one phrase each, as far as its header tells.

    Parameters
    ----------
    stored
        The stored ``:Plan`` node's properties (its counts are set when it was completed).
    stored_notes
        How many notes the stored plan has, and how many data IDs they drop.
    graph
        The plan that was to be written.

    The quanta's ids, inputs and outputs are not compared (that is the digest's job): when
    nothing here differs, the last phrase says so.
    """
    sizes = (len(graph.quanta), len(graph.datasets), graph.edge_count)
    return _differences(stored, stored_notes, graph.plan, sizes, graph.notes)


def _differences(
    stored: Mapping[str, Any],
    stored_notes: tuple[int, int],
    plan: Plan,
    sizes: tuple[int, int, int],
    notes: Sequence[PlanNote],
) -> tuple[str, ...]:
    """`plan_differences` of a plan given by its header, its quanta, datasets and edges, and its notes."""
    found: list[str] = []
    new_notes = (len(notes), sum(len(n.data_ids) for n in notes))
    for word, old, new in (
        ("quanta", stored.get("quantum_count"), sizes[0]),
        ("datasets", stored.get("dataset_count"), sizes[1]),
        ("edges", stored.get("edge_count"), sizes[2]),
        ("notes", stored_notes[0], new_notes[0]),
        ("data IDs dropped by notes", stored_notes[1], new_notes[1]),
    ):
        if old is not None and old != new:
            found.append(f"the stored plan has {old} {word}, this one {new}")
    for word, was, now in (
        ("output run", stored.get("output_run") or "", plan.output_run),
        ("data query", stored.get("constraints") or "", plan.constraints),
    ):
        if was != now:
            found.append(f"{word} {was!r} stored, {now!r} here")
    if (stored.get("pipeline_digest") or "", stored.get("pipeline") or "") != (
        plan.pipeline_digest,
        plan.pipeline,
    ):
        found.append("the pipeline differs")
    old_metadata = json.loads(stored.get("metadata_json") or "{}")
    changed = sorted(
        k for k in old_metadata.keys() | plan.metadata.keys() if old_metadata.get(k) != plan.metadata.get(k)
    )
    if changed:
        found.append(f"metadata differs in {', '.join(changed)}")
    if not found:
        found.append("the header and counts agree, so quanta, their inputs or outputs, or notes differ")
    return tuple(found)


class _PlanWriter:
    """One attempt at writing one plan; see the module docstring for the protocol."""

    def __init__(
        self,
        store: GraphStore,
        graph: PlanGraph,
        batches: BatchSizes,
        progress: Progress,
        stale_after: float,
    ) -> None:
        self.store = store
        self.graph = graph
        self.plan_id = graph.plan.id
        self.batches = batches
        self.progress = progress
        self.stale_after = stale_after
        self.lease = Lease()
        self.token = self.lease.token
        self.digest = graph.digest()

    def run(self, replace: bool) -> WriteResult:
        started = time.perf_counter()
        with self.lease:
            outcome = self._claim(replace)
            if outcome == "unchanged":
                return self._result(outcome, started)
            crash_point("plan.claimed")
            with self.lease.heartbeat(self._beat, f"plan {self.plan_id}"):
                self._write(outcome)
            crash_point("plan.completed")
            return self._result(outcome, started)

    def _beat(self) -> bool:
        # A lost claim is also detected by the next batch, which checks the token.
        return bool(self.store.write("plan_heartbeat", plan_id=self.plan_id, token=self.token)[0]["held"])

    def _write(self, outcome: WriteOutcome) -> None:
        try:
            # Only once the plan is ours: a refused write (a taken id) leaves no new type.
            self._register_dataset_types()
            if outcome != "written" or self.store.read("plan_has_content", plan_id=self.plan_id)[0]["found"]:
                delete_content(self.store, self.plan_id)
            try:
                self._write_content()
            except neo4j_errors.ConstraintError as err:
                # The unique id constraints refused a dataset or quantum that exists
                # already; say which, and whose.
                self._check_conflicts()
                raise PlanConflictError(
                    f"plan {self.plan_id!r} collides with data written meanwhile: {err.message}",
                    hint="write the outputs to a new run",
                ) from err
        except BaseException:
            self._abandon()
            raise

    def _result(self, outcome: WriteOutcome, started: float) -> WriteResult:
        return WriteResult(
            plan_id=self.plan_id,
            outcome=outcome,
            quanta=len(self.graph.quanta),
            datasets=len(self.graph.datasets),
            edges=self.graph.edge_count,
            seconds=time.perf_counter() - started,
        )

    # --- claiming ------------------------------------------------------------------

    def _register_dataset_types(self) -> None:
        self._register_types_of(self.graph)

    def _register_types_of(self, graph: PlanGraph) -> None:
        register_dataset_types(
            self.store,
            graph.dataset_types.values(),
            f"plan {self.plan_id!r}",
            repository=graph.butler_repository,
        )

    def _claim(self, replace: bool) -> WriteOutcome:
        while True:
            [row] = self.store.write(
                "plan_claim", plan_id=self.plan_id, digest=self.digest, **self.lease.identity()
            )
            if row["writer"] == self.token:
                return "written"
            if row["status"] == "complete":
                return self._claim_complete(row, replace)
            holder = Holder.from_row(row)
            decision = contend(holder, same_work=row["digest"] == self.digest, stale_after=self.stale_after)
            if decision == "take_over":
                break
            if decision == "refuse":
                raise PlanBusyError(
                    f"plan {self.plan_id!r} is being written by {holder.describe()}",
                    hint="wait for that write to finish; if that process is gone, retry after "
                    f"{self.stale_after:.0f} s",
                )
            # Another live process writes this very plan (two `provgraph run` of one plan
            # started together): wait for it, then find the plan `unchanged`, or take it over
            # if that writer dies.
            time.sleep(WAIT_FOR_HOLDER)
        taken = self.store.write(
            "plan_take_over",
            plan_id=self.plan_id,
            previous=row["writer"],
            digest=self.digest,
            **self.lease.identity(),
        )
        if not taken:
            raise PlanBusyError(f"another process took over plan {self.plan_id!r} first")
        return "resumed"

    def _claim_complete(self, row: dict[str, Any], replace: bool) -> WriteOutcome:
        """Claim over a complete plan: the same content is `unchanged`, other content replaced if asked."""
        if row["digest"] == self._content_digest():
            return "unchanged"
        if not replace:
            differences = self._differences()
            raise PlanExistsError(
                f"plan {self.plan_id!r} is already stored with different content: " + "; ".join(differences),
                plan_id=self.plan_id,
                differences=differences,
                hint="give the new plan another id, or replace the stored one "
                "(write_plan(..., replace=True))",
            )
        refuse_if_read_by_others(self.store, self.plan_id, "replaced")
        refuse_if_running(self.store, self.plan_id, "replaced")
        taken = self.store.write(
            "plan_reclaim_complete",
            plan_id=self.plan_id,
            digest=self.digest,
            seen_digest=row["digest"],
            **self.lease.identity(),
        )
        if not taken:
            refuse_if_read_by_others(self.store, self.plan_id, "replaced")
            raise PlanBusyError(f"plan {self.plan_id!r} changed while it was being replaced")
        return "replaced"

    def _content_digest(self) -> str:
        """The digest of what this writer would store (`PlanGraph.digest`)."""
        return self.digest

    # --- conflicts -----------------------------------------------------------------

    def _differences(self) -> tuple[str, ...]:
        """What differs between the stored plan and this one, from the stored header and note counts."""
        rows = self.store.read("plan_header", plan_id=self.plan_id)
        stored: dict[str, Any] = rows[0]["plan"] if rows else {}
        notes = self.store.read("plan_note_counts", plan_id=self.plan_id)
        stored_notes = (sum(r["notes"] for r in notes), sum(r["data_ids"] for r in notes))
        return self._differences_from(stored, stored_notes)

    def _differences_from(self, stored: Mapping[str, Any], stored_notes: tuple[int, int]) -> tuple[str, ...]:
        return plan_differences(stored, stored_notes, self.graph)

    def _check_conflicts(self) -> None:
        """Raise `PlanConflictError` naming existing datasets or quanta this plan would create."""
        produced = [d for d in self.graph.datasets if self.graph.producer(d) is not None]
        for chunk in _batches(produced, 50_000):
            rows = self.store.read("plan_find_conflicts", plan_id=self.plan_id, dataset_ids=list(chunk))
            if rows:
                names = [
                    f"{r['dataset_type']} ({DataId.from_key(r['data_id'])}) in run {r['run']} "
                    + (f"(produced by plan {r['plan_id']!r})" if r["plan_id"] else "(pre-existing)")
                    for r in rows
                ]
                raise PlanConflictError(
                    f"plan {self.plan_id!r} would produce datasets that already exist: " + "; ".join(names),
                    hint="write the outputs to a new run, or delete the plan that produced them",
                )
        for chunk in _batches(list(self.graph.quanta), 50_000):
            rows = self.store.read(
                "plan_find_quantum_conflicts", plan_id=self.plan_id, quantum_ids=list(chunk)
            )
            if rows:
                names = [
                    f"{r['task']} ({DataId.from_key(r['data_id'])}) (plan {r['plan_id']!r})" for r in rows
                ]
                raise PlanConflictError(
                    f"plan {self.plan_id!r} has quanta that belong to another plan already: "
                    + "; ".join(names),
                    hint="write the outputs to a new run, or delete the other plan",
                )

    # --- writing -------------------------------------------------------------------

    def _held(self, rows: list[dict[str, Any]], key: str) -> int:
        value = int(rows[0][key]) if rows else 0
        if not value:
            raise PlanBusyError(f"this process lost its claim on plan {self.plan_id!r} while writing")
        return value

    def _write_content(self) -> None:
        graph = self.graph
        self._set_header(graph.plan)
        self._write_notes(graph.notes)
        crash_point("plan.header")
        inputs = [ref for did, ref in graph.datasets.items() if graph.producer(did) is None]
        outputs = [ref for did, ref in graph.datasets.items() if graph.producer(did) is not None]
        counter = SummaryCounter()
        counter.add(graph.quanta.values())
        self._write_part(graph, inputs, outputs, list(graph.quanta.values()), counter.signatures)
        tasks, cells = counter.rows(self.plan_id)
        crash_point("plan.before_complete")
        self._complete(
            _Totals(len(graph.quanta), len(outputs), len(graph.datasets), graph.edge_count), tasks, cells
        )

    def _set_header(self, plan: Plan) -> None:
        self.store.write_with(
            "plan_set_header",
            lambda rows: self._held(rows, "held"),
            plan_id=self.plan_id,
            token=self.token,
            props=_header_props(plan, self.digest),
        )

    def _write_notes(self, notes: Sequence[PlanNote]) -> None:
        if not notes:
            return
        self.store.write_with(
            "plan_write_notes",
            lambda rows: self._held(rows, "written"),
            plan_id=self.plan_id,
            token=self.token,
            notes=[
                {
                    "task": n.task_label,
                    "kind": n.kind.value,
                    "connection": n.connection,
                    "dataset_type": n.dataset_type,
                    "upstream_task": n.upstream_task or None,
                    "message": n.message,
                    "data_ids": [d.key() for d in n.data_ids],
                }
                for n in notes
            ],
        )

    def _write_part(
        self,
        graph: PlanGraph,
        inputs: Sequence[DatasetRef],
        outputs: Sequence[DatasetRef],
        quanta: Sequence[Quantum],
        signatures: dict[str, str],
    ) -> None:
        """Write these datasets and quanta of ``graph`` with their edges: inputs, outputs, quanta.

        Each quantum's signature is taken from ``signatures`` (computed when it was counted).
        """
        plan_id = self.plan_id

        def check_inputs(rows: list[dict[str, Any]]) -> int:
            if rows and rows[0]["unfinished"]:
                raise PlanConflictError(
                    f"plan {plan_id!r} reads datasets that another plan produces but has not "
                    "completed: "
                    + "; ".join(
                        f"{kind} ({DataId.from_key(key)}) (plan {producer})"
                        for kind, key, producer in rows[0]["unfinished"]
                    ),
                    hint="complete (rerun) or delete that plan first",
                )
            return self._held(rows, "written")

        written: Check = lambda r: self._held(r, "written")  # noqa: E731
        for phase, query, refs, check in (
            ("inputs", "plan_write_inputs", inputs, check_inputs),
            ("outputs", "plan_write_outputs", outputs, written),
        ):
            self._run_batches(
                phase,
                query,
                (
                    (
                        [dataset_row(ref, graph.uris.get(ref.id), ref.id in graph.existing) for ref in chunk],
                        check,
                    )
                    for chunk in _batches(refs, self.batches.datasets)
                ),
                len(refs),
            )

        def quantum_batch(chunk: Sequence[Quantum]) -> tuple[list[dict[str, Any]], Check]:
            expected = (sum(len(q.inputs) for q in chunk), sum(len(q.outputs) for q in chunk))

            def check(records: list[dict[str, Any]]) -> int:
                written = self._held(records, "written")
                got = (int(records[0]["consumed"] or 0), int(records[0]["produced"] or 0))
                if written != len(chunk) or got != expected:
                    raise PlanError(
                        f"plan {plan_id!r}: a batch of {len(chunk)} quanta wrote {written} quanta, "
                        f"{got[0]} CONSUMES and {got[1]} PRODUCES edges instead of {expected[0]} "
                        f"and {expected[1]}; a dataset vanished during the write"
                    )
                return written

            rows = [
                {
                    "id": q.id,
                    "task": q.task_label,
                    "data_id": q.data_id.key(),
                    "data_id_display": q.data_id.display(),
                    "run": q.run,
                    "dims": q.data_id.to_dict(),
                    "inputs": [r.id for r in q.inputs],
                    "outputs": [r.id for r in q.outputs],
                    "repository": q.repository,
                    "butler_id": q.butler_id,
                    "signature": signatures.pop(q.id, None) or quantum_signature(q),
                }
                for q in chunk
            ]
            return rows, check

        self._run_batches(
            "quanta",
            "plan_write_quanta",
            (quantum_batch(chunk) for chunk in _batches(quanta, self.batches.quanta)),
            len(quanta),
        )

    def _complete(self, totals: _Totals, tasks: list[dict[str, Any]], cells: list[dict[str, Any]]) -> None:
        """Make the plan visible, if every quantum and produced dataset is there."""
        plan_id = self.plan_id

        def check_complete(rows: list[dict[str, Any]]) -> int:
            self._held(rows, "held")
            if not rows[0]["whole"]:
                raise PlanError(
                    f"plan {plan_id!r} is not whole in the graph: {rows[0]['quanta']} of "
                    f"{totals.quanta} quanta and {rows[0]['produced']} of {totals.produced} "
                    "produced datasets; it stays incomplete",
                    hint="write it again",
                )
            return 1

        self.store.write_with(
            "plan_complete",
            check_complete,
            plan_id=plan_id,
            token=self.token,
            digest=self.digest,
            quantum_count=totals.quanta,
            produced_count=totals.produced,
            dataset_count=totals.datasets,
            edge_count=totals.edges,
            tasks=tasks,
            cells=cells,
        )

    def _run_batches(
        self,
        phase: str,
        query: str,
        batches: Iterator[tuple[list[dict[str, Any]], Check]],
        total: int,
    ) -> None:
        done = 0

        def finished(count: int) -> None:
            nonlocal done
            done += count
            crash_point("plan.batch")
            self.progress(phase, done, total)

        write_in_parallel(
            self.store,
            query,
            batches,
            self.batches.workers,
            finished,
            plan_id=self.plan_id,
            token=self.token,
        )

    # --- cleaning up ---------------------------------------------------------------

    def _abandon(self) -> None:
        """Best effort: remove what this attempt wrote, so a failed write leaves nothing."""
        try:
            header = self.store.read("plan_header", plan_id=self.plan_id)
            if header and header[0]["plan"].get("writer") == self.token:
                delete_content(self.store, self.plan_id)
                self.store.write("plan_delete_node", plan_id=self.plan_id, token=self.token)
        except Exception as err:
            logger.warning(
                "plan %r: could not remove what the failed write stored (%s: %s); it stays incomplete "
                "('provgraph plans list --all'): rerun to resume or 'provgraph plans delete' it",
                self.plan_id,
                type(err).__name__,
                err,
            )


def write_plan(
    store: GraphStore,
    graph: PlanGraph,
    *,
    replace: bool = False,
    batches: BatchSizes | None = None,
    progress: Progress = _no_progress,
    stale_after: float = STALE_AFTER,
) -> WriteResult:
    """Store ``graph`` in Neo4j, whole or not at all.

    Parameters
    ----------
    store
        Where to write.
    graph
        The plan to write; it was checked when built.
    replace
        Replace a complete plan of the same id but different content, instead of
        raising `PlanConflictError`.
    batches
        Rows per write transaction; default `BatchSizes.from_env`.
    progress
        Called as ``progress(phase, done, total)`` after every batch.
    stale_after
        Seconds after which a silent writer on another host counts as dead.
    """
    writer = _PlanWriter(store, graph, batches or BatchSizes.from_env(), progress, stale_after)
    with _gc_frozen():
        return writer.run(replace)


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off the plan's (millions of) long-lived objects.

    Full collections would otherwise rescan every quantum and dataset of the plan
    while the rows are built, for nothing: none of them becomes garbage during a write.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# --- plans written in parts ------------------------------------------------------------------

NotesMerger = Callable[[Sequence[PlanNote], Mapping[str, int]], list[PlanNote]]
"""Makes one plan's notes from its parts' notes and its quanta per task (`write_plan_parts`)."""


@dataclass(frozen=True)
class PartsResult:
    """What `write_plan_parts` did: the `WriteResult`, and what a person is told of the plan."""

    result: WriteResult
    plan: Plan
    """The plan's header, as stored."""
    task_counts: dict[str, int]
    """Its quanta per task."""
    notes: list[PlanNote]
    """Its notes, merged across parts."""


class PartConflictError(PlanError):
    """Two parts of a plan written in parts plan one quantum differently."""


class _Merge:
    """The plan that parts make together: each quantum once, checked equal wherever it recurs.

    A quantum (its id: run, task, data ID) may be planned by several parts, when the split
    dimension is not among its own (a visit's quantum, split by tract, where the visit
    overlaps two tracts). It must then have the same inputs and outputs in each; if not,
    the split cut it (a gather over what the split divides) and the plan is refused.

    Memory: per quantum of the plan, its id and one integer; per input dataset, its id.
    """

    def __init__(self, plan: Plan, describe: Callable[[int], str]) -> None:
        self.plan = plan
        self.describe = describe
        self._seen: dict[str, int] = {}
        self._inputs: set[str] = set()
        self.totals = _Totals(0, 0, 0, 0)
        self.counter = SummaryCounter()
        self.notes: list[PlanNote] = []
        self.types: dict[str, DatasetType] = {}
        self._digest = hashlib.sha256(b"parts\x00")
        self._digest.update(plan.identity_json().encode())

    def take(self, index: int, graph: PlanGraph) -> tuple[list[DatasetRef], list[DatasetRef], list[Quantum]]:
        """The inputs, outputs and quanta of part ``index`` that no earlier part had."""
        if graph.plan.output_run != self.plan.output_run or graph.plan.id != self.plan.id:
            raise PlanError(f"part {self.describe(index)} is not of plan {self.plan.id!r} in its output run")
        new_quanta: list[Quantum] = []
        for qid in sorted(graph.quanta):
            q = graph.quanta[qid]
            content = hash((tuple(r.id for r in q.inputs), tuple(r.id for r in q.outputs)))
            mark = ((content & _HASH_MASK) << _PART_BITS) | min(index, _PART_MASK)
            before = self._seen.setdefault(qid, mark)
            if before == mark:
                new_quanta.append(q)
            elif before >> _PART_BITS != mark >> _PART_BITS:
                raise PartConflictError(
                    f"plan {self.plan.id!r}: quantum {q} has other inputs or outputs in part "
                    f"{self.describe(index)} than in part {self.describe(before & _PART_MASK)}: "
                    "the split cuts what it gathers",
                    hint=f"split by a dimension that task {q.task_label!r} has, or that holds all "
                    "it gathers (a coarser one), or plan without --split-by",
                )
        outputs = [r for q in new_quanta for r in q.outputs]
        inputs = [
            ref
            for did, ref in graph.datasets.items()
            if graph.producer(did) is None and did not in self._inputs
        ]
        self._inputs.update(r.id for r in inputs)
        for q in new_quanta:
            self._digest.update(q.id.encode())
            self._digest.update(json.dumps([[r.id for r in q.inputs], [r.id for r in q.outputs]]).encode())
        self.types.update(graph.dataset_types)
        self.counter.add(new_quanta)
        self.notes.extend(graph.notes)
        t = self.totals
        self.totals = _Totals(
            t.quanta + len(new_quanta),
            t.produced + len(outputs),
            t.datasets + len(inputs) + len(outputs),
            t.edges + sum(len(q.inputs) + len(q.outputs) for q in new_quanta),
        )
        return inputs, outputs, new_quanta

    def finish(self, merge_notes: NotesMerger) -> str:
        """Merge the notes; the plan's digest."""
        self.notes = merge_notes(self.notes, dict(self.counter.quanta))
        for name in sorted(self.types):
            self._digest.update(self.types[name].model_dump_json().encode())
        for note in self.notes:
            self._digest.update(note.model_dump_json().encode())
        return self._digest.hexdigest()


def _numbered(parts: Iterator[PlanGraph]) -> Iterator[tuple[int, PlanGraph]]:
    """``enumerate(parts)``, without its hold on the last part.

    CPython's ``enumerate`` keeps its last result tuple for reuse, and with it the last
    part, until the next part has been made: two parts in memory at once.
    """
    index = 0
    for graph in parts:
        yield index, graph
        del graph
        index += 1  # noqa: SIM113 - enumerate is what holds the last part


_PART_BITS = 20
_PART_MASK = (1 << _PART_BITS) - 1
_HASH_MASK = (1 << 43) - 1


class _PartsWriter(_PlanWriter):
    """One attempt at writing one plan from parts planned one after the other.

    The claim carries a digest of the plan's header (what was asked); `plan_complete`
    replaces it by the digest of the content. Over a complete plan, every part is planned
    once without writing, to compare contents (``unchanged``) before anything is replaced.
    """

    def __init__(
        self,
        store: GraphStore,
        plan: Plan,
        parts: Callable[[], Iterator[PlanGraph]],
        describe: Callable[[int], str],
        merge_notes: NotesMerger,
        refuse_empty: Callable[[Sequence[PlanNote]], Exception] | None,
        batches: BatchSizes,
        progress: Progress,
        stale_after: float,
    ) -> None:
        self.store = store
        self.plan = plan
        self.refuse_empty = refuse_empty
        self.plan_id = plan.id
        self.parts = parts
        self.describe = describe
        self.merge_notes = merge_notes
        self.batches = batches
        self.progress = progress
        self.stale_after = stale_after
        self.lease = Lease()
        self.token = self.lease.token
        self.digest = "asked:" + hashlib.sha256(plan.identity_json().encode()).hexdigest()
        self.merged = _Merge(plan, describe)

    def _register_dataset_types(self) -> None:
        return None  # each part's, before it is written

    def _content_digest(self) -> str:
        """Plan every part without writing: the digest the plan would be stored with."""
        merged = self.merged = _Merge(self.plan, self.describe)
        for index, graph in _numbered(self.parts()):
            merged.take(index, graph)
            del graph
        return merged.finish(self.merge_notes)

    def _differences_from(self, stored: Mapping[str, Any], stored_notes: tuple[int, int]) -> tuple[str, ...]:
        t = self.merged.totals  # of the parts just planned (`_content_digest`)
        return _differences(
            stored, stored_notes, self.plan, (t.quanta, t.datasets, t.edges), self.merged.notes
        )

    def _write_content(self) -> None:
        merged = self.merged = _Merge(self.plan, self.describe)
        self._set_header(self.plan)
        crash_point("plan.header")
        for index, graph in _numbered(self.parts()):
            inputs, outputs, quanta = merged.take(index, graph)
            self.graph = graph  # for _check_conflicts, should the write collide
            self._register_types_of(graph)
            self._write_part(graph, inputs, outputs, quanta, merged.counter.signatures)
            # The part's memory goes before the next is planned: its graph, and the lists
            # that hold its quanta and datasets.
            del graph, inputs, outputs, quanta
            self.graph = None  # type: ignore[assignment]
        self.digest = merged.finish(self.merge_notes)
        if not merged.totals.quanta and self.refuse_empty is not None:
            raise self.refuse_empty(merged.notes)  # before it is complete: the write is undone
        self._write_notes(merged.notes)
        tasks, cells = merged.counter.rows(self.plan_id)
        crash_point("plan.before_complete")
        self._complete(merged.totals, tasks, cells)

    def _result(self, outcome: WriteOutcome, started: float) -> WriteResult:
        t = self.merged.totals
        return WriteResult(
            plan_id=self.plan_id,
            outcome=outcome,
            quanta=t.quanta,
            datasets=t.datasets,
            edges=t.edges,
            seconds=time.perf_counter() - started,
        )


def write_plan_parts(
    store: GraphStore,
    plan: Plan,
    parts: Callable[[], Iterator[PlanGraph]],
    *,
    describe: Callable[[int], str],
    merge_notes: NotesMerger,
    refuse_empty: Callable[[Sequence[PlanNote]], Exception] | None = None,
    replace: bool = False,
    batches: BatchSizes | None = None,
    progress: Progress = _no_progress,
    stale_after: float = STALE_AFTER,
) -> PartsResult:
    """Store one plan made of parts planned one at a time, whole or not at all.

    For a plan too big to hold in memory at once: each part (a `PlanGraph` of the same plan
    id and output run, e.g. the pre-flight of one tract) is written as soon as it is made,
    and dropped before the next is made. A quantum that several parts plan is written once,
    and must be the same in each (`PartConflictError` otherwise). The plan becomes visible
    when the last part is written, as `write_plan` does it; a failure removes what was
    written, and a killed write is taken over by the next.

    Parameters
    ----------
    store
        Where to write.
    plan
        The plan's header (its data query is the whole one, not a part's).
    parts
        Makes the parts, in a fixed order; called once to write, and once more beforehand
        when a complete plan of this id is stored already (to compare contents).
    describe
        Names part ``i`` for people, e.g. ``tract=3``.
    merge_notes
        Makes the plan's notes from the parts' notes and its quanta per task.
    refuse_empty
        If given, a plan without quanta is not stored: the error it makes of the plan's
        notes is raised, and what the parts wrote is removed.
    replace, batches, progress, stale_after
        As for `write_plan`.
    """
    writer = _PartsWriter(
        store,
        plan,
        parts,
        describe,
        merge_notes,
        refuse_empty,
        batches or BatchSizes.from_env(),
        progress,
        stale_after,
    )
    with _gc_frozen():
        result = writer.run(replace)
    return PartsResult(result, plan, dict(writer.merged.counter.quanta), writer.merged.notes)
