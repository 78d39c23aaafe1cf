"""`Quantum`: one ``run_quantum()`` of one task at one data ID."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from provenance_graph.model._data_id import DataId
from provenance_graph.model._datasets import DatasetRef, check_butler_id
from provenance_graph.model._identity import check_repository_uri, quantum_id
from provenance_graph.model._names import check_run_name, check_task_label

__all__ = ["Quantum"]


def _sorted_refs(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        refs = list(value)
        if all(isinstance(r, DatasetRef) for r in refs):
            unique = {r.id: r for r in refs}
            return tuple(unique[k] for k in sorted(unique))
    return value


class Quantum(BaseModel):
    """One execution of one task at one data ID, with its concrete inputs and outputs.

    Inputs and outputs are kept sorted by dataset id, so two quanta built from
    the same datasets in a different order are equal. The `id` is stable: the
    same run, task label and data ID (and, for a quantum of a Butler-backed plan,
    the same `repository`) always give the same id.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_label: str
    """The label of the task in its pipeline, e.g. ``isr``."""
    data_id: DataId
    """The quantum's data ID, over the task's quantum dimensions."""
    run: str
    """The output run this quantum writes to."""
    inputs: tuple[DatasetRef, ...] = ()
    """The datasets it reads, prerequisite inputs included."""
    outputs: tuple[DatasetRef, ...] = ()
    """The datasets it writes."""
    repository: str | None = None
    """The Butler repository of a Butler-backed plan (`repository_uri`); part of its `id`.
    None for quanta of our own plans."""
    butler_id: str | None = None
    """Its UUID in the QuantumGraph it was imported from, where known; not part of its `id`."""

    @field_validator("repository")
    @classmethod
    def _check_repository(cls, value: str | None) -> str | None:
        return None if value is None else check_repository_uri(value)

    @field_validator("butler_id", mode="before")
    @classmethod
    def _check_butler_id(cls, value: Any) -> str | None:
        return check_butler_id(value)

    @field_validator("task_label")
    @classmethod
    def _check_label(cls, value: str) -> str:
        return check_task_label(value)

    @field_validator("run")
    @classmethod
    def _check_run(cls, value: str) -> str:
        return check_run_name(value)

    @field_validator("inputs", "outputs", mode="before")
    @classmethod
    def _canonical_order(cls, value: Any) -> Any:
        return _sorted_refs(value)

    @classmethod
    def trusted(
        cls,
        task_label: str,
        data_id: DataId,
        run: str,
        inputs: Iterable[DatasetRef],
        outputs: Iterable[DatasetRef],
        *,
        repository: str | None = None,
        butler_id: str | None = None,
    ) -> Quantum:
        """Build a quantum from checked parts, skipping validation (inputs and outputs are sorted here)."""
        return cls.model_construct(
            _fields_set=_ALL_FIELDS,
            task_label=task_label,
            data_id=data_id,
            run=run,
            inputs=_sorted_refs(tuple(inputs)),
            outputs=_sorted_refs(tuple(outputs)),
            repository=repository,
            butler_id=butler_id,
        )

    @cached_property
    def id(self) -> str:
        """The stable id of this quantum (`quantum_id`: UUID5 of [repository,] run, task, data ID)."""
        return quantum_id(self.run, self.task_label, self.data_id.key(), self.repository)

    def __str__(self) -> str:
        return f"{self.task_label} ({self.data_id})"


_ALL_FIELDS = set(Quantum.model_fields)
"""Every field, set: the fields-set of each `Quantum.trusted` (one set shared, not one per quantum)."""
