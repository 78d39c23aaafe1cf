"""Batch jobs in Neo4j: clusterings of a plan stored whole or not at all, read back, and blast radius.

Writing a clustering (`write_clustering`)
-----------------------------------------
1. **Claim** ``(:Clustering {id: '<plan>/<name>'})`` of a complete plan, in state
   ``'writing'`` with a lease (`store._lease`: token, host, pid, heartbeat). Already
   complete with the same digest: nothing to do (``unchanged``). Complete with another
   digest: `ClusteringError`, unless ``replace=True``. Held by another writer that is
   alive: a writer of the same jobs waits for it, one of other jobs gets
   `ClusteringError`. Held by a dead writer (killed): taken over with a compare-and-set
   on the token seen; its partial jobs are deleted (``resumed``). Each batch below
   re-checks the token under the clustering's lock, so a writer that lost its claim
   writes nothing more.
2. **Jobs** with their ``RUNS`` edges, then **job dependencies** (``DEPENDS_ON``), in
   batched ``UNWIND`` transactions; each checks how many edges it made.
3. **Complete**: under the lock, with the plan still complete and unchanged, and every
   job and dependency counted in the graph, ``status: 'complete'``. Only then do reads
   (jobs, the job DAG, blast radius, DAGMan export) see it.

An error in steps 2-3 deletes what this write made. A write killed outright leaves a
``'writing'`` clustering that no read shows and the next write of it replaces.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from provenance_graph.clustering import (
    BatchJob,
    BlastRadius,
    ClusteringSpec,
    JobGraph,
    QuantumDag,
    QuantumNode,
    cluster_quanta,
)
from provenance_graph.errors import (
    ClusteringError,
    ClusteringNotFoundError,
    NotInGraphError,
    PlanBusyError,
    PlanNotFoundError,
)
from provenance_graph.model import DataId
from provenance_graph.store._lease import STALE_AFTER, WAIT_FOR_HOLDER, Holder, Lease, contend
from provenance_graph.store._missing import plan_not_found
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.schema import SCHEMA_VERSION

logger = logging.getLogger(__name__)

__all__ = [
    "ClusteringWrite",
    "StoredClustering",
    "blast_radius",
    "cluster_plan",
    "clustering_id",
    "delete_clustering",
    "find_quantum",
    "job_id",
    "job_statuses",
    "list_clusterings",
    "read_job_graph",
    "read_job_quanta",
    "read_quantum_dag",
    "write_clustering",
]

ClusteringOutcome = Literal["written", "unchanged", "resumed", "replaced"]

#: RUNS edges per write transaction (a job's edges never straddle two).
QUANTA_PER_BATCH = 10_000
#: DEPENDS_ON edges per write transaction.
EDGES_PER_BATCH = 10_000


def clustering_id(plan_id: str, name: str) -> str:
    """The id of a plan's clustering: ``<plan id>/<name>``."""
    return f"{plan_id}/{name}"


def job_id(plan_id: str, name: str, job: str) -> str:
    """The id of a batch job: ``<plan id>/<clustering name>/<job name>``."""
    return f"{plan_id}/{name}/{job}"


@dataclass(frozen=True)
class ClusteringWrite:
    """What `write_clustering` did."""

    plan_id: str
    """The plan clustered."""
    name: str
    """The clustering's name."""
    outcome: ClusteringOutcome
    """``written``, ``unchanged`` (the same clustering was complete already), ``resumed``
    (an interrupted write was replaced) or ``replaced`` (other rules, with ``replace=True``)."""
    seconds: float
    """Wall time of the write."""
    jobs: int
    """Batch jobs stored."""
    edges: int
    """Job dependencies stored."""


@dataclass(frozen=True)
class StoredClustering:
    """One clustering of a plan, as `list_clusterings` reports it."""

    name: str
    """Its name."""
    status: str
    """``complete``, or ``writing`` for a write in progress or interrupted."""
    jobs: int | None
    """Batch jobs (when complete)."""
    quanta: int | None
    """Quanta in them (when complete)."""
    edges: int | None
    """Job dependencies (when complete)."""
    critical_path: int | None
    """Jobs on the longest chain (when complete)."""


# --- reading the plan -------------------------------------------------------------------------


def _plan_state(store: GraphStore, plan_id: str) -> dict[str, Any]:
    rows = store.read("clustering_plan_state", plan_id=plan_id)
    if not rows or rows[0]["status"] != "complete":
        raise plan_not_found(store, plan_id)
    return rows[0]


def _pipeline_tasks(pipeline: str | None) -> list[str]:
    """Task labels of the pipeline YAML stored with a plan (none if it has none)."""
    if not pipeline:
        return []
    try:
        tasks = (yaml.safe_load(pipeline) or {}).get("tasks") or {}
    except (yaml.YAMLError, AttributeError) as err:
        logger.warning(
            "a plan's stored pipeline YAML cannot be read (%s: %s); clustering rules may name only "
            "tasks that have quanta",
            type(err).__name__,
            err,
        )
        return []
    return [str(t) for t in tasks] if isinstance(tasks, dict) else []


def read_quantum_dag(store: GraphStore, plan_id: str) -> tuple[QuantumDag, list[str]]:
    """A complete plan's quanta and dependencies, and its pipeline's task labels.

    Raises `PlanNotFoundError` if no complete plan has that id, and `PlanBusyError` if
    the plan changed while it was read.
    """
    state = _plan_state(store, plan_id)
    quanta = store.read("clustering_quanta", plan_id=plan_id)
    edges = store.read("clustering_quantum_edges", plan_id=plan_id)
    if _plan_state(store, plan_id)["digest"] != state["digest"]:
        raise PlanBusyError(f"plan {plan_id!r} changed while it was read", hint="try again")
    nodes = [QuantumNode(r["id"], r["task"], json.loads(r["data_id"])) for r in quanta]
    dag = QuantumDag(plan_id, nodes, ((r["parent"], r["child"]) for r in edges), digest=state["digest"])
    return dag, _pipeline_tasks(state["pipeline"])


# --- writing ------------------------------------------------------------------------------------


def _job_rows(jobs: JobGraph) -> Iterator[list[dict[str, Any]]]:
    """Jobs as query parameters, in batches of about `QUANTA_PER_BATCH` quanta."""
    batch: list[dict[str, Any]] = []
    size = 0
    for job in jobs:
        batch.append(
            {
                "id": job_id(jobs.plan_id, jobs.name, job.name),
                "name": job.name,
                "label": job.label,
                "rule": job.rule,
                "data_id": job.data_id.key(),
                "dimensions": list(job.data_id),
                "tasks": list(job.tasks),
                "quanta": list(job.quanta),
            }
        )
        size += len(job.quanta)
        if size >= QUANTA_PER_BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _expect(what: str, expected: int) -> Callable[[list[dict[str, Any]]], int]:
    """A check for a batch's one-row answer: ``what`` must equal ``expected``."""

    def check(rows: list[dict[str, Any]]) -> int:
        found = rows[0][what] if rows else 0
        if found != expected:
            raise ClusteringError(
                f"a write made {found} {what} instead of {expected}: the plan changed, or another "
                "write took this clustering over",
                hint="run the command again",
            )
        return int(found)

    return check


def write_clustering(store: GraphStore, jobs: JobGraph, *, replace: bool = False) -> ClusteringWrite:
    """Store a clustering (its batch jobs, RUNS edges and job DAG) whole or not at all.

    Idempotent: storing the same clustering again changes nothing (``unchanged``).

    Raises
    ------
    PlanNotFoundError
        The plan is not stored, or not complete.
    ClusteringError
        A clustering of that name with other jobs exists (and ``replace`` is False), or the
        plan changed since the jobs were made from it.
    """
    start = time.monotonic()
    cid = clustering_id(jobs.plan_id, jobs.name)
    state = _plan_state(store, jobs.plan_id)
    if jobs.plan_digest and state["digest"] != jobs.plan_digest:
        raise ClusteringError(
            f"plan {jobs.plan_id!r} changed since clustering {jobs.name!r} was made from it",
            hint="cluster the plan again",
        )
    digest = jobs.digest()

    def result(outcome: ClusteringOutcome) -> ClusteringWrite:
        return ClusteringWrite(
            jobs.plan_id, jobs.name, outcome, time.monotonic() - start, len(jobs), len(jobs.edges)
        )

    with Lease() as lease:
        outcome = _claim(store, jobs, cid, digest, lease, replace)
        if outcome == "unchanged":
            return result(outcome)

        def beat() -> bool:
            rows = store.write("clustering_heartbeat", clustering_id=cid, token=lease.token)
            return bool(rows and rows[0]["held"])

        try:
            with lease.heartbeat(beat, f"clustering {cid}"):
                _write_content(store, jobs, cid, lease.token)
        except BaseException:
            store.autocommit("clustering_delete_jobs", clustering_id=cid)
            store.write("clustering_delete_node", clustering_id=cid, token=lease.token)
            raise
    return result(outcome)


def _claim(
    store: GraphStore, jobs: JobGraph, cid: str, digest: str, lease: Lease, replace: bool
) -> ClusteringOutcome:
    """Claim the clustering for ``lease`` under the lease policy (`store._lease`)."""
    while True:
        rows = store.write(
            "clustering_claim",
            plan_id=jobs.plan_id,
            clustering_id=cid,
            clustering_name=jobs.name,
            digest=digest,
            **lease.identity(),
        )
        if not rows:
            raise PlanNotFoundError(f"no complete plan {jobs.plan_id!r} is stored")
        seen = rows[0]
        if seen["writer"] == lease.token:
            return "written"
        if seen["status"] == "complete":
            if seen["digest"] == digest:
                return "unchanged"
            if not replace:
                raise ClusteringError(
                    f"plan {jobs.plan_id!r} already has a clustering {jobs.name!r} with other batch jobs",
                    hint="give this one another --name, or replace it (--replace)",
                )
            break
        holder = Holder.from_row(seen)
        decision = contend(holder, same_work=seen["digest"] == digest)
        if decision == "take_over":
            break
        if decision == "refuse":
            raise ClusteringError(
                f"clustering {jobs.name!r} of plan {jobs.plan_id!r} is being written with other "
                f"batch jobs by {holder.describe()}",
                hint="wait for that write to finish; if that process is gone, run the command "
                f"again after {STALE_AFTER:.0f} s",
            )
        time.sleep(WAIT_FOR_HOLDER)  # the same clustering, written by a live process: wait for it
    taken = store.write(
        "clustering_take_over",
        clustering_id=cid,
        seen_writer=seen["writer"] or "",
        seen_status=seen["status"],
        digest=digest,
        **lease.identity(),
    )
    if not taken or not taken[0]["taken"]:
        raise ClusteringError(
            f"another write of clustering {jobs.name!r} of plan {jobs.plan_id!r} took it first",
            hint="run the command again once it is done",
        )
    store.autocommit("clustering_delete_jobs", clustering_id=cid)
    return "replaced" if seen["status"] == "complete" else "resumed"


def _write_content(store: GraphStore, jobs: JobGraph, cid: str, token: str) -> None:
    for batch in _job_rows(jobs):
        store.write_with(
            "clustering_write_jobs",
            _expect("runs", sum(len(j["quanta"]) for j in batch)),
            clustering_id=cid,
            token=token,
            jobs=batch,
        )
    edges = [
        {
            "parent": job_id(jobs.plan_id, jobs.name, p),
            "child": job_id(jobs.plan_id, jobs.name, c),
            "quantum_edges": n,
        }
        for (p, c), n in jobs.edges.items()
    ]
    for i in range(0, len(edges), EDGES_PER_BATCH):
        batch = edges[i : i + EDGES_PER_BATCH]
        store.write_with(
            "clustering_write_edges",
            _expect("edges", len(batch)),
            clustering_id=cid,
            token=token,
            edges=batch,
        )
    done = store.write(
        "clustering_complete",
        clustering_id=cid,
        token=token,
        plan_digest=jobs.plan_digest,
        rules=jobs.rules,
        jobs=len(jobs),
        quanta=sum(len(j.quanta) for j in jobs),
        edges=len(jobs.edges),
        critical_path=len(jobs.critical_path()),
        schema_version=SCHEMA_VERSION,
    )
    if not done:
        raise ClusteringError(
            f"clustering {jobs.name!r} of plan {jobs.plan_id!r} could not be completed: the plan "
            "changed, or another write took it over",
            hint="run the command again",
        )


def cluster_plan(
    store: GraphStore, plan_id: str, spec: ClusteringSpec, *, name: str | None = None, replace: bool = False
) -> tuple[JobGraph, ClusteringWrite]:
    """Read a stored plan, cluster it by ``spec`` (checked first), and store the batch jobs."""
    dag, tasks = read_quantum_dag(store, plan_id)
    jobs = cluster_quanta(dag, spec, name=name, known_tasks=tasks)
    return jobs, write_clustering(store, jobs, replace=replace)


def delete_clustering(store: GraphStore, plan_id: str, name: str) -> bool:
    """Delete a clustering of a plan and its batch jobs; False if there was none."""
    cid = clustering_id(plan_id, name)
    store.autocommit("clustering_delete_jobs", clustering_id=cid)
    rows = store.write("clustering_delete_node", clustering_id=cid, token=None)
    return bool(rows and rows[0]["deleted"])


def list_clusterings(store: GraphStore, plan_id: str) -> list[StoredClustering]:
    """The clusterings stored for a plan, complete or not, by name."""
    return [
        StoredClustering(r["name"], r["status"], r["jobs"], r["quanta"], r["edges"], r["critical_path"])
        for r in store.read("clustering_list", plan_id=plan_id)
    ]


# --- reading back ------------------------------------------------------------------------------


def _current(store: GraphStore, plan_id: str, name: str) -> dict[str, Any]:
    """The header of a complete clustering of the plan as it is now, else `ClusteringNotFoundError`."""
    rows = store.read("clustering_header", clustering_id=clustering_id(plan_id, name))
    if not rows or rows[0]["clustering"].get("status") != "complete":
        known = [c.name for c in list_clusterings(store, plan_id) if c.status == "complete"]
        raise ClusteringNotFoundError(
            f"plan {plan_id!r} has no complete clustering {name!r}",
            hint=f"its clusterings: {', '.join(known)}"
            if known
            else "make one with 'provgraph cluster PLAN --clustering FILE'",
        )
    header = rows[0]
    if header["plan_status"] != "complete" or header["plan_digest"] != header["clustering"].get(
        "plan_digest"
    ):
        raise ClusteringNotFoundError(
            f"clustering {name!r} was made from another version of plan {plan_id!r}",
            hint="cluster the plan again (with --replace)",
        )
    return dict(header["clustering"])


def read_job_graph(store: GraphStore, plan_id: str, name: str) -> JobGraph:
    """A stored clustering as a `JobGraph`: jobs (quanta in run order) and the job DAG."""
    header = _current(store, plan_id, name)
    cid = clustering_id(plan_id, name)

    def work(read: Callable[..., list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return read("clustering_jobs", clustering_id=cid), read("clustering_job_edges", clustering_id=cid)

    job_rows, edge_rows = store.read_many("clustering_jobs", work)
    jobs = {
        r["name"]: BatchJob.model_construct(
            name=r["name"],
            label=r["label"],
            rule=r["rule"],
            data_id=DataId(json.loads(r["data_id"])),
            quanta=tuple(r["quanta"]),
            tasks=tuple(r["tasks"]),
        )
        for r in job_rows
    }
    edges = {(r["parent"], r["child"]): int(r["quantum_edges"]) for r in edge_rows}
    return JobGraph(
        plan_id,
        name,
        JobGraph.dependency_order(jobs, edges),
        edges,
        plan_digest=header.get("plan_digest", ""),
        rules=header.get("rules", ""),
    )


def read_job_quanta(store: GraphStore, plan_id: str, name: str, job: str) -> list[dict[str, Any]]:
    """One batch job's quanta in run order: ``id``, ``task``, ``data_id``, ``status``."""
    _current(store, plan_id, name)
    rows = store.read("clustering_job_quanta", job_id=job_id(plan_id, name, job))
    if not rows:
        raise NotInGraphError(f"clustering {name!r} of plan {plan_id!r} has no batch job {job!r}")
    return rows


def job_statuses(store: GraphStore, plan_id: str, name: str) -> dict[str, tuple[str, dict[str, int]]]:
    """``{job: (label, {status: quanta})}`` for every batch job of a complete, current clustering."""
    _current(store, plan_id, name)
    jobs: dict[str, tuple[str, dict[str, int]]] = {}
    for r in store.read("clustering_job_statuses", clustering_id=clustering_id(plan_id, name)):
        jobs.setdefault(r["job"], (r["label"], {}))[1][r["status"]] = int(r["quanta"])
    return jobs


# --- blast radius -------------------------------------------------------------------------------


def find_quantum(store: GraphStore, plan_id: str, task: str, data_id: str) -> str:
    """The id of a plan's quantum of ``task`` at ``data_id`` (canonical JSON)."""
    rows = store.read("clustering_find_quantum", plan_id=plan_id, task=task, data_id=data_id)
    if not rows:
        raise NotInGraphError(
            f"plan {plan_id!r} has no quantum of task {task!r} at data ID {DataId.from_key(data_id)}",
            hint="check the task label and the data ID's dimensions ('provgraph plans show PLAN')",
        )
    return str(rows[0]["id"])


def blast_radius_parameters(plan_id: str, name: str, quantum_id: str) -> dict[str, Any]:
    """The parameters of the ``blast_radius`` query (for ``--cypher``)."""
    return {"clustering_id": clustering_id(plan_id, name), "quantum_id": quantum_id}


def blast_radius(store: GraphStore, plan_id: str, name: str, quantum_id: str) -> BlastRadius:
    """If ``quantum_id`` fails: the batch jobs and quanta lost under clustering ``name``.

    A failed quantum fails its batch job; every job downstream of that one in the job DAG
    cannot start. Their quanta are lost: those downstream of the failure in the quantum
    DAG, and innocent ones that only share a job.

    Raises
    ------
    ClusteringNotFoundError
        No complete, current clustering of that name.
    NotInGraphError
        The quantum is not in the clustering.
    """
    _current(store, plan_id, name)
    params = blast_radius_parameters(plan_id, name, quantum_id)

    def work(read: Callable[..., list[dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lost = read("blast_radius", **params)
        ids = [r["quantum"] for r in lost]
        return lost, read("blast_radius_parents", quantum_ids=ids) if ids else []

    rows, edges = store.read_many("blast_radius", work)
    if not rows:
        raise NotInGraphError(
            f"quantum {quantum_id!r} is in no batch job of clustering {name!r} of plan {plan_id!r}",
            hint="give the id of a quantum of this plan ('provgraph query subgraph PLAN --json' lists them)",
        )
    return BlastRadius.from_rows(plan_id, name, quantum_id, rows, edges)
