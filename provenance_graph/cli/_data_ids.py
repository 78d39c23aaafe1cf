"""Data IDs on the command line: typed, listed in their human form, and given as JSON objects.

Typed as one argument or as repeated options (``-d visit=1 -d detector=2``), each read by
`DataId.parse`; tables list them as `human_forms` does; ``--json`` gives JSON objects.
The model is imported when a data ID is parsed or listed, not with this module: ``--json``
answers (`as_object`) need only the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from provenance_graph.errors import InvalidDataIdError

if TYPE_CHECKING:
    from provenance_graph.model import DataId, DimensionValue

__all__ = ["as_object", "data_id_from_pairs", "listed"]


def data_id_from_pairs(items: Iterable[str]) -> DataId:
    """A data ID from repeated options, each ``key=value`` or a data ID of several values."""
    from provenance_graph.model import DataId

    values: dict[str, DimensionValue] = {}
    for item in items:
        for key, value in DataId.parse(item).root:
            if key in values:
                raise InvalidDataIdError(
                    f"data ID dimension {key!r} is given twice", hint="give each dimension once"
                )
            values[key] = value
    return DataId(values)


def listed(keys: Sequence[str]) -> tuple[list[str], str]:
    """Data IDs stored as canonical JSON, in the human form of a listing, and what it leaves out.

    Instrument and skymap are shown only where they vary (`human_forms`); the second
    value is the left-out context as a caption, ``instrument=DemoCam``, or ``""``.
    """
    from provenance_graph.model import DataId, human_forms

    forms, context = human_forms(DataId.from_key(k) for k in keys)
    return forms, (f"data IDs of {context}" if len(context) else "")


def as_object(key: str) -> dict[str, DimensionValue]:
    """A data ID stored as canonical JSON, as the JSON object ``--json`` outputs give.

    Read as plain JSON, not validated again: a lineage answer has one per node, and the
    store wrote them.
    """
    values: dict[str, DimensionValue] = json.loads(key)
    return values
