"""`PlanGraph`: the in-memory execution-plan graph of datasets and quanta.

It is checked when it is built, before anything is written anywhere: a dataset
with two producers, quanta that depend on each other in a cycle, a quantum
defined twice, or one dataset type name with two definitions are each an error
that names the culprits. Quantum-to-quantum dependencies are not stored; they
are derived through datasets: a quantum depends on the producers of its inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from graphlib import CycleError, TopologicalSorter

from provenance_graph.errors import (
    DatasetTypeConflictError,
    DuplicateProducerError,
    PlanCycleError,
    PlanError,
)
from provenance_graph.model._datasets import DatasetRef, DatasetType
from provenance_graph.model._notes import PlanNote
from provenance_graph.model._plan import Plan
from provenance_graph.model._quantum import Quantum

__all__ = ["PlanGraph"]

_MAX_NAMED = 5


def _name_some(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_MAX_NAMED])
    more = len(items) - _MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


class PlanGraph:
    """An execution plan: its `Plan` header, its quanta, and the datasets they touch.

    Parameters
    ----------
    plan
        The plan header.
    quanta
        Every quantum of the plan, in any order.
    notes
        Why pre-flight dropped data IDs, if it did.
    uris
        File URIs of datasets, by dataset id, where known.
    existing
        Ids of input datasets known to exist when the plan was made (e.g. found in
        the Butler at import); not part of the plan's identity.

    Raises
    ------
    DuplicateProducerError
        Two quanta write the same dataset.
    PlanCycleError
        Quanta depend on each other in a cycle.
    DatasetTypeConflictError
        One dataset type name appears with two definitions.
    PlanError
        A quantum appears twice, or writes outside the plan's output run, or quanta and
        datasets name different repositories (see `butler_repository`).
    """

    def __init__(
        self,
        plan: Plan,
        quanta: Iterable[Quantum],
        notes: Iterable[PlanNote] = (),
        uris: Mapping[str, str] | None = None,
        existing: Iterable[str] = (),
    ) -> None:
        self.plan = plan
        self.notes: tuple[PlanNote, ...] = tuple(
            sorted(notes, key=lambda n: (n.task_label, n.connection, n.kind.value))
        )
        """Why pre-flight dropped data IDs (see `PlanNote`)."""
        self.uris: dict[str, str] = dict(uris or {})
        """Where datasets' files are (or will be), by dataset id; not part of the plan's identity."""
        self.existing: frozenset[str] = frozenset(existing)
        """Input datasets known to exist when the plan was made; not part of the plan's identity."""
        self._repositories: set[str | None] = set()
        self._quanta: dict[str, Quantum] = {}
        self._datasets: dict[str, DatasetRef] = {}
        self._dataset_types: dict[str, DatasetType] = {}
        self._producer: dict[str, str] = {}
        self._consumers: dict[str, list[str]] = defaultdict(list)
        duplicates: dict[str, list[str]] = defaultdict(list)
        for quantum in quanta:
            self._add(quantum, duplicates)
        if duplicates:
            culprits = [
                f"{self._datasets[d]} by {_name_some(str(self._quanta[q]) for q in qs)}"
                for d, qs in duplicates.items()
            ]
            raise DuplicateProducerError(
                f"{len(duplicates)} dataset(s) have more than one producer: {_name_some(culprits)}",
                hint="each dataset must be written by one quantum; check the tasks' outputs "
                "and quantum dimensions",
            )
        self._check_repositories()
        self._order = self._topological_order()

    def _check_repositories(self) -> None:
        """Refuse quanta and datasets of several repositories, or of one that is not the plan's."""
        found = self._repositories
        if len(found) > 1 or (found and None not in found and self.plan.repository not in found):
            named = sorted(r or "none" for r in found)
            raise PlanError(
                f"plan {self.plan.id!r} mixes quanta and datasets of repositories {', '.join(named)} "
                f"(the plan's: {self.plan.repository or 'none'})",
                hint="a plan's quanta and datasets all come from one repository",
            )

    def _add(self, quantum: Quantum, duplicates: dict[str, list[str]]) -> None:
        qid = quantum.id
        if qid in self._quanta:
            raise PlanError(
                f"quantum {quantum} appears twice in plan {self.plan.id!r}",
                hint="a task may have only one quantum per data ID",
            )
        if quantum.run != self.plan.output_run:
            raise PlanError(
                f"quantum {quantum} writes to run {quantum.run!r}, "
                f"not the plan's output run {self.plan.output_run!r}"
            )
        self._quanta[qid] = quantum
        self._repositories.add(quantum.repository)
        for ref in quantum.inputs:
            self._remember(ref)
            self._consumers[ref.id].append(qid)
        for ref in quantum.outputs:
            if ref.run != quantum.run:
                raise PlanError(f"quantum {quantum} writes {ref} outside its run {quantum.run!r}")
            self._remember(ref)
            previous = self._producer.get(ref.id)
            if previous is not None:
                if not duplicates[ref.id]:
                    duplicates[ref.id].append(previous)
                duplicates[ref.id].append(qid)
            else:
                self._producer[ref.id] = qid

    def _remember(self, ref: DatasetRef) -> None:
        known_type = self._dataset_types.setdefault(ref.dataset_type.name, ref.dataset_type)
        if known_type is not ref.dataset_type and known_type != ref.dataset_type:
            raise DatasetTypeConflictError(
                f"dataset type {ref.dataset_type.name!r} has two definitions in plan "
                f"{self.plan.id!r}: {known_type!r} and {ref.dataset_type!r}",
                hint="give each dataset type one set of dimensions and one storage class",
            )
        if self._datasets.setdefault(ref.id, ref) is ref:
            self._repositories.add(ref.repository)

    def _topological_order(self) -> list[str]:
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for qid in self._quanta:
            sorter.add(qid, *self.parents(qid))
        try:
            return list(sorter.static_order())
        except CycleError as err:
            cycle = [str(self._quanta[q]) for q in err.args[1]]
            raise PlanCycleError(
                f"quanta depend on each other in a cycle: {' -> '.join(cycle)}",
                hint="a task must not read, directly or through other tasks, what it writes",
            ) from err

    # --- the graph -----------------------------------------------------------------

    @property
    def quanta(self) -> Mapping[str, Quantum]:
        """Every quantum, by id."""
        return self._quanta

    @property
    def datasets(self) -> Mapping[str, DatasetRef]:
        """Every dataset read or written by the plan, by id."""
        return self._datasets

    @property
    def butler_repository(self) -> str | None:
        """The Butler repository whose identity scopes this plan's ids and dataset types.

        The plan's `Plan.repository` for a Butler-backed plan (its quanta and datasets carry
        it); None for our own plans and plans of an unknown repository.
        """
        found = next(iter(self._repositories), None)
        return found if len(self._repositories) == 1 else None

    @property
    def dataset_types(self) -> Mapping[str, DatasetType]:
        """Every dataset type of the plan, by name."""
        return self._dataset_types

    def producer(self, dataset_id: str) -> Quantum | None:
        """Return the quantum that writes the dataset, or None if it must pre-exist."""
        qid = self._producer.get(dataset_id)
        return None if qid is None else self._quanta[qid]

    def consumers(self, dataset_id: str) -> list[Quantum]:
        """Return the quanta that read the dataset."""
        return [self._quanta[q] for q in self._consumers.get(dataset_id, ())]

    def initial_inputs(self) -> list[DatasetRef]:
        """The datasets the plan reads but does not write: they must exist beforehand."""
        return [r for i, r in self._datasets.items() if i not in self._producer]

    def final_outputs(self) -> list[DatasetRef]:
        """The datasets the plan writes that no quantum of the plan reads."""
        return [r for i, r in self._datasets.items() if i in self._producer and not self._consumers.get(i)]

    def parents(self, quantum_id: str) -> set[str]:
        """Ids of the quanta that must run before the given one (producers of its inputs)."""
        found = set()
        for ref in self._quanta[quantum_id].inputs:
            producer = self._producer.get(ref.id)
            if producer is not None:
                found.add(producer)
        return found

    def children(self, quantum_id: str) -> set[str]:
        """Ids of the quanta that read something the given quantum writes."""
        return {c for ref in self._quanta[quantum_id].outputs for c in self._consumers.get(ref.id, ())}

    def in_order(self) -> Iterator[Quantum]:
        """Yield the quanta in a dependency-respecting (topological) order."""
        return (self._quanta[q] for q in self._order)

    # --- summaries and identity ----------------------------------------------------

    def task_counts(self) -> dict[str, int]:
        """Number of quanta per task label."""
        return dict(Counter(q.task_label for q in self._quanta.values()))

    @property
    def edge_count(self) -> int:
        """Number of CONSUMES plus PRODUCES edges."""
        return sum(len(q.inputs) + len(q.outputs) for q in self._quanta.values())

    def digest(self) -> str:
        """A SHA-256 of the plan's header and content; equal plans have equal digests.

        The header's ``created`` time is left out: planning the same thing again, e.g.
        rerunning a ``provgraph plan`` that was killed after it stored the plan, gives the
        same digest, so the stored plan counts as ``unchanged`` rather than a conflict.
        The header's ``repository`` is left out too (it is in the ids of a Butler-backed
        plan, and in the metadata of ours), so plans stored before it existed keep their
        digests; Butler ids count where there are some.
        """
        h = hashlib.sha256()
        h.update(self.plan.identity_json().encode())
        for qid in sorted(self._quanta):
            q = self._quanta[qid]
            h.update(qid.encode())
            h.update(json.dumps([[r.id for r in q.inputs], [r.id for r in q.outputs]]).encode())
            if q.butler_id is not None:
                h.update(f"butler:{q.butler_id}".encode())
        for did, butler_id in sorted((d, r.butler_id) for d, r in self._datasets.items() if r.butler_id):
            h.update(f"{did}:{butler_id}".encode())
        for name in sorted(self._dataset_types):
            h.update(self._dataset_types[name].model_dump_json().encode())
        for note in self.notes:
            h.update(note.model_dump_json().encode())
        return h.hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlanGraph):
            return NotImplemented
        return self.plan == other.plan and self._quanta == other._quanta and self.notes == other.notes

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        return len(self._quanta)

    def __repr__(self) -> str:
        return f"PlanGraph(id={self.plan.id!r}, quanta={len(self._quanta)}, datasets={len(self._datasets)})"
