"""Data IDs typed as repeated options, ``-d visit=1 -d detector=2``, each read by `DataId.parse`."""

from __future__ import annotations

from collections.abc import Iterable

from provenance_graph.errors import InvalidDataIdError
from provenance_graph.model import DataId, DimensionValue

__all__ = ["data_id_from_pairs"]


def data_id_from_pairs(items: Iterable[str]) -> DataId:
    """A data ID from repeated options, each ``key=value`` or a data ID of several values."""
    values: dict[str, DimensionValue] = {}
    for item in items:
        for key, value in DataId.parse(item).root:
            if key in values:
                raise InvalidDataIdError(
                    f"data ID dimension {key!r} is given twice", hint="give each dimension once"
                )
            values[key] = value
    return DataId(values)
