"""`RepositoryView`: everything pre-flight reads from a data repository, and nothing more.

Pre-flight is pure logic over this protocol, as kedro's runner is over its
``CatalogProtocol``: it never imports `provenance_graph.repository`, whose
`Repository` is one implementation (an import-linter contract keeps it so).
Callers above pre-flight (the CLI, the demo, tests) pass the concrete
repository in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from provenance_graph.model import DatasetRef, DatasetType, DimensionUniverse

__all__ = ["RepositoryView"]


class RepositoryView(Protocol):
    """What pre-flight reads from a repository (`provenance_graph.repository.Repository` is one)."""

    @property
    def root(self) -> Path | None:
        """Where the repository is on disk, recorded in the plan's metadata; None if nowhere."""
        ...

    @property
    def universe(self) -> DimensionUniverse:
        """The dimensions the repository knows."""
        ...

    def dataset_types(self) -> dict[str, DatasetType]:
        """Registered dataset types by name."""
        ...

    def records(self, element: str) -> list[dict[str, Any]]:
        """Dimension records of one element."""
        ...

    def join_rows(self, name: str) -> list[dict[str, Any]]:
        """Rows of one dimension join."""
        ...

    def runs(self) -> list[str]:
        """Runs in the order they were first written to."""
        ...

    def datasets(
        self, dataset_type: str | None = None, runs: Sequence[str] | None = None
    ) -> list[tuple[DatasetRef, str]]:
        """Existing datasets and their URIs."""
        ...

    def uri(self, ref: DatasetRef) -> str:
        """Where a dataset's file is, or will be."""
        ...
