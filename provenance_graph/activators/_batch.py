"""The production Activators: batch jobs of a stored clustering, on Parsl or one at a time.

Both dispatch **batch jobs** (`provenance_graph.store.clustering`) through the `Activator`
template, so claims, attempts, outputs, resume and crash repair are recorded exactly as the
command-line Activator records them:

- `ParslActivator` (``provgraph submit``/``restart``) runs every job of a clustering on
  Parsl's ``HighThroughputExecutor``, on this machine or on a cluster (`SiteConfig`). A job
  is ready when the jobs it depends on are done; its quanta are claimed together, and one
  Parsl app in one worker runs them in order (`provenance_graph.quantum_runner.run_batch_job`)
  and returns their outcomes, which are recorded here. Workers never talk to Neo4j.
- `JobActivator` (``provgraph run-job``, what each HTCondor DAGMan node runs) runs one job's
  quanta in this process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance_graph.activators._base import Activator, Lost, _Submitted
from provenance_graph.activators._infrastructure import infrastructure_failure, run_unit
from provenance_graph.activators._site import Resources, SiteConfig
from provenance_graph.clustering import JobGraph
from provenance_graph.errors import ExecutionError
from provenance_graph.journal import read_journal
from provenance_graph.logs import suppress_and_log
from provenance_graph.model import AttemptOutcome, InfrastructureFailure, Quantum
from provenance_graph.quantum_runner import JournalTarget, Runner
from provenance_graph.store import GraphStore
from provenance_graph.store.clustering import read_job_graph, read_job_quanta
from provenance_graph.store.execution import attempts, quantum_statuses

__all__ = ["JobActivator", "ParslActivator"]

_log = logging.getLogger(__name__)

#: The label of the Parsl executor the Activator starts.
EXECUTOR_LABEL = "provgraph"


class ParslActivator(Activator):
    """Runs a plan's batch jobs (clustering ``clustering``) on Parsl, ``jobs`` workers per node.

    ``retries`` (a template parameter) is how many times a failed job runs again, its
    unfinished quanta only, unless its rule says (``numberOfRetries``). Parsl is imported
    when the run starts.
    """

    name = "parsl"

    def __init__(
        self,
        store: GraphStore,
        plan_id: str,
        *,
        clustering: str,
        site: SiteConfig | None = None,
        **options: Any,
    ) -> None:
        super().__init__(store, plan_id, **options)
        self.clustering = clustering
        self.site = site or SiteConfig()
        self.job_graph: JobGraph | None = None
        """The clustering's jobs (after `prepare`)."""
        self._dfk: Any = None
        self._app: Any = None
        self._job_of: dict[str, str] = {}
        self._journals: dict[Future[list[AttemptOutcome]], tuple[Path, str]] = {}
        """Each job in flight's journal, and when it was submitted (UTC, ISO 8601)."""
        self._memory: dict[str, int] = {}
        """Each unit's memory request (MB) where it grew after an out-of-memory kill."""
        self._executors: dict[Resources, Any] = {}
        """A Parsl executor per resource class (rules' requests), made when first needed."""
        self._markers: dict[str, Path] = {}
        """Where each unit in flight leaves the batch job it runs in (`run_unit`)."""

    def _prepare(self) -> None:
        self.job_graph = read_job_graph(self.store, self.plan_id, self.clustering)
        self._job_of = {q: job.name for job in self.job_graph for q in job.quanta}
        self._memory = self._grown_memory()

    def _grown_memory(self) -> dict[str, int]:
        """The memory of jobs whose last attempt an earlier run lost to an out-of-memory kill, grown.

        So ``restart`` goes on asking for more where the last submit left off, as a rescue DAG does.
        """
        assert self.job_graph is not None, "prepare() first"
        last: dict[str, dict[str, Any]] = {}
        for row in attempts(self.store, self.plan_id):  # oldest first: the last one stays
            last[row["quantum_id"]] = row
        grown: dict[str, int] = {}
        for quantum_id, row in last.items():
            unit = self._job_of.get(quantum_id)
            rule = self.job_graph.rule(unit) if unit else None
            if unit is None or rule is None or not rule.request_memory or not row.get("request_memory"):
                continue
            if row["status"] == "lost" and row.get("infrastructure") == "out_of_memory":
                more = int(row["request_memory"] * (rule.memory_multiplier or 1))
                more = min(more, rule.request_memory_max) if rule.request_memory_max else more
                grown[unit] = max(grown.get(unit, 0), more, rule.request_memory)
        return grown

    def resources(self, unit: str) -> Resources | None:
        """What a unit's next run asks the batch system for; None when its rule asks nothing."""
        assert self.job_graph is not None, "prepare() first"
        rule = self.job_graph.rule(unit)
        if rule is None or not (rule.request_memory or rule.request_cpus or rule.request_walltime):
            return None
        memory = self._memory.get(unit, rule.request_memory) if rule.request_memory else None
        return Resources(memory=memory, cpus=rule.request_cpus, walltime=rule.request_walltime)

    def _resources(self, unit: str) -> dict[str, Any]:
        asked = self.resources(unit)
        if asked is None:
            return {}
        return {
            k: v
            for k, v in {
                "request_memory": asked.memory, "request_cpus": asked.cpus, "request_walltime": asked.walltime
            }.items()
            if v is not None
        }  # fmt: skip

    def _lost(self, unit: str, err: Exception) -> InfrastructureFailure | None:
        """What lost a Parsl job whose future raised: the infrastructure, as a task's failure is an outcome.

        Except a worker that died under a live manager (Parsl's ``WorkerLost``: killed, or crashed
        by its task): that is the attempt's failure, charged to the quantum it was in.
        """
        if type(err).__name__ == "WorkerLost":
            self._markers.pop(unit, None)
            return None
        log = Path(self._dfk.run_dir if self._dfk is not None else ".") / "parsl.log"
        return infrastructure_failure(
            err, provider=self.site.provider, marker=self._markers.pop(unit, None), log=log
        )

    def _retry_lost(self, unit: str, failure: InfrastructureFailure) -> bool:
        """After an out-of-memory kill, the retry asks for more memory (as BPS does).

        ``memory_multiplier`` times the memory, at most ``request_memory_max``; a job killed at
        that most is not retried.
        """
        assert self.job_graph is not None, "prepare() first"
        rule = self.job_graph.rule(unit)
        if not failure.retry_with_more_memory or rule is None or not rule.request_memory:
            return True
        current = self._memory.get(unit, rule.request_memory)
        grown = int(current * (rule.memory_multiplier or 1))
        if rule.request_memory_max is not None:
            grown = min(grown, rule.request_memory_max)
        if grown <= current and rule.memory_multiplier:
            return False
        self._memory[unit] = grown
        self._retire_idle()
        return True

    def _retire_idle(self) -> None:
        """Stop the blocks of resource classes with nothing to run.

        They hold nodes (and cores) that the retry's larger class may need.
        """
        for resources, executor in list(self._executors.items()):
            if executor.outstanding == 0:
                del self._executors[resources]
                with suppress_and_log(
                    _log, logging.WARNING, "could not stop the blocks of %s", executor.label
                ):
                    executor.scale_in_facade(len(executor.blocks_to_job_id))

    def _units(self) -> dict[str, list[str]]:
        assert self.job_graph is not None, "prepare() first"
        return {job.name: list(job.quanta) for job in self.job_graph}

    def _retries(self, unit: str) -> int:
        """A rule's ``numberOfRetries`` (BPS's key) for its jobs, else ``retries``."""
        assert self.job_graph is not None, "prepare() first"
        rule = self.job_graph.rule(unit)
        return rule.number_of_retries if rule and rule.number_of_retries is not None else self.retries

    def _options(self) -> dict[str, Any]:
        return {
            **super()._options(),
            "clustering": self.clustering,
            "retries": self.retries,
            "site": self.site.source,
            "provider": self.site.provider,
        }

    def _open(self) -> None:
        from parsl import python_app
        from parsl.dataflow.dflow import DataFlowKernel

        # Parsl starts its interchange and worker pool as commands of this environment.
        bin_dir = str(Path(sys.executable).parent)
        if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
        config = self.site.parsl_config(plan_id=self.plan_id, workers=self.jobs, label=EXECUTOR_LABEL)
        # Parsl's errors (a lost block's traceback) go to its parsl.log, which our messages name.
        logging.getLogger("parsl").propagate = False
        self._dfk = DataFlowKernel(config)
        self._app = python_app(run_unit, data_flow_kernel=self._dfk, executors=[EXECUTOR_LABEL])
        self._executors = {}

    def _executor_for(self, resources: Resources) -> str:
        """The label of the executor whose blocks ask for ``resources``.

        A new one when it is missing or Parsl has given it up (its block failed).
        """
        executor = self._executors.get(resources)
        if executor is None or executor.bad_state_is_set:
            label = f"{EXECUTOR_LABEL}-{resources.label()}-{len(self._dfk.executors)}"
            executor = self.site.executor(label=label, workers=self.jobs, resources=resources)
            self._dfk.add_executors([executor])
            self._executors[resources] = executor
        return str(executor.label)

    def _submit(self, quanta: Sequence[Quantum]) -> Future[list[AttemptOutcome]]:
        assert self._app is not None, "_open() first"
        from parsl import python_app

        assert self.execution_id is not None, "run() first"
        job = self._job_of[quanta[0].id]
        folder = self.journal_dir(self.execution_id)
        target = None
        if folder is not None:
            target = JournalTarget(str(folder / f"{job}.jsonl"), self.plan_id, self.execution_id, job)
        submitted = datetime.now(UTC).isoformat(timespec="milliseconds")
        resources = self.resources(job)
        app = self._app
        if resources is not None or self._dfk.executors[EXECUTOR_LABEL].bad_state_is_set:
            label = self._executor_for(resources or Resources())
            app = python_app(run_unit, data_flow_kernel=self._dfk, executors=[label])
        markers = Path(self._dfk.run_dir) / "batch-jobs"
        markers.mkdir(exist_ok=True)
        self._markers[job] = markers / f"{job}.{len(list(markers.glob(job + '.*')))}.json"
        future: Future[list[AttemptOutcome]] = app(
            str(self._markers[job]),
            self.worker_spec(),
            list(quanta),
            (socket.gethostname(), os.getpid()),
            target,
        )
        if target is not None:
            self._journals[future] = (Path(target.path), submitted)
        return future

    def _outcomes(
        self, future: Future[list[AttemptOutcome]], submitted: _Submitted
    ) -> list[AttemptOutcome] | Lost:
        """The job's answer; if its worker died or the batch system lost it, what its journal says.

        What it finished is kept, then the death is charged to the quantum it was in, or the rest of
        the job is lost with its batch job.
        """
        journal = self._journals.pop(future, None)
        try:
            return future.result()
        except Exception:
            died = super()._outcomes(future, submitted)  # charged to the job's first quantum, or lost
            if journal is None or not journal[0].exists():
                return died
            path, since = journal
            mine = set(submitted.quanta)
            done = [
                r.outcome
                for r in read_journal(path).records
                if r.written >= since and r.outcome.quantum_id in mine and r.execution_id == self.execution_id
            ]
            ran = {o.quantum_id for o in done}
            rest = [q for q in submitted.quanta if q not in ran]
            if not rest or any(not o.succeeded for o in done):
                return done
            if isinstance(died, Lost):  # what it finished stays; the rest was lost with it
                return Lost(died.failure, done)
            # It died in the first quantum it had not journaled: that one carries the failure.
            return [*done, dataclasses.replace(died[0], quantum_id=rest[0])]

    def _close(self, *, cancel: bool) -> None:
        dfk, self._dfk, self._app = self._dfk, None, None
        if dfk is not None:
            dfk.cleanup()  # stops the executor and its blocks; running jobs are given back by the template


class JobActivator(Activator):
    """Runs one batch job's quanta in order in this process: ``provgraph run-job``.

    Refused (`ExecutionError`) while a quantum the job reads from, in another job, is not done:
    the workflow engine (DAGMan) runs a job only after its parents.
    """

    name = "run-job"

    def __init__(self, store: GraphStore, plan_id: str, *, clustering: str, job: str, **options: Any) -> None:
        super().__init__(store, plan_id, jobs=1, **options)
        self.clustering = clustering
        self.job = job
        self.quanta: list[str] = []
        """The job's quanta in run order (after `prepare`)."""
        self._runner: Runner | None = None

    def _prepare(self) -> None:
        plan_id, job = self.plan_id, self.job
        self.quanta = [str(r["id"]) for r in read_job_quanta(self.store, plan_id, self.clustering, job)]
        mine = set(self.quanta)
        outside = sorted({p for q in self.quanta for p in self.graph.parents(q)} - mine)
        waiting = [q for q, status in quantum_statuses(self.store, outside).items() if not status.done]
        if waiting:
            named = ", ".join(str(self.graph.quanta[q]) for q in waiting[:3])
            raise ExecutionError(
                f"batch job {job!r} of plan {plan_id!r} reads what {len(waiting)} quanta of other jobs "
                f"have not made yet ({named}{', ...' if len(waiting) > 3 else ''})",
                hint="run the jobs it depends on first (DAGMan does: submit the exported DAG)",
            )

    def _units(self) -> dict[str, list[str]]:
        return {self.job: self.quanta}

    def _options(self) -> dict[str, Any]:
        return {**super()._options(), "clustering": self.clustering, "job": self.job}

    def _open(self) -> None:
        self._runner = self.backend.runner()

    def _submit(self, quanta: Sequence[Quantum]) -> Future[list[AttemptOutcome]]:
        assert self._runner is not None, "_open() first"
        future: Future[list[AttemptOutcome]] = Future()
        future.set_result(self._runner.run_job(quanta))
        return future

    def _close(self, *, cancel: bool) -> None:
        self._runner = None
