"""`DataId`: a canonical, hashable mapping from dimension names to values, and its one human form.

The human form (`DataId.__str__`, `DataId.human`) is what every printer, picture and
Browser caption shows, and what `DataId.parse` reads back:
``instrument=HSC visit=903334 detector=16``. Its rules:

- ``dimension=value`` pairs separated by single spaces, in the order of `DISPLAY_ORDER`
  (instrument, skymap, tract, patch, band, exposure, visit, detector), then any other
  dimension by name;
- an integer as its digits; a string bare when it is a plain word (``g``, ``HSC-R``,
  ``hsc_rings_v1``) that does not read as an integer, else in JSON's double quotes
  (``instrument="My Cam"``, ``band="2"``), so the form reads back as the same data ID;
- an empty data ID is ``{}``.

Where data IDs are listed together (a table, a picture, the data IDs of a note), instrument
and skymap are shown only where they vary: `human_forms` leaves out a dimension of
`CONTEXT_DIMENSIONS` that has one value in every listed data ID that has it, and returns
what it left out so the listing can say it once. A graph node's `display` form always
leaves them out (a run holds one instrument and one sky map; the node's ``data_id`` and
dimension properties keep them). A data ID of nothing but those dimensions keeps them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from functools import cached_property
from typing import Any

from pydantic import RootModel, model_validator

from provenance_graph.errors import InvalidDataIdError
from provenance_graph.model._names import check_dimension_name, check_text

__all__ = ["CONTEXT_DIMENSIONS", "DISPLAY_ORDER", "DataId", "DimensionValue", "human_forms"]

#: A dimension value: an integer (visit, detector, tract, patch) or a string (instrument, band).
DimensionValue = int | str

#: The integers a data ID may hold: Neo4j stores 64-bit signed integers.
_INT64 = range(-(2**63), 2**63)


#: The order dimensions are shown in by the human form; others follow, by name.
DISPLAY_ORDER = ("instrument", "skymap", "tract", "patch", "band", "exposure", "visit", "detector")
_RANK = {name: i for i, name in enumerate(DISPLAY_ORDER)}

#: Dimensions shown only where they vary: the same for every data ID of a run, as a rule.
CONTEXT_DIMENSIONS = ("instrument", "skymap")

#: A string value shown without quotes: a plain word that does not read as an integer.
_BARE = re.compile(r"[A-Za-z0-9_.+/:@-]+\Z")
_INTEGER_TEXT = re.compile(r"-?[0-9]+\Z")


def _human_value(value: DimensionValue) -> str:
    if type(value) is int:
        return str(value)
    text = str(value)
    if _BARE.match(text) and not _INTEGER_TEXT.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


_SEPARATOR = re.compile(r"[\s,]*")
_WORD = re.compile(r"[^\s,]*")
_PAIR = re.compile(
    r"""(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<bare>[^\s,"=]+))(?=[\s,]|\Z)"""
)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "...")


def _typed_value(key: str, quoted: str | None, bare: str | None) -> DimensionValue:
    """A typed value: a quoted one is a string, a bare one of ASCII digits an integer."""
    if quoted is not None:
        try:
            return str(json.loads(quoted))
        except ValueError as err:
            raise InvalidDataIdError(
                f"data ID value for {key!r}, {quoted}, is not a quoted string: {err}",
                hint='quote like JSON: instrument="My Cam", with \\" for a quote inside',
            ) from None
    text = str(bare)
    if not _INTEGER_TEXT.match(text):
        return text
    try:
        return int(text)
    except ValueError:  # more digits than Python converts
        raise InvalidDataIdError(
            f"data ID value for {key!r} is an integer of {len(text)} digits; "
            "the graph stores integers of up to 64 bits (signed)"
        ) from None


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
        return cls.model_construct(pairs, _fields_set=_ROOT_SET)

    @classmethod
    def of(cls, **values: DimensionValue) -> DataId:
        """Build a data ID from keyword arguments: ``DataId.of(visit=1, detector=2)``."""
        return cls(tuple(values.items()))

    @cached_property
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

    @classmethod
    def trusted_key(cls, text: str) -> DataId:
        """Rebuild a data ID from the canonical text that `key` wrote, skipping validation.

        For text the graph store wrote itself from a checked data ID: its pairs are in
        canonical order already, and the text is kept as the data ID's key.
        """
        data_id = cls.model_construct(tuple(json.loads(text).items()), _fields_set=_ROOT_SET)
        data_id.__dict__["_key"] = text
        return data_id

    @classmethod
    def parse(cls, text: str) -> DataId:
        """Read a data ID as people type it: the human form, its comma form, or JSON.

        ``visit=2 detector=1``, ``visit=2,detector=1`` and ``{"visit": 2, "detector": 1}``
        are the same data ID. A value of ASCII digits (with an optional minus) is an
        integer; a quoted value (``instrument="My Cam"``, ``band="2"``) is a string.
        Bad input raises `InvalidDataIdError` naming the part that could not be read.
        """
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                loaded = json.loads(stripped)
            except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
                raise InvalidDataIdError(
                    f"data ID {_shown(text)} is not JSON: {err}",
                    hint='write it as visit=2 detector=1, or as JSON: {"visit": 2, "detector": 1}',
                ) from None
            return cls(loaded)
        values: dict[str, DimensionValue] = {}
        pos = 0
        while True:
            pos = _SEPARATOR.match(stripped, pos).end()  # type: ignore[union-attr]
            if pos == len(stripped):
                break
            found = _PAIR.match(stripped, pos)
            if found is None:
                culprit = _WORD.match(stripped, pos).group()  # type: ignore[union-attr]
                raise InvalidDataIdError(
                    f"cannot read data ID {_shown(text)}: {_shown(culprit)} is not dimension=value",
                    hint="write it as visit=2 detector=1 (or visit=2,detector=1); quote a value "
                    'with spaces: instrument="My Cam"',
                )
            key, quoted, bare = found.group("key", "quoted", "bare")
            if key in values:
                raise InvalidDataIdError(
                    f"cannot read data ID {_shown(text)}: dimension {key!r} is given twice",
                    hint="give each dimension once",
                )
            values[key] = _typed_value(key, quoted, bare)
            pos = found.end()
        if not values:
            raise InvalidDataIdError(
                "the data ID is empty", hint="write it as visit=2 detector=1 (or visit=2,detector=1)"
            )
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

    def human(self, omit: Collection[str] = ()) -> str:
        """The human form (see the module docstring), without the dimensions in ``omit``.

        ``omit`` never empties a data ID that has values: if it names every dimension
        present, all are shown.
        """
        pairs = sorted(self.root, key=lambda kv: (_RANK.get(kv[0], len(_RANK)), kv[0]))
        shown = [kv for kv in pairs if kv[0] not in omit] or pairs
        return " ".join(f"{k}={_human_value(v)}" for k, v in shown) if shown else "{}"

    def display(self) -> str:
        """The form a graph node stores for captions (``data_id_display``): instrument and skymap left out."""
        return self.human(CONTEXT_DIMENSIONS)

    def __str__(self) -> str:
        return self.human()

    def __repr__(self) -> str:
        return f"DataId({self.human()!r})"


def human_forms(data_ids: Iterable[DataId]) -> tuple[list[str], DataId]:
    """The human forms of data IDs listed together, and the context values left out of them.

    A dimension of `CONTEXT_DIMENSIONS` is left out of every form when each data ID that
    has it has the same value; the returned `DataId` holds those values (empty when none
    was left out), for the listing to say once. This is the one rule of "instrument and
    skymap shown only where they vary".
    """
    ids = list(data_ids)
    context: dict[str, DimensionValue] = {}
    for name in CONTEXT_DIMENSIONS:
        values = {d[name] for d in ids if name in d.dimensions}
        if len(values) == 1:
            context[name] = values.pop()
    omit = frozenset(context)
    return [d.human(omit) for d in ids], DataId.trusted(tuple(sorted(context.items())))


_ROOT_SET = {"root"}
"""The fields-set of each trusted data ID: one set shared, not one per data ID.

Pydantic's ``model_construct`` otherwise keeps a new set of the given field names in
every instance: 200-500 bytes each, a third of pre-flight's memory. Pydantic copies it
before any change (``model_copy``), and frozen models are never changed in place.
"""
