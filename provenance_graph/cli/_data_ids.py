"""Data IDs as typed on the command line: ``visit=1,detector=2`` or ``-d visit=1 -d detector=2``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from provenance_graph.errors import InvalidDataIdError
from provenance_graph.model import DataId

__all__ = ["data_id_from_pairs"]

#: A value typed as an integer: ASCII digits only (``str.isdigit`` also takes superscripts and
#: the digits of other scripts, which ``int`` refuses or reads as numbers).
_INTEGER = re.compile(r"-?[0-9]+\Z")


def data_id_from_pairs(items: Iterable[str]) -> DataId:
    """A data ID from ``key=value`` texts; a value of digits, with an optional minus, is an integer."""
    values: dict[str, int | str] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise InvalidDataIdError(f"data ID entry {item!r} is not key=value", hint="write e.g. visit=3")
        key, text = key.strip(), text.strip()
        if _INTEGER.match(text):
            try:
                values[key] = int(text)
            except ValueError:  # more digits than Python converts
                raise InvalidDataIdError(
                    f"data ID value for {key!r} is an integer of {len(text)} digits; "
                    "the graph stores integers of up to 64 bits (signed)"
                ) from None
        else:
            values[key] = text
    return DataId(values)
