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

``--extend-run`` (`extend_run`) reruns into the old plan's own run instead, as pipetask's
``--extend-run`` does. That cannot be a new plan: ids derive from (repository, run, task or
dataset type, data ID), so the same quanta in the same run are the same nodes, and a
dataset has one producer. The selected quanta of the old plan itself become pending again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance_graph.errors import PlanError, PreflightError
from provenance_graph.model import DataId, DatasetRef, Plan, PlanGraph, Quantum, QuantumStatus
from provenance_graph.repository import Repository
from provenance_graph.store import GraphStore, WriteResult, check_plan, read_plan, write_plan
from provenance_graph.store.execution import quantum_statuses, reset_quanta

__all__ = [
    "ExtendedRun",
    "PlannedRerun",
    "RerunSelection",
    "extend_run",
    "plan_rerun",
    "rerun_graph",
    "select_rerun",
]


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
    graph: PlanGraph,
    statuses: Mapping[str, QuantumStatus],
    selection: RerunSelection,
    *,
    check_inputs: bool = True,
) -> list[str]:
    """The ids of the quanta of ``graph`` that ``selection`` asks to run again, in run order.

    Raises `PlanError` for an ``--impact-of`` dataset the plan does not have, and (with
    ``check_inputs``: a new plan, which runs only what is selected) when a selected quantum
    reads an output of the old plan that exists neither now nor in the rerun (its producer
    neither succeeded nor was selected).
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
    if check_inputs:
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
    graph, root = _rerunnable(store, rerun_of, selection)
    if output_run == graph.plan.output_run:
        raise PlanError(
            f"the rerun would write to the old plan's own run {output_run!r}",
            hint="give a new output run (--output-run RUN), or rerun in place with --extend-run",
        )
    statuses = quantum_statuses(store, list(graph.quanta))
    selected = _selected(graph, statuses, selection, check_inputs=True)
    with Repository.open(root) as repository:
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


def _rerunnable(store: GraphStore, rerun_of: str, selection: RerunSelection) -> tuple[PlanGraph, Path]:
    """The stored plan ``rerun_of`` and its repository's root, if ``selection`` may rerun it."""
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
    return graph, Path(root)


def _selected(
    graph: PlanGraph, statuses: Mapping[str, QuantumStatus], selection: RerunSelection, *, check_inputs: bool
) -> list[str]:
    """`select_rerun`, refusing a selection of nothing."""
    selected = select_rerun(graph, statuses, selection, check_inputs=check_inputs)
    if not selected:
        raise PlanError(
            f"plan {graph.plan.id!r} has nothing that {selection.reason} selects",
            hint="'provgraph status PLAN' shows what failed or was blocked",
        )
    return selected


@dataclass(frozen=True)
class ExtendedRun:
    """What `extend_run` did."""

    plan_id: str
    """The plan whose quanta will run again."""
    output_run: str
    """Its run, where they will write again."""
    reason: str
    """What was selected (``failed, impact-of ID``)."""
    quanta: int
    """How many quanta are pending again."""
    task_counts: dict[str, int]
    """The same, per task label."""
    removed: int
    """Output files removed (``--clobber-outputs``)."""


def extend_run(
    store: GraphStore,
    plan_id: str,
    selection: RerunSelection,
    *,
    output_run: str | None = None,
    clobber_outputs: bool = False,
) -> ExtendedRun:
    """Make what ``selection`` picks of plan ``plan_id`` pending again, to rerun in the plan's own run.

    ``plan --rerun-of PLAN --extend-run``. The selected quanta (`select_rerun`; their inputs
    need not exist yet, since the next run of the plan runs every pending producer too)
    become ``pending`` and their outputs unmade, in one transaction (`reset_quanta`) that
    refuses while a live execution runs the plan; their attempts stay as history. The next
    ``provgraph run --plan PLAN`` (or ``submit``/``restart``) runs them again, and nothing
    else that was done.

    Outputs of the selected quanta that exist (a succeeded or skipped quantum's) are refused
    unless ``clobber_outputs``; with it, they are removed from the repository inside that
    transaction, after its checks and just before it commits. Why remove them now rather
    than record ``clobber_outputs`` for the runs to come: a run skips a pending quantum whose
    outputs all exist, so stale files would be taken as done; and the plan's metadata is
    part of its digest, which its clusterings are checked against, so changing it would
    invalidate them. Removing them is pipetask's ``--clobber-outputs`` (the old outputs of a
    quantum are removed before it runs again), done once, up front. It is crash-safe in the
    order chosen: were the files removed first and the graph then not changed (the process
    killed, the server gone at commit), the quanta still read as done with their files
    gone, and the same command again finishes the job; the other order could leave pending
    quanta with stale files, which the next run would skip as existing, silently.

    Raises `PlanError` for an empty selection, a Rubin plan, or an ``output_run`` other than
    the plan's; `PreflightError` for existing outputs without ``clobber_outputs``;
    `PlanBusyError` while the plan runs.
    """
    graph, root = _rerunnable(store, plan_id, selection)
    run = graph.plan.output_run
    if output_run is not None and output_run != run:
        raise PlanError(
            f"--extend-run reruns plan {plan_id!r} in its own run {run!r}, not {output_run!r}",
            hint=f"leave out --output-run, or drop --extend-run to make a new plan in run {output_run!r}",
        )
    statuses = quantum_statuses(store, list(graph.quanta))
    selected = _selected(graph, statuses, selection, check_inputs=False)
    outputs = [ref for qid in selected for ref in graph.quanta[qid].outputs]
    removed: list[DatasetRef] = []
    with Repository.open(root) as repository:
        there = [ref for ref in outputs if repository.exists(ref)]
        if there and not clobber_outputs:
            raise PreflightError(
                f"{len(there)} output(s) of the quanta to rerun exist in run {run!r}, e.g. {there[0]}",
                hint="replace them with --clobber-outputs (their files are removed now)",
            )

        def remove_outputs() -> None:
            removed[:] = [ref for ref in outputs if repository.remove(ref)]

        reset = reset_quanta(
            store,
            plan_id,
            selected,
            reason=f"reset by extend-run ({selection.reason})",
            before_commit=remove_outputs,
        )
    counts: dict[str, int] = {}
    for qid in selected:
        label = graph.quanta[qid].task_label
        counts[label] = counts.get(label, 0) + 1
    return ExtendedRun(plan_id, run, selection.reason, reset, counts, len(removed))
