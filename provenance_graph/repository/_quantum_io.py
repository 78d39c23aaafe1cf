"""`RepositoryQuantumIO`: what `run_quantum` reads and writes, served from a repository."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provenance_graph.errors import RepositoryError
from provenance_graph.model import DataId, DatasetRef, Quantum, suggest
from provenance_graph.pipeline import Connection
from provenance_graph.repository._repository import Repository

__all__ = ["RepositoryQuantumIO"]


class RepositoryQuantumIO:
    """The `provenance_graph.pipeline.QuantumIO` of one quantum over a `Repository`.

    Parameters
    ----------
    repository
        Where inputs are read and outputs written.
    quantum
        The quantum being run.
    connections
        The task's connections as its pipeline resolved them.
    """

    def __init__(
        self, repository: Repository, quantum: Quantum, connections: Mapping[str, Connection]
    ) -> None:
        self.repository = repository
        self.quantum = quantum
        self.connections = connections
        self.written: list[DatasetRef] = []

    @property
    def data_id(self) -> DataId:
        """The quantum's data ID."""
        return self.quantum.data_id

    def _connection(self, name: str) -> Connection:
        conn = self.connections.get(name)
        if conn is None:
            raise RepositoryError(
                f"quantum {self.quantum} has no connection {name!r}",
                hint=suggest(name, sorted(self.connections)),
            )
        return conn

    def refs(self, connection: str) -> list[DatasetRef]:
        """The datasets of a connection, sorted by data ID."""
        conn = self._connection(connection)
        pool = self.quantum.inputs if conn.is_input else self.quantum.outputs
        return sorted(
            (r for r in pool if r.dataset_type.name == conn.dataset_type), key=lambda r: r.data_id.key()
        )

    def get(self, connection: str) -> Any:
        """Read an input: one object, or a list for a ``multiple`` connection."""
        conn = self._connection(connection)
        if not conn.is_input:
            raise RepositoryError(f"{connection!r} is an output of {self.quantum}; it cannot be read")
        objects = [self.repository.get(ref) for ref in self.refs(connection)]
        return objects if conn.multiple else objects[0]

    def put(self, connection: str, obj: Any) -> None:
        """Write the output of a connection."""
        conn = self._connection(connection)
        if conn.is_input:
            raise RepositoryError(f"{connection!r} is an input of {self.quantum}; it cannot be written")
        [ref] = self.refs(connection)
        self.repository.put(obj, ref)
        self.written.append(ref)
