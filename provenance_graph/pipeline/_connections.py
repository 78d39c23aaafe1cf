"""Connections: the datasets a task reads and writes, declared on the task class.

A connection has a name local to the task (``exposure``), a dataset type name
(``postISRCCD``), the dataset type's dimensions and storage class, and whether
the quantum takes one dataset or many through it. `Input`, `PrerequisiteInput`
and `Output` build the three kinds.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from provenance_graph.model import DatasetType
from provenance_graph.model._names import check_dataset_type_name, check_dimension_name

__all__ = ["Connection", "ConnectionKind", "Input", "Output", "PrerequisiteInput"]


class ConnectionKind(StrEnum):
    """What a connection is to its task."""

    INPUT = "input"
    """A regular input: produced by an earlier task or already in the repository."""
    PREREQUISITE = "prerequisite"
    """An input that must already be in the repository; no task of the pipeline may produce it."""
    OUTPUT = "output"
    """A dataset the task writes."""


class Connection(BaseModel):
    """One connection of a task: which dataset type it carries, and how many per quantum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ConnectionKind
    """Input, prerequisite input or output."""
    dataset_type: str
    """The dataset type name; a pipeline file may rename it per task."""
    dimensions: tuple[str, ...]
    """The dataset type's dimensions, sorted."""
    storage_class: str
    """The dataset type's storage class, e.g. ``Image`` or ``Catalog``."""
    multiple: bool = False
    """Whether a quantum takes any number of datasets through it (an input over many detectors)."""
    minimum: int = 1
    """The fewest datasets of an input a quantum needs: 0 makes the input optional, as
    pipe_base's ``minimum=0``; more than 1 needs ``multiple``. Outputs have 1."""
    doc: str = ""
    """What the connection carries."""

    @field_validator("dataset_type")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_dataset_type_name(value)

    @field_validator("dimensions", mode="before")
    @classmethod
    def _sorted(cls, value: object) -> object:
        if isinstance(value, str):
            value = (value,)
        if isinstance(value, (list, tuple)):
            return tuple(sorted(check_dimension_name(v) for v in value))
        return value

    @model_validator(mode="after")
    def _check_minimum(self) -> Connection:
        if self.minimum < 0:
            raise ValueError(
                f"connection {self.dataset_type!r}: minimum must be 0 or more, not {self.minimum}"
            )
        if self.minimum > 1 and not self.multiple:
            raise ValueError(
                f"connection {self.dataset_type!r}: minimum={self.minimum} needs multiple=True "
                "(a single input has at most one dataset)"
            )
        if self.kind is ConnectionKind.OUTPUT and self.minimum != 1:
            raise ValueError(f"output {self.dataset_type!r} cannot have a minimum")
        return self

    @property
    def is_input(self) -> bool:
        """True for regular and prerequisite inputs."""
        return self.kind is not ConnectionKind.OUTPUT

    def as_dataset_type(self) -> DatasetType:
        """The `DatasetType` this connection carries."""
        return DatasetType(
            name=self.dataset_type, dimensions=self.dimensions, storage_class=self.storage_class
        )

    def renamed(self, dataset_type: str) -> Connection:
        """A copy that carries another dataset type name."""
        return self.model_copy(update={"dataset_type": check_dataset_type_name(dataset_type)})


def _declare(
    kind: ConnectionKind,
    dataset_type: str,
    dimensions: tuple[str, ...],
    storage_class: str,
    multiple: bool,
    doc: str,
    minimum: int = 1,
) -> Connection:
    return Connection(
        kind=kind,
        dataset_type=dataset_type,
        dimensions=dimensions,
        storage_class=storage_class,
        multiple=multiple,
        minimum=minimum,
        doc=doc,
    )


def Input(
    dataset_type: str,
    dimensions: tuple[str, ...],
    storage_class: str,
    *,
    multiple: bool = False,
    minimum: int = 1,
    doc: str = "",
) -> Connection:
    """Declare a regular input connection."""
    return _declare(ConnectionKind.INPUT, dataset_type, dimensions, storage_class, multiple, doc, minimum)


def PrerequisiteInput(
    dataset_type: str,
    dimensions: tuple[str, ...],
    storage_class: str,
    *,
    multiple: bool = False,
    minimum: int = 1,
    doc: str = "",
) -> Connection:
    """Declare a prerequisite input connection: it must exist in the repository before planning."""
    return _declare(
        ConnectionKind.PREREQUISITE, dataset_type, dimensions, storage_class, multiple, doc, minimum
    )


def Output(
    dataset_type: str, dimensions: tuple[str, ...], storage_class: str, *, doc: str = ""
) -> Connection:
    """Declare an output connection; its dimensions must be among the task's quantum dimensions."""
    return _declare(ConnectionKind.OUTPUT, dataset_type, dimensions, storage_class, False, doc)
