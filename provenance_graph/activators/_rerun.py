"""Targeted reruns: a new plan of only the quanta that need running again (``plan --rerun-of``).

An operator reruns what failed, what was blocked, and/or everything downstream of some
datasets (``--impact-of``: a bad calibration), into a new output run. The new plan is a
subgraph of the old one, moved to the new run: each selected quantum is the same task at
the same data ID; an input that an unselected quantum of the old plan made is read where
it is (pipetask's ``--skip-existing-in`` the old run), so only the selected quanta run
again and their good neighbours are reused. Lineage walks from the new outputs through
the reused ones into the old plan, since a reused dataset is one node of the graph.

The new plan's metadata names where it came from: ``rerun_of`` (the old plan's id) and
``rerun_reason`` (what was selected).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance_graph.errors import PlanError, PreflightError
from provenance_graph.model import DataId, DatasetRef, Plan, PlanGraph, Quantum, QuantumStatus
from provenance_graph.repository import Repository
from provenance_graph.store import GraphStore, WriteResult, check_plan, read_plan, write_plan
from provenance_graph.store.execution import quantum_statuses

__all__ = ["PlannedRerun", "RerunSelection", "plan_rerun", "rerun_graph", "select_rerun"]


@dataclass(frozen=True)
class RerunSelection:
    """Which quanta of a plan to run again."""

    failed: bool = False
    """Its failed quanta."""
    blocked: bool = False
    """Its blocked quanta (they never ran: something upstream failed)."""
    impact_of: tuple[str, ...] = ()
    """Datasets (ids, or ``TYPE DATA_ID``): every quantum of the plan that reads one, and
    everything downstream of those."""

    @property
    def empty(self) -> bool:
        """True when nothing is selected."""
        return not (self.failed or self.blocked or self.impact_of)

    @property
    def reason(self) -> str:
        """What was selected, for the new plan's ``rerun_reason``: ``failed, blocked, impact-of ID``."""
        parts = [name for name, chosen in (("failed", self.failed), ("blocked", self.blocked)) if chosen]
        parts += [f"impact-of {given}" for given in self.impact_of]
        return ", ".join(parts)


def select_rerun(
    graph: PlanGraph, statuses: Mapping[str, QuantumStatus], selection: RerunSelection
) -> list[str]:
    """The ids of the quanta of ``graph`` that ``selection`` asks to run again, in run order.

    Raises `PlanError` for an ``--impact-of`` dataset the plan does not have, and when a
    selected quantum reads an output of the old plan that exists neither now nor in the
    rerun (its producer neither succeeded nor was selected).
    """
    starts = [_dataset_in(graph, given) for given in selection.impact_of]
    chosen = {
        qid
        for qid in graph.quanta
        if (selection.failed and statuses.get(qid) is QuantumStatus.FAILED)
        or (selection.blocked and statuses.get(qid) is QuantumStatus.BLOCKED)
    }
    seen: set[str] = set()  # everything downstream of the --impact-of datasets, once each
    frontier = [q.id for d in starts for q in graph.consumers(d)]
    while frontier:
        qid = frontier.pop()
        if qid in seen:
            continue
        seen.add(qid)
        for ref in graph.quanta[qid].outputs:
            frontier.extend(q.id for q in graph.consumers(ref.id))
    chosen |= seen
    ordered = [q.id for q in graph.in_order() if q.id in chosen]
    _check_inputs_available(graph, statuses, chosen, ordered)
    return ordered


def _dataset_in(graph: PlanGraph, given: str) -> str:
    """The id of the dataset of ``graph`` that ``given`` names: its id, or ``TYPE DATA_ID``."""
    if given in graph.datasets:
        return given
    dataset_type, _, data_id = given.strip().partition(" ")
    if data_id:
        key = DataId.parse(data_id).key()
        for dataset_id, ref in graph.datasets.items():
            if ref.dataset_type.name == dataset_type and ref.data_id.key() == key:
                return dataset_id
    raise PlanError(
        f"plan {graph.plan.id!r} neither reads nor writes a dataset {given!r}",
        hint="give a dataset's id, or its type and data ID: --impact-of 'bias instrument=DemoCam detector=1'",
    )


def _check_inputs_available(
    graph: PlanGraph, statuses: Mapping[str, QuantumStatus], chosen: Collection[str], ordered: Sequence[str]
) -> None:
    """Refuse a selection whose quanta read an old output that will not be there."""
    for qid in ordered:
        for ref in graph.quanta[qid].inputs:
            producer = graph.producer(ref.id)
            if producer is None or producer.id in chosen:
                continue
            status = statuses.get(producer.id, QuantumStatus.PENDING)
            if not status.done:
                raise PlanError(
                    f"{graph.quanta[qid]} reads {ref}, which {producer} never made (it is {status.value})",
                    hint="select its producer too (--failed, --blocked), or rerun the old plan first",
                )


def rerun_graph(
    graph: PlanGraph,
    selected: Sequence[str],
    *,
    output_run: str,
    plan_id: str | None,
    reason: str,
    uri: Callable[[DatasetRef], str],
    clobber_outputs: bool = False,
) -> PlanGraph:
    """The new plan: the ``selected`` quanta of ``graph`` writing to ``output_run``.

    Outputs of selected quanta move to ``output_run`` (``uri`` gives their files); every
    other input stays the dataset it was, in the run it is in.
    """
    chosen = set(selected)
    moved: dict[str, DatasetRef] = {}

    def new_ref(ref: DatasetRef) -> DatasetRef:
        if ref.id not in moved:
            moved[ref.id] = DatasetRef(
                dataset_type=ref.dataset_type, data_id=ref.data_id, run=output_run, repository=ref.repository
            )
        return moved[ref.id]

    quanta = []
    for qid in selected:
        old = graph.quanta[qid]
        inputs = [
            new_ref(ref) if (p := graph.producer(ref.id)) is not None and p.id in chosen else ref
            for ref in old.inputs
        ]
        outputs = [new_ref(ref) for ref in old.outputs]
        quanta.append(
            Quantum.trusted(
                old.task_label, old.data_id, output_run, inputs, outputs, repository=old.repository
            )
        )
    header = graph.plan.model_dump(exclude={"id", "created", "output_run", "metadata"})
    metadata = {**graph.plan.metadata, "rerun_of": graph.plan.id, "rerun_reason": reason}
    metadata.pop("clobber_outputs", None)
    if clobber_outputs:
        metadata["clobber_outputs"] = True
    plan = Plan(
        **header,
        output_run=output_run,
        metadata=metadata,
        **({"id": plan_id} if plan_id is not None else {}),
    )
    new = PlanGraph(plan, quanta)
    for dataset_id, ref in new.datasets.items():
        new.uris[dataset_id] = graph.uris.get(dataset_id) or uri(ref)
    return new


@dataclass(frozen=True)
class PlannedRerun:
    """What `plan_rerun` made."""

    graph: PlanGraph
    """The new plan."""
    stored: WriteResult
    """How it was stored."""
    reused: int
    """Outputs of the old plan the new one reads where they are."""


def plan_rerun(
    store: GraphStore,
    rerun_of: str,
    selection: RerunSelection,
    *,
    output_run: str,
    plan_id: str | None = None,
    clobber_outputs: bool = False,
) -> PlannedRerun:
    """Make and store a plan that runs again what ``selection`` picks of plan ``rerun_of``.

    The old plan's repository (its ``repository`` metadata) holds the outputs it reuses.
    Refuses an empty selection, a Rubin plan (rerun those with pipetask), and an output run
    that holds outputs of the new plan already unless ``clobber_outputs``.
    """
    if selection.empty:
        raise PlanError(
            "a rerun needs something to run again", hint="add --failed, --blocked or --impact-of DATASET"
        )
    check_plan(store, rerun_of)
    graph = read_plan(store, rerun_of)
    root = graph.plan.metadata.get("repository")
    if graph.butler_repository is not None or not isinstance(root, str):
        raise PlanError(
            f"plan {rerun_of!r} was not planned by provgraph over a repository of its own",
            hint="rerun a Rubin plan with pipetask run --extend-run --skip-existing-in",
        )
    if output_run == graph.plan.output_run:
        raise PlanError(
            f"the rerun would write to the old plan's own run {output_run!r}",
            hint="give a new output run (-o RUN); 'provgraph restart PLAN' reruns failures in place",
        )
    statuses = quantum_statuses(store, list(graph.quanta))
    selected = select_rerun(graph, statuses, selection)
    if not selected:
        raise PlanError(
            f"plan {rerun_of!r} has nothing that {selection.reason} selects",
            hint="'provgraph status PLAN' shows what failed or was blocked",
        )
    with Repository.open(Path(root)) as repository:
        new = rerun_graph(
            graph,
            selected,
            output_run=output_run,
            plan_id=plan_id,
            reason=selection.reason,
            uri=repository.uri,
            clobber_outputs=clobber_outputs,
        )
        there = [ref for ref in new.datasets.values() if ref.run == output_run and repository.exists(ref)]
    if there and not clobber_outputs:
        raise PreflightError(
            f"output run {output_run!r} already holds {len(there)} output(s) of the rerun, e.g. {there[0]}",
            hint="choose a new output run, or replace them with --clobber-outputs",
        )
    stored = write_plan(store, new)
    reused = sum(1 for ref in new.initial_inputs() if graph.producer(ref.id) is not None)
    return PlannedRerun(new, stored, reused)
