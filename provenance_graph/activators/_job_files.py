"""Batch jobs that run with no database: job files out, journals back.

- `write_job_files` (``provgraph export-dagman``, on the submitting host) writes one
  `JobFile` per batch job of a stored clustering: the plan's pipeline and repository, the
  job's quanta in run order, a new execution id, and the journal the job is to write.
- `run_job_file` (``provgraph run-job --job-file``, what a DAGMan node runs) runs one job's
  quanta in order in this process and appends each attempt to the job's journal. It opens no
  database connection and starts no server. A job run again (DAGMan's RETRY) reads its own
  journal first and runs only the quanta that have not succeeded yet; as every Activator,
  it keeps a quantum's outputs that exist already (journaled as skipped) unless one of its
  inputs was just made again.

The journals are loaded into the graph by `provenance_graph.store.journals.record_journals`
(``provgraph record``; the DAG's POST script runs it on the submitting host).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance_graph.activators._backends import PipelineBackend, existing_outputs
from provenance_graph.activators._batch import ParslActivator
from provenance_graph.errors import ExecutionError
from provenance_graph.jobfile import JobFile
from provenance_graph.journal import JOURNAL_DIR, JournalRecord, JournalWriter, read_journal
from provenance_graph.quantum_runner import PipelineWorkerSpec
from provenance_graph.store import GraphStore
from provenance_graph.workers import attempt_outcome

__all__ = ["JobFileRun", "run_job_file", "write_job_files"]


def write_job_files(
    store: GraphStore,
    plan_id: str,
    clustering: str,
    out_dir: Path,
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, JobFile]:
    """Write ``out_dir/jobs/<job>.json`` for every batch job; returns them by job name.

    Raises `ExecutionError` for a plan imported from a QuantumGraph: its jobs need the
    Butler's registry, so they run with ``run-job --plan`` (which reads the graph).
    """
    activator = ParslActivator(store, plan_id, clustering=clustering, config=config).prepare()
    backend = activator.backend
    if not isinstance(backend, PipelineBackend):
        raise ExecutionError(
            f"plan {plan_id!r} was imported from a QuantumGraph: its batch jobs cannot run from job files",
            hint="its DAG runs 'provgraph run-job --plan ...' on nodes that reach Neo4j",
        )
    assert activator.job_graph is not None
    graph = activator.graph
    execution_id = str(uuid.uuid4())
    journals = backend.repository_root.resolve() / graph.plan.output_run / JOURNAL_DIR / execution_id
    spec = backend.worker_spec()
    (out_dir / "jobs").mkdir(parents=True, exist_ok=True)
    written: dict[str, JobFile] = {}
    for job in activator.job_graph:
        path = out_dir / "jobs" / f"{job.name}.json"
        job_file = JobFile(
            plan_id=plan_id,
            clustering=clustering,
            job=job.name,
            execution_id=execution_id,
            repository_root=str(backend.repository_root.resolve()),
            pipeline_yaml=spec.pipeline_yaml,
            overrides=spec.overrides,
            journal=str(journals / f"{job.name}.jsonl"),
            quanta=[graph.quanta[q] for q in job.quanta],
        )
        job_file.save(path)
        written[job.name] = job_file
    return written


@dataclass
class JobFileRun:
    """What `run_job_file` did."""

    job: JobFile
    succeeded: list[str] = field(default_factory=list)
    """Quanta that ran and succeeded now."""
    done_before: list[str] = field(default_factory=list)
    """Quanta an earlier run of this job (in the journal) made already."""
    skipped: list[str] = field(default_factory=list)
    """Quanta whose outputs all existed already (journaled as skipped)."""
    failed: JournalRecord | None = None
    """The attempt that failed (the job stops there)."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every quantum of the job is done."""
        return self.failed is None


def run_job_file(path: Path) -> JobFileRun:
    """Run one batch job from its job file, journaling every attempt (see the module docstring)."""
    started = time.perf_counter()
    job = JobFile.load(path)
    journal = Path(job.journal)
    done: set[str] = set()
    if journal.exists():
        done = {r.outcome.quantum_id for r in read_journal(journal).records if r.outcome.succeeded}
    result = JobFileRun(job, done_before=[q.id for q in job.quanta if q.id in done])
    todo = [q for q in job.quanta if q.id not in done]
    if todo:
        runner = PipelineWorkerSpec(job.repository_root, job.pipeline_yaml, job.overrides).make_runner()
        made_now: set[str] = set()
        with JournalWriter(journal) as writer:
            for quantum in todo:
                # As an Activator does: outputs that exist are kept, unless an input was just remade.
                stale = any(ref.id in made_now for ref in quantum.inputs)
                found = None if stale else existing_outputs(runner.repository, quantum)
                if found is not None:
                    outcome = attempt_outcome(
                        quantum, time.perf_counter(), succeeded=True, outputs=tuple(found)
                    )
                    outcome = dataclasses.replace(outcome, skipped=True)
                    writer.write(JournalRecord(job.plan_id, job.execution_id, job.job, outcome))
                    result.skipped.append(quantum.id)
                    continue
                outcome = runner.run(quantum)
                made_now.update(ref.id for ref in quantum.outputs)
                record = JournalRecord(job.plan_id, job.execution_id, job.job, outcome)
                writer.write(record)
                if not outcome.succeeded:
                    result.failed = record
                    break
                result.succeeded.append(quantum.id)
    result.seconds = time.perf_counter() - started
    return result
