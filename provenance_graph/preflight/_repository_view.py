"""`RepositoryView`: everything pre-flight reads from a data repository, and nothing more.

Pre-flight is pure logic over this protocol, as kedro's runner is over its
``CatalogProtocol``: it never imports `provenance_graph.repository`, whose
`Repository` is one implementation (an import-linter contract keeps it so).
Callers above pre-flight (the CLI, the demo, tests) pass the concrete
repository in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from provenance_graph.model import DataId, DatasetRef, DatasetType, DimensionUniverse, Timespan

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

    def timespan(self, data_id: DataId) -> Timespan | None:
        """The observation time span of a data ID's exposure (else visit) record; None if it has none."""
        ...

    def calibration_collections(self) -> list[str]:
        """Calibration collections, in the order they were made."""
        ...

    def certified_counts(self) -> dict[str, dict[str, int]]:
        """For each calibration collection: how many certifications each dataset type has."""
        ...

    def find_calibration(
        self,
        dataset_type: str,
        data_id: DataId,
        time: Timespan | datetime,
        collections: Sequence[str] | None = None,
    ) -> tuple[DatasetRef, str] | None:
        """The calibration of ``dataset_type`` for ``data_id`` valid at ``time``, with its URI; or None.

        A validity range matches if it overlaps ``time`` (a span, e.g. `timespan`'s) or
        contains it (an instant); the first of ``collections`` (default: every calibration
        collection) with a match wins. Two matches in one collection raise `RepositoryError`.
        """
        ...
