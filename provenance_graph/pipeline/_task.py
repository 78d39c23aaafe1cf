"""`PipelineTask`: the interface every task of a pipeline implements.

A task class declares, as class attributes, its quantum ``dimensions``, its
``connections`` (inputs, prerequisite inputs, outputs) and its ``ConfigClass``
(a frozen pydantic model). Pre-flight calls `PipelineTask.define_quanta` once,
with a `QuantaContext` that offers the datasets available to the task; the
default implementation groups them by the quantum dimensions. At run time, an
Activator calls `PipelineTask.run_quantum` once per quantum, with a `QuantumIO`
that reads inputs and writes outputs through the repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from provenance_graph.model import DataId, DatasetRef, Quantum
from provenance_graph.pipeline._connections import Connection

__all__ = ["PipelineTask", "QuantaContext", "QuantumIO", "TaskConfig"]


class TaskConfig(BaseModel):
    """Base class of task configs: frozen, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class QuantaContext(Protocol):
    """What pre-flight offers to `PipelineTask.define_quanta`."""

    def available(self, connection: str) -> Sequence[DatasetRef]:
        """The datasets of an input connection that exist or that earlier tasks will produce."""
        ...

    def group(self) -> list[Quantum]:
        """The default quanta: inputs grouped by the quantum dimensions, following dimension relations.

        Candidate data IDs whose inputs are incomplete are dropped and recorded.
        """
        ...

    def make_quantum(self, data_id: Mapping[str, Any], inputs: Mapping[str, Sequence[DatasetRef]]) -> Quantum:
        """Build a quantum at ``data_id`` with the given inputs, per connection; outputs are derived."""
        ...

    def drop(self, data_id: Mapping[str, Any], connection: str, reason: str) -> None:
        """Record that no quantum is made at ``data_id`` because ``connection`` lacks datasets."""
        ...


class QuantumIO(Protocol):
    """What an Activator offers to `PipelineTask.run_quantum`: this quantum's inputs and outputs."""

    @property
    def data_id(self) -> DataId:
        """The quantum's data ID."""
        ...

    def refs(self, connection: str) -> list[DatasetRef]:
        """The datasets of a connection, sorted by data ID."""
        ...

    def get(self, connection: str) -> Any:
        """Read an input: one object, or a list (sorted by data ID) for a ``multiple`` connection."""
        ...

    def put(self, connection: str, obj: Any) -> None:
        """Write the output of a connection."""
        ...


class PipelineTask:
    """Base class of pipeline tasks.

    Subclasses set `dimensions`, `connections` and `ConfigClass`, and implement
    `run_quantum`. Instances are made by `provenance_graph.pipeline.Pipeline`
    with the label, the validated config and the connections after any
    renaming by the pipeline file.
    """

    dimensions: ClassVar[tuple[str, ...]] = ()
    """The quantum dimensions: one quantum per distinct value of these."""
    connections: ClassVar[Mapping[str, Connection]] = {}
    """Connections by name."""
    ConfigClass: ClassVar[type[TaskConfig]] = TaskConfig
    """The task's config model."""

    def __init__(self, label: str, config: TaskConfig, connections: Mapping[str, Connection]) -> None:
        self.label = label
        self.config = config
        self.resolved = dict(connections)
        """Connections as this pipeline uses them (dataset types possibly renamed)."""

    def define_quanta(self, context: QuantaContext) -> list[Quantum]:
        """Return this task's quanta; by default, the inputs grouped by the quantum dimensions."""
        return context.group()

    def run_quantum(self, io: QuantumIO) -> None:
        """Read the inputs, compute, write the outputs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run_quantum()")
