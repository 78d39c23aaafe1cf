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
import os
import socket
import sys
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance_graph.activators._base import Activator, _Submitted
from provenance_graph.activators._site import SiteConfig
from provenance_graph.clustering import JobGraph
from provenance_graph.errors import ExecutionError
from provenance_graph.journal import read_journal
from provenance_graph.model import AttemptOutcome, Quantum
from provenance_graph.quantum_runner import JournalTarget, Runner, run_batch_job
from provenance_graph.store import GraphStore
from provenance_graph.store.clustering import read_job_graph, read_job_quanta
from provenance_graph.store.execution import quantum_statuses

__all__ = ["JobActivator", "ParslActivator"]

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

    def _prepare(self) -> None:
        self.job_graph = read_job_graph(self.store, self.plan_id, self.clustering)
        self._job_of = {q: job.name for job in self.job_graph for q in job.quanta}

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
        self._dfk = DataFlowKernel(config)
        self._app = python_app(run_batch_job, data_flow_kernel=self._dfk, executors=[EXECUTOR_LABEL])

    def _submit(self, quanta: Sequence[Quantum]) -> Future[list[AttemptOutcome]]:
        assert self._app is not None, "_open() first"
        assert self.execution_id is not None, "run() first"
        job = self._job_of[quanta[0].id]
        folder = self.journal_dir(self.execution_id)
        target = None
        if folder is not None:
            target = JournalTarget(str(folder / f"{job}.jsonl"), self.plan_id, self.execution_id, job)
        submitted = datetime.now(UTC).isoformat(timespec="milliseconds")
        future: Future[list[AttemptOutcome]] = self._app(
            self.worker_spec(), list(quanta), (socket.gethostname(), os.getpid()), target
        )
        if target is not None:
            self._journals[future] = (Path(target.path), submitted)
        return future

    def _outcomes(self, future: Future[list[AttemptOutcome]], submitted: _Submitted) -> list[AttemptOutcome]:
        """The job's answer; if its worker died, what its journal says it finished, then the death."""
        journal = self._journals.pop(future, None)
        try:
            return future.result()
        except Exception:
            died = super()._outcomes(future, submitted)  # charged to the job's first quantum
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
