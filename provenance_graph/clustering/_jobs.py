"""Clustering quanta into batch jobs, and the job-level DAG those jobs form.

`cluster_quanta` takes a `QuantumDag` (quanta and the quantum-to-quantum dependencies,
from an in-memory `PlanGraph` or read from the graph store) and a `ClusteringSpec`, and
returns a `JobGraph`:

- every quantum is in exactly one job; a rule's quanta with equal dimension values share
  a job, split into jobs of at most ``max_quanta`` (connected quanta kept together where
  they fit); quanta of tasks no rule names get a job each;
- a job runs its quanta in dependency order (by depth in the plan, then task, then data ID);
- job B depends on job A when a quantum of B reads what a quantum of A writes;
- a clustering whose jobs would depend on each other in a cycle is refused
  (`ClusteringCycleError`), naming the jobs and the quanta that close the cycle.

Nothing here talks to a database.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from provenance_graph.clustering._spec import ClusteringSpec, ClusterRule
from provenance_graph.errors import ClusteringCycleError, ClusteringError, PlanCycleError, PlanError
from provenance_graph.model import DataId, DimensionValue, PlanGraph, suggest

__all__ = ["BatchJob", "ClusteringSummary", "JobGraph", "QuantumDag", "QuantumNode", "cluster_quanta"]

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
#: DAGMan reserves this node name (``RETRY ALL_NODES 3``); a job may not take it.
_RESERVED_NAMES = frozenset({"ALL_NODES"})
_MAX_NAMED = 5

SortKey = tuple[tuple[str, tuple[int, int | str]], ...]


def _sortable(data_id: Mapping[str, DimensionValue]) -> SortKey:
    """A data ID as a key that sorts numbers as numbers (detector 2 before detector 10)."""
    return tuple(
        (k, (0, v) if isinstance(v, int) else (1, v))
        for k, v in sorted(data_id.items(), key=lambda kv: kv[0])
    )


def _describe(task: str, data_id: Mapping[str, DimensionValue]) -> str:
    return f"{task} ({DataId(dict(data_id))})"


class QuantumNode(NamedTuple):
    """What clustering needs of one quantum."""

    id: str
    """The quantum's id."""
    task: str
    """Its task label."""
    data_id: Mapping[str, DimensionValue]
    """Its data ID."""


class QuantumDag:
    """The quanta of a plan and their dependencies, in a canonical order.

    Parameters
    ----------
    plan_id
        The plan the quanta belong to.
    nodes
        Every quantum, in any order.
    edges
        ``(parent, child)`` quantum ids: the child reads what the parent writes.
    digest
        The plan's digest, recorded with a stored clustering to notice a replaced plan.

    Nodes are kept sorted by task label and data ID, so the same plan gives the same
    jobs whatever order its quanta were read in.
    """

    def __init__(
        self,
        plan_id: str,
        nodes: Iterable[QuantumNode],
        edges: Iterable[tuple[str, str]],
        digest: str = "",
    ) -> None:
        self.plan_id = plan_id
        self.digest = digest
        decorated = sorted(((n.task, _sortable(n.data_id), n) for n in nodes), key=lambda t: (t[0], t[1]))
        self.nodes: list[QuantumNode] = [t[2] for t in decorated]
        self.sort_keys: list[SortKey] = [t[1] for t in decorated]
        self.index: dict[str, int] = {n.id: i for i, n in enumerate(self.nodes)}
        if len(self.index) != len(self.nodes):
            raise PlanError(f"plan {plan_id!r}: a quantum id appears twice among the quanta to cluster")
        pairs: set[tuple[int, int]] = set()
        for parent, child in edges:
            try:
                pairs.add((self.index[parent], self.index[child]))
            except KeyError as err:
                raise PlanError(
                    f"plan {plan_id!r}: dependency {parent} -> {child} names quantum {err.args[0]} "
                    "that is not among its quanta"
                ) from None
        self.edges: list[tuple[int, int]] = sorted(pairs)
        self.depth: list[int] = self._depths()

    @classmethod
    def from_plan(cls, graph: PlanGraph) -> QuantumDag:
        """The quanta and dependencies of an in-memory plan."""
        nodes = [QuantumNode(q.id, q.task_label, q.data_id.to_dict()) for q in graph.quanta.values()]
        edges = [(p, qid) for qid in graph.quanta for p in graph.parents(qid)]
        return cls(graph.plan.id, nodes, edges, digest=graph.digest())

    def _depths(self) -> list[int]:
        """Longest path from a quantum without parents, for each quantum (Kahn's algorithm)."""
        n = len(self.nodes)
        children: list[list[int]] = [[] for _ in range(n)]
        waiting = [0] * n
        for p, c in self.edges:
            children[p].append(c)
            waiting[c] += 1
        depth = [0] * n
        ready = [i for i in range(n) if waiting[i] == 0]
        seen = 0
        while ready:
            i = ready.pop()
            seen += 1
            for c in children[i]:
                depth[c] = max(depth[c], depth[i] + 1)
                waiting[c] -= 1
                if waiting[c] == 0:
                    ready.append(c)
        if seen != n:
            stuck = [_describe(self.nodes[i].task, self.nodes[i].data_id) for i in range(n) if waiting[i]]
            raise PlanCycleError(
                f"plan {self.plan_id!r}: quanta depend on each other in a cycle, among "
                f"{', '.join(stuck[:_MAX_NAMED])}"
            )
        return depth

    def tasks(self) -> dict[str, set[str]]:
        """Each task label with the dimensions its quanta have."""
        found: dict[str, set[str]] = defaultdict(set)
        for node in self.nodes:
            found[node.task].update(node.data_id)
        return dict(found)

    def __len__(self) -> int:
        return len(self.nodes)


class BatchJob(BaseModel):
    """One batch job: quanta that run together, in dependency order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """Unique in its clustering; safe as a file name and a DAGMan node name: ``visit_chain_3_12``."""
    label: str
    """The rule that made it, or the task label of a quantum no rule selected."""
    rule: str | None
    """The rule that made it; None for a job of one quantum that no rule selected."""
    data_id: DataId
    """The values of the rule's dimensions its quanta share (a lone quantum's whole data ID)."""
    quanta: tuple[str, ...]
    """Ids of its quanta, in the order the job runs them."""
    tasks: tuple[str, ...]
    """The task labels of its quanta, in run order, each once."""

    def __len__(self) -> int:
        return len(self.quanta)


@dataclass(frozen=True)
class ClusteringSummary:
    """What `provgraph cluster` prints."""

    jobs: int
    """Number of batch jobs."""
    quanta: int
    """Number of quanta (each in exactly one job)."""
    jobs_per_label: dict[str, int]
    """Jobs per rule (or per task, for quanta no rule selected)."""
    quanta_per_label: dict[str, int]
    """Quanta per rule (or task)."""
    edges: int
    """Job-to-job dependencies."""
    largest_job: str
    """The name of a job with the most quanta."""
    largest_job_quanta: int
    """How many quanta it holds."""
    critical_path: int
    """Jobs on the longest chain of dependent jobs."""


class JobGraph:
    """Batch jobs and the job-level DAG: what a production Activator submits.

    Built by `cluster_quanta` (or read back from the graph store); jobs are kept in a
    topological order: every job comes after the jobs it depends on.
    """

    def __init__(
        self,
        plan_id: str,
        name: str,
        jobs: Iterable[BatchJob],
        edges: Mapping[tuple[str, str], int],
        *,
        plan_digest: str = "",
        rules: str = "",
    ) -> None:
        self.plan_id = plan_id
        """The plan it clusters."""
        self.name = name
        """The clustering's name."""
        self.plan_digest = plan_digest
        """The digest of the plan it was made from."""
        self.rules = rules
        """The clustering rules, as canonical JSON."""
        self.jobs: dict[str, BatchJob] = {j.name: j for j in jobs}
        """Jobs by name, in topological order."""
        self.edges: dict[tuple[str, str], int] = dict(edges)
        """``(parent, child)`` job names, with how many quantum dependencies each carries."""
        self._job_of: dict[str, str] | None = None
        self._spec: ClusteringSpec | None = None

    def rule(self, job: str) -> ClusterRule | None:
        """The rule that made a job (its resources, retries); None for a job no rule selects."""
        label = self.jobs[job].rule
        if label is None or not self.rules:
            return None
        if self._spec is None:
            self._spec = ClusteringSpec.model_validate_json(self.rules)
        return self._spec.cluster.get(label)

    @staticmethod
    def dependency_order(jobs: Mapping[str, BatchJob], edges: Iterable[tuple[str, str]]) -> list[BatchJob]:
        """``jobs`` in a topological order of ``edges``, ties broken by name (the DAG is acyclic)."""
        waiting = dict.fromkeys(jobs, 0)
        children: dict[str, list[str]] = defaultdict(list)
        for parent, child in edges:
            children[parent].append(child)
            waiting[child] += 1
        ready = deque(sorted(n for n, k in waiting.items() if k == 0))
        order = []
        while ready:
            name = ready.popleft()
            order.append(jobs[name])
            for child in sorted(children[name]):
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return order

    def job_of(self, quantum_id: str) -> str:
        """The name of the job that runs a quantum."""
        if self._job_of is None:
            self._job_of = {q: j.name for j in self.jobs.values() for q in j.quanta}
        return self._job_of[quantum_id]

    def parents(self, job: str) -> set[str]:
        """Names of the jobs a job depends on."""
        return {p for p, c in self.edges if c == job}

    def children(self, job: str) -> set[str]:
        """Names of the jobs that depend on a job."""
        return {c for p, c in self.edges if p == job}

    def critical_path(self) -> list[str]:
        """A longest chain of dependent jobs, first job first."""
        parents: dict[str, list[str]] = defaultdict(list)
        for p, c in self.edges:
            parents[c].append(p)
        length: dict[str, int] = {}
        best_parent: dict[str, str | None] = {}
        for name in self.jobs:  # topological order
            best = max(parents.get(name, ()), key=lambda p: (length[p], p), default=None)
            length[name] = 1 + (length[best] if best is not None else 0)
            best_parent[name] = best
        if not length:
            return []
        end: str | None = max(length, key=lambda j: (length[j], j))
        path = []
        while end is not None:
            path.append(end)
            end = best_parent[end]
        return path[::-1]

    def blast_radii(self) -> dict[str, tuple[int, int]]:
        """For each job, what its failure loses: ``(jobs, quanta)``, itself and everything downstream.

        Computed in memory, in reverse topological order, with one integer bit set per job.
        """
        index = {name: i for i, name in enumerate(self.jobs)}
        children: dict[str, list[str]] = defaultdict(list)
        for p, c in self.edges:
            children[p].append(c)
        reach: dict[str, int] = {}
        for name in reversed(self.jobs):  # children before parents
            bits = 1 << index[name]
            for child in children[name]:
                bits |= reach[child]
            reach[name] = bits
        sizes = [len(j.quanta) for j in self.jobs.values()]
        radii = {}
        for name, reached in reach.items():
            bits, jobs, quanta = reached, 0, 0
            while bits:
                low = bits & -bits
                jobs += 1
                quanta += sizes[low.bit_length() - 1]
                bits ^= low
            radii[name] = (jobs, quanta)
        return radii

    def summary(self) -> ClusteringSummary:
        """Counts per rule, edges, the largest job and the critical path's length."""
        jobs_per: Counter[str] = Counter()
        quanta_per: Counter[str] = Counter()
        for job in self.jobs.values():
            jobs_per[job.label] += 1
            quanta_per[job.label] += len(job.quanta)
        largest = max(self.jobs.values(), key=lambda j: (len(j.quanta), j.name), default=None)
        return ClusteringSummary(
            jobs=len(self.jobs),
            quanta=sum(quanta_per.values()),
            jobs_per_label=dict(sorted(jobs_per.items())),
            quanta_per_label=dict(sorted(quanta_per.items())),
            edges=len(self.edges),
            largest_job=largest.name if largest else "",
            largest_job_quanta=len(largest.quanta) if largest else 0,
            critical_path=len(self.critical_path()),
        )

    def digest(self) -> str:
        """A SHA-256 of the jobs (names, labels, quanta in order) and the edges."""
        h = hashlib.sha256()
        h.update(self.rules.encode())
        h.update(self.plan_digest.encode())
        for name in sorted(self.jobs):
            job = self.jobs[name]
            h.update(json.dumps([name, job.label, job.rule, job.data_id.key(), job.quanta]).encode())
        for (p, c), n in sorted(self.edges.items()):
            h.update(f"{p}\0{c}\0{n}\n".encode())
        return h.hexdigest()

    def __iter__(self) -> Iterator[BatchJob]:
        return iter(self.jobs.values())

    def __len__(self) -> int:
        return len(self.jobs)

    def __repr__(self) -> str:
        return (
            f"JobGraph(plan={self.plan_id!r}, name={self.name!r}, jobs={len(self.jobs)}, "
            f"edges={len(self.edges)})"
        )


def _safe(value: DimensionValue) -> str:
    return _UNSAFE.sub("-", str(value)).strip("-") or "x"


def _split(members: list[int], max_quanta: int, union_edges: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Split a group (members in run order) into chunks of at most ``max_quanta``.

    Connected quanta (a per-detector chain) stay in one chunk when they fit; a
    connected set larger than a chunk is cut in run order, so chunks of one group
    never depend on each other in a cycle.
    """
    parent = {m: m for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in union_edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    components: dict[int, list[int]] = {}
    for m in members:  # run order, so each component is in run order and ordered by its first member
        components.setdefault(find(m), []).append(m)
    chunks: list[list[int]] = []
    current: list[int] = []
    for component in components.values():
        if len(component) > max_quanta:
            if current:
                chunks.append(current)
                current = []
            chunks.extend(component[i : i + max_quanta] for i in range(0, len(component), max_quanta))
        elif len(current) + len(component) > max_quanta:
            chunks.append(current)
            current = list(component)
        else:
            current.extend(component)
    if current:
        chunks.append(current)
    return chunks


def _check_spec(dag: QuantumDag, spec: ClusteringSpec, known_tasks: Iterable[str] | None) -> None:
    task_dims = dag.tasks()
    known = set(known_tasks) if known_tasks is not None else set(task_dims)
    known |= set(task_dims)
    for label, rule in spec.cluster.items():
        aliases = rule.aliases()
        for task in rule.pipetasks:
            if task not in known:
                hint = suggest(task, sorted(known)) or f"its tasks are {', '.join(sorted(known))}"
                raise ClusteringError(
                    f"clustering rule {label!r} names task {task!r}, "
                    f"which plan {dag.plan_id!r} does not have",
                    hint=hint,
                )
        # A dimension no task of the rule has (nor an alias of it) is a typo or a wrong rule;
        # one that only some tasks have is inherited along dependencies (see `_groups`).
        rule_dims = set().union(*(task_dims.get(t, set()) for t in rule.pipetasks))
        if not rule_dims:
            continue  # none of its tasks has quanta in this plan
        for dim in rule.dimensions:
            if dim not in rule_dims and aliases.get(dim) not in rule_dims:
                close = suggest(dim, sorted(rule_dims))
                raise ClusteringError(
                    f"clustering rule {label!r} groups by dimension {dim!r}, but quanta of its tasks "
                    f"have dimensions {', '.join(sorted(rule_dims))}",
                    hint=close or "group by dimensions the rule's tasks have",
                )


Group = tuple[str, tuple[DimensionValue, ...]]


def cluster_quanta(
    dag: QuantumDag,
    spec: ClusteringSpec,
    *,
    name: str | None = None,
    known_tasks: Iterable[str] | None = None,
) -> JobGraph:
    """Cluster a plan's quanta into batch jobs by ``spec`` and derive the job DAG.

    Parameters
    ----------
    dag
        The plan's quanta and dependencies.
    spec
        The clustering rules.
    name
        The clustering's name; default ``spec.name``, else ``"default"``.
    known_tasks
        Task labels a rule may name besides those with quanta in the plan (e.g. every
        task of the pipeline, so one rules file serves plans of part of it).

    Raises
    ------
    ClusteringError
        A rule names a task or a dimension the plan's quanta do not have.
    ClusteringCycleError
        The jobs would depend on each other in a cycle.
    """
    _check_spec(dag, spec, known_tasks)
    groups, singles = _groups(dag, spec)
    planned = _chunks(dag, spec, groups, singles)
    jobs, job_index = _named_jobs(dag, planned)
    # The job DAG: quantum dependencies projected onto jobs, without self-loops.
    counts: dict[tuple[int, int], int] = defaultdict(int)
    witness: dict[tuple[int, int], tuple[int, int]] = {}
    for p, c in dag.edges:
        pair = (job_index[p], job_index[c])
        if pair[0] != pair[1]:
            counts[pair] += 1
            witness.setdefault(pair, (p, c))
    sorter: TopologicalSorter[int] = TopologicalSorter()
    for j in range(len(jobs)):
        sorter.add(j)
    for jp, jc in counts:
        sorter.add(jc, jp)
    try:
        order = list(sorter.static_order())
    except CycleError as err:
        raise _cycle_error(err.args[1], jobs, witness, dag) from None
    edges = {(jobs[jp].name, jobs[jc].name): k for (jp, jc), k in counts.items()}
    return JobGraph(
        dag.plan_id,
        name or spec.name or "default",
        (jobs[j] for j in order),
        edges,
        plan_digest=dag.digest,
        rules=spec.digest_text(),
    )


def _groups(dag: QuantumDag, spec: ClusteringSpec) -> tuple[dict[Group, list[int]], list[int]]:
    """Each rule's quanta by their values of its dimensions; and the quanta no rule selects.

    A quantum without one of its rule's dimensions (``isr`` is per exposure, the rule groups
    by visit) takes the value of the quanta of the same rule it feeds (else of those that
    feed it) when they agree on one, else its `ClusterRule.equal_dimensions` alias.
    """
    rule_of = spec.rule_of()
    label_of = [rule_of.get(n.task) for n in dag.nodes]
    singles = [i for i, label in enumerate(label_of) if label is None]
    values: dict[int, dict[str, DimensionValue]] = {}
    incomplete: list[int] = []
    for i, label in enumerate(label_of):
        if label is None:
            continue
        data_id = dag.nodes[i].data_id
        dims = spec.cluster[label].dimensions
        values[i] = {d: data_id[d] for d in dims if d in data_id}
        if len(values[i]) < len(dims):
            incomplete.append(i)
    if incomplete:
        _inherit(dag, spec, label_of, values, incomplete)
    groups: dict[Group, list[int]] = defaultdict(list)
    for i, vals in values.items():
        label = label_of[i]
        assert label is not None
        rule = spec.cluster[label]
        for dim in rule.dimensions:
            if dim not in vals and rule.aliases().get(dim) in dag.nodes[i].data_id:
                vals[dim] = dag.nodes[i].data_id[rule.aliases()[dim]]
            if dim not in vals:
                node = dag.nodes[i]
                raise ClusteringError(
                    f"clustering rule {label!r} groups by {dim!r}, but quantum "
                    f"{_describe(node.task, node.data_id)} has no {dim!r}, and no quantum of the rule "
                    f"that it feeds or that feeds it gives it one",
                    hint=f"put the tasks between into rule {label!r}, group by dimensions every task of "
                    "the rule has, or map one onto another with equalDimensions (e.g. 'visit:exposure') "
                    "when their values are equal",
                )
        groups[(label, tuple(vals[d] for d in rule.dimensions))].append(i)
    return groups, singles


def _inherit(
    dag: QuantumDag,
    spec: ClusteringSpec,
    label_of: list[str | None],
    values: dict[int, dict[str, DimensionValue]],
    incomplete: list[int],
) -> None:
    """Fill missing dimension values from neighbours of the same rule, until nothing changes."""
    children: dict[int, list[int]] = defaultdict(list)
    parents: dict[int, list[int]] = defaultdict(list)
    for p, c in dag.edges:
        if label_of[p] is not None and label_of[p] == label_of[c]:
            children[p].append(c)
            parents[c].append(p)
    changed = True
    while changed and incomplete:
        changed = False
        still = []
        for i in incomplete:
            label = label_of[i]
            assert label is not None
            dims = spec.cluster[label].dimensions
            vals = values[i]
            for dim in dims:
                if dim in vals:
                    continue
                found = {values[c][dim] for c in children[i] if dim in values[c]}
                if not found:
                    found = {values[p][dim] for p in parents[i] if dim in values[p]}
                if len(found) == 1:
                    vals[dim] = found.pop()
                    changed = True
            if len(vals) < len(dims):
                still.append(i)
        incomplete = still


Planned = tuple[str, str | None, DataId, list[int], tuple[object, ...]]


def _chunks(
    dag: QuantumDag, spec: ClusteringSpec, groups: dict[Group, list[int]], singles: list[int]
) -> list[Planned]:
    """Jobs to make: (base name, rule, data ID, quanta in run order, sort key)."""
    run_key = [(dag.depth[i], dag.nodes[i].task, dag.sort_keys[i]) for i in range(len(dag.nodes))]
    oversize = {
        g
        for g, members in groups.items()
        if (m := spec.cluster[g[0]].max_quanta) is not None and len(members) > m
    }
    group_of = {i: g for g in oversize for i in groups[g]}
    inner_edges: dict[Group, list[tuple[int, int]]] = defaultdict(list)
    if group_of:
        for p, c in dag.edges:
            gp = group_of.get(p)
            if gp is not None and gp == group_of.get(c):
                inner_edges[gp].append((p, c))
    planned: list[Planned] = []
    for (label, key), members in groups.items():
        members.sort(key=run_key.__getitem__)
        data_id = DataId(dict(zip(spec.cluster[label].dimensions, key, strict=True)))
        base = "_".join([label, *(_safe(v) for v in key)])
        max_quanta = spec.cluster[label].max_quanta
        chunks = [members]
        if max_quanta is not None and (label, key) in oversize:
            chunks = _split(members, max_quanta, inner_edges[(label, key)])
        for k, chunk in enumerate(chunks, start=1):
            job_name = f"{base}_p{k}" if len(chunks) > 1 else base
            planned.append((job_name, label, data_id, chunk, (label, _sortable(data_id.to_dict()), k)))
    for i in singles:
        node = dag.nodes[i]
        base = "_".join([node.task, *(_safe(v) for _, v in sorted(node.data_id.items()))])
        planned.append((base, None, DataId(dict(node.data_id)), [i], (node.task, dag.sort_keys[i], 0)))
    return planned


def _named_jobs(dag: QuantumDag, planned: list[Planned]) -> tuple[list[BatchJob], list[int]]:
    """Jobs with unique, DAGMan-safe names given in a canonical order; each quantum's job index."""
    planned.sort(key=lambda t: (t[4], t[0]))
    used: set[str] = set()
    job_index = [0] * len(dag.nodes)
    jobs: list[BatchJob] = []
    for j, (base, rule_label, data_id, members, _) in enumerate(planned):
        job_name, suffix = base, 1
        while job_name in used or job_name in _RESERVED_NAMES:
            suffix += 1
            job_name = f"{base}_{suffix}"
        used.add(job_name)
        for i in members:
            job_index[i] = j
        jobs.append(
            BatchJob.model_construct(
                name=job_name,
                label=rule_label if rule_label is not None else dag.nodes[members[0]].task,
                rule=rule_label,
                data_id=data_id,
                quanta=tuple(dag.nodes[i].id for i in members),
                tasks=tuple(dict.fromkeys(dag.nodes[i].task for i in members)),
            )
        )
    return jobs, job_index


def _cycle_error(
    cycle: list[int],
    jobs: list[BatchJob],
    witness: Mapping[tuple[int, int], tuple[int, int]],
    dag: QuantumDag,
) -> ClusteringCycleError:
    """Name the jobs of a cycle, and for each step the quantum dependency that makes it."""
    steps = []
    for a, b in itertools.pairwise(cycle):
        p, c = witness[(a, b)]
        steps.append(
            f"{_describe(dag.nodes[c].task, dag.nodes[c].data_id)} (job {jobs[b].name}) reads what "
            f"{_describe(dag.nodes[p].task, dag.nodes[p].data_id)} (job {jobs[a].name}) writes"
        )
    rules = sorted({r for j in cycle if (r := jobs[j].rule) is not None})
    return ClusteringCycleError(
        "batch jobs would depend on each other in a cycle: "
        + " -> ".join(jobs[j].name for j in cycle)
        + "; because "
        + "; ".join(steps),
        hint=(
            f"rule(s) {', '.join(repr(r) for r in rules)} put a task and a task downstream of it in one "
            "job without every task in between; add the tasks in between to the rule, or split the rule"
            if rules
            else "put the tasks in between into the same rule"
        ),
    )
