"""What a plan runs with: our own task framework, or Rubin's tasks and Butler.

The `Activator` template schedules, claims and records the same way for every plan;
what differs is how a quantum runs and where its outputs are found. `prepare` picks
one backend per plan:

- `PipelineBackend`, for a plan of our own pre-flight: its pipeline (with run-time config
  overrides) and its repository; workers run `provenance_graph.quantum_runner.QuantumRunner`.
- `ButlerBackend`, for a plan imported from a Rubin QuantumGraph: its ``.qg`` file and a
  Butler repository (``--butler``); workers run pipe_base's executor with a quantum-backed
  butler (`provenance_graph.interop.butler_run`). Before the first quantum the run's
  init-outputs are written, and at the end the outputs are registered in the Butler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from logging import getLogger
from pathlib import Path
from typing import Any, Protocol

from provenance_graph.errors import RepositoryError
from provenance_graph.interop.butler_run import ButlerPlan
from provenance_graph.model import OutputRecord, Quantum
from provenance_graph.pipeline import Pipeline
from provenance_graph.quantum_runner import PipelineWorkerSpec, QuantumRunner, Runner, WorkerSpec
from provenance_graph.repository import Repository

__all__ = ["Backend", "ButlerBackend", "PipelineBackend"]

_log = getLogger(__name__)


class Backend(Protocol):
    """How a plan's quanta run, and how their outputs are found."""

    @property
    def preload(self) -> tuple[str, ...]:
        """Modules the worker processes import before their first quantum (forkserver preload)."""
        ...

    def worker_spec(self) -> WorkerSpec:
        """What each worker process is set up from."""
        ...

    def runner(self) -> Runner:
        """A runner in this process (``provgraph run-job``)."""
        ...

    def existing_outputs(self, quantum: Quantum) -> list[OutputRecord] | None:
        """The fingerprints of a quantum's outputs if it need not run again, else None."""
        ...

    def before_run(self) -> None:
        """Prepare the outputs' place before any quantum runs."""
        ...

    def after_run(self) -> str | None:
        """Finish after the quanta of a run ended; a line for the user, or None."""
        ...


def existing_outputs(repository: Repository, quantum: Quantum) -> list[OutputRecord] | None:
    """The fingerprints of a quantum's outputs if every one exists in ``repository`` with its file."""
    if not quantum.outputs or not all(map(repository.exists, quantum.outputs)):
        return None
    try:
        return [OutputRecord(r.id, *repository.fingerprint(r)) for r in quantum.outputs]
    except RepositoryError as err:  # registered, but the file is gone: run the quantum again
        _log.debug(
            "quantum %s: its outputs are registered but not all readable (%s); running it again",
            quantum.id,
            err,
        )
        return None


@dataclass(frozen=True)
class PipelineBackend:
    """A plan of our own task framework: its pipeline and repository."""

    pipeline: Pipeline
    repository_root: Path
    repository: Repository
    overrides: Mapping[str, Mapping[str, Any]]
    pipeline_yaml: str
    preload: tuple[str, ...] = ("provenance_graph.quantum_runner",)

    def worker_spec(self) -> PipelineWorkerSpec:
        """The repository, the plan's pipeline and the run-time overrides."""
        overrides = {k: dict(v) for k, v in self.overrides.items()}
        return PipelineWorkerSpec(str(self.repository_root), self.pipeline_yaml, overrides)

    def runner(self) -> QuantumRunner:
        """A `QuantumRunner` over the open repository."""
        return QuantumRunner(self.repository, self.pipeline)

    def existing_outputs(self, quantum: Quantum) -> list[OutputRecord] | None:
        """The fingerprints of the quantum's outputs if every one exists with its file."""
        return existing_outputs(self.repository, quantum)

    def before_run(self) -> None:
        """Nothing: the repository registers each output as it is written."""

    def after_run(self) -> str | None:
        """Nothing to finish."""
        return None


@dataclass(frozen=True)
class ButlerBackend:
    """A plan imported from a Rubin QuantumGraph, run against a Butler repository."""

    plan: ButlerPlan
    preload: tuple[str, ...] = (
        "provenance_graph.quantum_runner",
        "provenance_graph.interop.butler_run",
        "lsst.daf.butler",
        "lsst.pipe.base.single_quantum_executor",
    )

    def worker_spec(self) -> WorkerSpec:
        """The repository, the ``.qg`` file and the plan's matching UUIDs."""
        return self.plan.worker_spec()

    def runner(self) -> Runner:
        """pipe_base's executor in this process."""
        return self.plan.worker_spec().make_runner()

    def existing_outputs(self, quantum: Quantum) -> list[OutputRecord] | None:
        """The quantum's outputs if pipe_base would skip it (its metadata dataset exists)."""
        return self.plan.existing_outputs(quantum)

    def before_run(self) -> None:
        """Write the run's init-outputs (configs, schemas, packages) once."""
        self.plan.init_outputs()

    def after_run(self) -> str | None:
        """Register the outputs in the Butler (``butler transfer-from-graph``'s way)."""
        count = self.plan.transfer_outputs()
        return f"registered {count} new dataset(s) in Butler {self.plan.butler}"
