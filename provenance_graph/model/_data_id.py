"""`DataId`: a canonical, hashable mapping from dimension names to values."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from pydantic import RootModel, model_validator

from provenance_graph.errors import InvalidDataIdError
from provenance_graph.model._names import check_dimension_name, check_text

__all__ = ["DataId", "DimensionValue"]

#: A dimension value: an integer (visit, detector, tract, patch) or a string (instrument, band).
DimensionValue = int | str

#: The integers a data ID may hold: Neo4j stores 64-bit signed integers.
_INT64 = range(-(2**63), 2**63)


def _json_string(value: str | int) -> str:
    """``json.dumps(value, ensure_ascii=False)``, without its cost for the common plain string."""
    if isinstance(value, str) and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


class DataId(RootModel[tuple[tuple[str, DimensionValue], ...]]):
    """A data ID such as ``{instrument: "HSC", visit: 903334, detector: 16}``.

    It is stored as a tuple of ``(dimension, value)`` pairs sorted by dimension
    name, so two data IDs with the same content are equal and hash alike whatever
    order they were written in. Construct it from a mapping (``DataId({"visit": 1})``)
    or with `DataId.of` (``DataId.of(visit=1)``). Values are ``int`` or ``str``;
    ``bool`` and ``float`` are rejected because they do not round-trip as keys.
    """

    model_config = {"frozen": True}

    root: tuple[tuple[str, DimensionValue], ...]
    """The ``(dimension, value)`` pairs, sorted by dimension name."""

    @model_validator(mode="before")
    @classmethod
    def _canonicalize(cls, value: Any) -> Any:
        if isinstance(value, DataId):
            return value.root
        if isinstance(value, Mapping):
            items = list(value.items())
        elif isinstance(value, (list, tuple)):
            odd = [pair for pair in value if not isinstance(pair, (list, tuple))]
            if odd:
                raise InvalidDataIdError(
                    f"malformed data ID entry {odd[0]!r}", hint="give (dimension, value) pairs"
                )
            items = [tuple(pair) for pair in value]
        else:
            raise InvalidDataIdError(
                f"a data ID must be a mapping of dimension names to values, not {value!r}",
                hint='write it like {"instrument": "HSC", "visit": 903334, "detector": 16}',
            )
        seen: set[str] = set()
        for pair in items:
            if len(pair) != 2:
                raise InvalidDataIdError(f"malformed data ID entry {pair!r}")
            key, val = pair
            check_dimension_name(key)
            if key in seen:
                raise InvalidDataIdError(f"dimension {key!r} appears twice in data ID {value!r}")
            seen.add(key)
            if isinstance(val, bool) or not isinstance(val, (int, str)):
                raise InvalidDataIdError(
                    f"data ID value for {key!r} must be an int or a str, not {val!r}",
                    hint="use integers for visit/detector/tract/patch and strings for instrument/band/skymap",
                )
            if isinstance(val, int) and val not in _INT64:
                shown = val if val.bit_length() < 1000 else f"an integer of {val.bit_length()} bits"
                raise InvalidDataIdError(
                    f"data ID value for {key!r} does not fit in 64 bits: {shown}",
                    hint="the graph stores integers from -2**63 to 2**63 - 1",
                )
            if isinstance(val, str):
                check_text(val, f"data ID value for {key!r}", InvalidDataIdError)
        return tuple(sorted(items))

    @classmethod
    def trusted(cls, pairs: tuple[tuple[str, DimensionValue], ...]) -> DataId:
        """Build a data ID from pairs already sorted by name and checked, skipping validation.

        Pre-flight makes hundreds of thousands of data IDs from values it has
        checked already; validating each again would dominate its run time.
        """
        return cls.model_construct(pairs)

    @classmethod
    def of(cls, **values: DimensionValue) -> DataId:
        """Build a data ID from keyword arguments: ``DataId.of(visit=1, detector=2)``."""
        return cls(tuple(values.items()))

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimension names, sorted."""
        return tuple(k for k, _ in self.root)

    def to_dict(self) -> dict[str, DimensionValue]:
        """Return the data ID as a plain ``dict`` (a new one each call)."""
        return dict(self.root)

    def key(self) -> str:
        """Return the canonical JSON text of the data ID, e.g. ``{"detector":16,"visit":1}``.

        It is what the graph stores in the ``data_id`` property, and what stable
        ids are computed from. Computed once per data ID.
        """
        return self._key

    @cached_property
    def _key(self) -> str:
        # The same text as json.dumps(dict(root), separators=(",", ":"), ensure_ascii=False),
        # built directly: dimension names are plain identifiers and need no escaping, and
        # pre-flight computes this for every dataset of a plan.
        parts = [f'"{k}":{v}' if type(v) is int else f'"{k}":{_json_string(v)}' for k, v in self.root]
        return "{" + ",".join(parts) + "}"

    @classmethod
    def from_key(cls, text: str) -> DataId:
        """Parse the canonical JSON text written by `key`."""
        try:
            values = json.loads(text)
        except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
            raise InvalidDataIdError(f"data ID key {text[:200]!r} is not JSON: {err}") from None
        return cls(values)

    def subset(self, dimensions: tuple[str, ...] | frozenset[str]) -> DataId:
        """Return the data ID restricted to ``dimensions``; every one must be present."""
        values = dict(self.root)
        missing = [d for d in dimensions if d not in values]
        if missing:
            raise InvalidDataIdError(f"data ID {self} has no value for {', '.join(missing)}")
        return DataId(tuple((d, values[d]) for d in dimensions))

    def __getitem__(self, dimension: str) -> DimensionValue:
        for key, value in self.root:
            if key == dimension:
                return value
        raise KeyError(dimension)

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.dimensions)

    def __len__(self) -> int:
        return len(self.root)

    def __str__(self) -> str:
        inner = ", ".join(f"{k}: {v!r}" for k, v in self.root)
        return "{" + inner + "}"

    def __repr__(self) -> str:
        return f"DataId({self})"
