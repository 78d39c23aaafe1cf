"""Decoding a plan from flat records: the one decoder behind the graph store and plan files.

A plan is kept flat in two places: as rows in Neo4j (`store.plan_read`) and as entries
of a plan file (`planfile`). Both hand their records to a `PlanDecoder`, which checks
what it reads as strictly as pre-flight checks what it builds, but each distinct run, task
label and (dataset type, dimensions) pair only once: after that, parts are assembled with
the models' trusted constructors. Every dataset and quantum id is recomputed from its
content (its repository included, for a Butler-backed plan) and must match the recorded
one. Repositories and Butler ids are checked once per distinct value too.

A decoder made with ``trusted_ids=True`` takes the recorded ids as they are: for records
the graph store wrote itself from a plan it checked whole (`store.plan_write`), where
recomputing every id was most of the cost of pulling a subgraph to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from provenance_graph.errors import PlanError
from provenance_graph.model._data_id import DataId
from provenance_graph.model._datasets import DatasetRef, DatasetType, check_butler_id
from provenance_graph.model._identity import check_repository_uri
from provenance_graph.model._names import check_run_name, check_task_label
from provenance_graph.model._quantum import Quantum

__all__ = ["PlanDecoder"]


class PlanDecoder:
    """Builds the datasets and quanta of one plan from its records, checking each.

    Parameters
    ----------
    dataset_types
        The plan's dataset types by name.
    trusted_ids
        Take each record's id as it is rather than recomputing it from the content.

    Each method raises `PlanError` naming what does not hold; callers add where
    (a row, a file entry).
    """

    def __init__(self, dataset_types: Mapping[str, DatasetType], *, trusted_ids: bool = False) -> None:
        self.dataset_types = dataset_types
        self.trusted_ids = trusted_ids
        self.refs: dict[str, DatasetRef] = {}
        """The datasets decoded so far, by id."""
        self._runs: dict[str, str] = {}
        self._labels: set[str] = set()
        self._fits: set[tuple[str, tuple[str, ...]]] = set()
        self._repositories: set[str] = set()

    def _repository(self, repository: str | None) -> str | None:
        if repository is not None and repository not in self._repositories:
            self._repositories.add(check_repository_uri(repository))
        return repository

    def _run(self, run: str) -> str:
        found = self._runs.get(run)
        if found is None:
            found = self._runs[run] = check_run_name(run)
        return found

    def dataset(
        self,
        dataset_id: str,
        type_name: str,
        data_id: DataId,
        run: str,
        repository: str | None = None,
        butler_id: str | None = None,
    ) -> DatasetRef:
        """Decode one dataset and remember it for the quanta that refer to it by id."""
        dataset_type = self.dataset_types.get(type_name)
        if dataset_type is None:
            raise PlanError(f"unknown dataset type {type_name!r}")
        if (type_name, data_id.dimensions) in self._fits:
            ref = DatasetRef.trusted(
                dataset_type,
                data_id,
                self._run(run),
                repository=self._repository(repository),
                butler_id=check_butler_id(butler_id),
            )
        else:  # the first of its kind: full validation, with its error message on failure
            ref = DatasetRef(
                dataset_type=dataset_type,
                data_id=data_id,
                run=run,
                repository=repository,
                butler_id=butler_id,
            )
            self._fits.add((type_name, data_id.dimensions))
        if self.trusted_ids:
            ref.__dict__["id"] = dataset_id  # the cached id, as recorded
        elif ref.id != dataset_id:
            raise PlanError(f"id {dataset_id} does not match its content {ref}")
        self.refs[dataset_id] = ref
        return ref

    def quantum(
        self,
        quantum_id: str,
        task_label: str,
        data_id: DataId,
        run: str,
        inputs: Iterable[DatasetRef],
        outputs: Iterable[DatasetRef],
        repository: str | None = None,
        butler_id: str | None = None,
    ) -> Quantum:
        """Decode one quantum from its already decoded inputs and outputs."""
        if task_label not in self._labels:
            self._labels.add(check_task_label(task_label))
        quantum = Quantum.trusted(
            task_label=task_label,
            data_id=data_id,
            run=self._run(run),
            inputs=inputs,
            outputs=outputs,
            repository=self._repository(repository),
            butler_id=check_butler_id(butler_id),
        )
        if self.trusted_ids:
            quantum.__dict__["id"] = quantum_id  # the cached id, as recorded
        elif quantum.id != quantum_id:
            raise PlanError(f"id {quantum_id} does not match its content {quantum}")
        return quantum
