"""Dimension records and join rows as a user gives them: checked one by one, then against each other.

A `RecordEntry` is one record (of an element such as ``detector``) or one join row (of
``visit_detector_patch``) with where it was written, so every complaint names the file
and line. `check_entry` checks its fields and value types and makes it storable;
`check_references` checks, once the whole batch is known, that every dimension a record
needs (what it requires and implies) and every dimension a join row names has a record,
in the batch or in the registry. `Repository.add_records` runs both in one transaction.

A record holds its key dimensions (``instrument`` and ``detector`` for a detector), the
dimensions it implies (a visit's ``band``, an exposure's ``visit``) and, for temporal
elements (visit, exposure), an optional ``timespan``: ``[begin, end]`` TAI times, stored
as ISO-8601 texts with microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provenance_graph.errors import ModelError, RepositoryError
from provenance_graph.model import DataId, DimensionUniverse, Timespan, format_time, parse_time, suggest
from provenance_graph.model._names import check_text

__all__ = [
    "CheckedEntry",
    "RecordEntry",
    "check_entry",
    "check_references",
    "describe_fields",
    "differences",
    "element_names",
    "record_fields",
    "record_timespan",
]

#: The integers a dimension value may be: Neo4j stores 64-bit signed integers.
_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class RecordEntry:
    """One dimension record or join row, as given, and where it was written."""

    element: str
    """An element with records (``detector``) or a join (``visit_detector_patch``)."""
    values: Mapping[str, Any]
    """Its fields, as written (YAML-typed, or converted from CSV text)."""
    source: str = ""
    """The file it came from; empty when a program inserts records."""
    line: int = 0
    """The line of the record in ``source`` (1-based); 0 if unknown."""
    field_lines: Mapping[str, int] = field(default_factory=dict)
    """The line of each field's value, where it differs from ``line``."""

    def where(self, name: str | None = None) -> str:
        """The ``FILE, line N: `` prefix of a message about the entry (or one of its fields)."""
        if not self.source:
            return ""
        line = self.field_lines.get(name, self.line) if name is not None else self.line
        return f"{self.source}, line {line}: " if line else f"{self.source}: "


@dataclass(frozen=True)
class CheckedEntry:
    """A `RecordEntry` whose fields and types are right, in the form the registry stores."""

    entry: RecordEntry
    """What was given."""
    is_join: bool
    """A join row rather than a record."""
    data_id: DataId
    """A record's key (its key dimensions), or a join row's values."""
    key: str
    """The registry's key: a record's `DataId.key`, or a join row's JSON list of values."""
    stored: str
    """A record's JSON text as stored (for a join row, ``key`` again)."""
    record: dict[str, Any]
    """The stored record as a dict (the row, for a join)."""


def element_names(universe: DimensionUniverse) -> list[str]:
    """Every name a records file may use: elements with records, then joins."""
    return [d.name for d in universe.dimensions.values() if d.has_records] + [j.name for j in universe.joins]


def record_fields(universe: DimensionUniverse, element: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The required and optional fields of a record of ``element`` or a row of a join of that name.

    Raises
    ------
    RepositoryError
        ``element`` is neither an element with records nor a join.
    """
    join = next((j for j in universe.joins if j.name == element), None)
    if join is not None:
        return join.dimensions, ()
    dim = universe.dimensions.get(element)
    if dim is None or not dim.has_records:
        names = element_names(universe)
        if dim is not None:
            implied_by = [d.name for d in universe.dimensions.values() if element in d.implies]
            raise RepositoryError(
                f"unknown element {element!r}: {element} has no records of its own",
                hint=f"give its values in the {' and '.join(implied_by) or 'other'} records",
            )
        raise RepositoryError(
            f"unknown element {element!r}",
            hint=suggest(element, names) or f"the elements are {', '.join(names)}",
        )
    required = tuple(dict.fromkeys(universe.key_dimensions(element) + dim.implies))
    return required, ("timespan",) if dim.temporal else ()


def describe_fields(universe: DimensionUniverse, element: str) -> str:
    """``a visit record has instrument, visit, band, timespan (optional)``, for hints."""
    required, optional = record_fields(universe, element)
    what = "row" if any(j.name == element for j in universe.joins) else "record"
    listed = [*required, *(f"{o} (optional)" for o in optional)]
    return f"a {element} {what} has {', '.join(listed)}"


def _fail(entry: RecordEntry, name: str | None, message: str, hint: str | None = None) -> RepositoryError:
    return RepositoryError(f"{entry.where(name)}{message}", hint=hint)


def _value(universe: DimensionUniverse, entry: RecordEntry, name: str) -> int | str:
    value = entry.values[name]
    if universe[name].value_type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(entry, name, f"{name} must be an integer, not {value!r}")
        if value not in _INT64:
            raise _fail(entry, name, f"{name} does not fit in 64 bits: {value}")
        return value
    if not isinstance(value, str):
        raise _fail(entry, name, f"{name} must be a string, not {value!r}", hint=f"quote it: '{value}'")
    try:
        return check_text(value, name, RepositoryError)
    except RepositoryError as err:
        raise _fail(entry, name, err.message, err.hint) from None


def _timespan(entry: RecordEntry) -> list[str]:
    value = entry.values["timespan"]
    hint = "write timespan: [BEGIN, END], ISO-8601 TAI times such as 2024-03-01T03:00:00"
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise _fail(entry, "timespan", f"timespan must be [begin, end], not {value!r}", hint=hint)
    try:
        span = Timespan(
            begin=parse_time(value[0], "timespan begin"), end=parse_time(value[1], "timespan end")
        )
    except ModelError as err:
        raise _fail(entry, "timespan", err.message, err.hint) from None
    assert span.begin is not None
    assert span.end is not None
    return [format_time(span.begin), format_time(span.end)]


def record_timespan(record: Mapping[str, Any]) -> Timespan | None:
    """The observation time span a stored record carries, or None."""
    stored = record.get("timespan")
    if stored is None:
        return None
    begin, end = stored
    return Timespan(begin=parse_time(begin, "timespan begin"), end=parse_time(end, "timespan end"))


def _key(values: Mapping[str, Any], dims: Iterable[str]) -> DataId:
    return DataId.trusted(tuple(sorted((d, values[d]) for d in dims)))


def check_entry(universe: DimensionUniverse, entry: RecordEntry) -> CheckedEntry:
    """Check an entry's element, fields and value types; return it as the registry stores it.

    Raises
    ------
    RepositoryError
        Naming the entry's file and line: an unknown element, an unknown or missing field,
        a value of the wrong type, a malformed time span.
    """
    try:
        required, optional = record_fields(universe, entry.element)
    except RepositoryError as err:
        raise _fail(entry, None, err.message, err.hint) from None
    what = "row" if any(j.name == entry.element for j in universe.joins) else "record"
    unknown = [f for f in entry.values if f not in required and f not in optional]
    if unknown:
        name = unknown[0]
        close = suggest(str(name), [*required, *optional])
        raise _fail(
            entry,
            name if isinstance(name, str) else None,
            f"{entry.element} {what} has unknown field {name!r}",
            hint=f"{close + ' ' if close else ''}{describe_fields(universe, entry.element)}",
        )
    missing = [f for f in required if f not in entry.values or entry.values[f] is None]
    if missing:
        raise _fail(
            entry,
            None,
            f"{entry.element} {what} lacks {', '.join(missing)}",
            hint=describe_fields(universe, entry.element),
        )
    record: dict[str, Any] = {name: _value(universe, entry, name) for name in required}
    if what == "row":
        key = json.dumps([record[d] for d in required])
        return CheckedEntry(entry, True, _key(record, required), key, key, record)
    if entry.values.get("timespan") is not None:
        record["timespan"] = _timespan(entry)
    data_id = _key(record, universe.key_dimensions(entry.element))
    stored = json.dumps({k: record[k] for k in sorted(record)})
    return CheckedEntry(entry, False, data_id, data_id.key(), stored, record)


def _show(name: str, value: Any) -> str:
    if value is None:
        return "none"
    if name == "timespan":
        return str(record_timespan({"timespan": value}))
    return repr(value)


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The fields two versions of a record disagree on: ``(field, old shown, new shown)``."""
    return [
        (f, _show(f, old.get(f)), _show(f, new.get(f)))
        for f in dict.fromkeys([*old, *new])
        if old.get(f) != new.get(f)
    ]


def check_references(
    universe: DimensionUniverse,
    checked: Iterable[CheckedEntry],
    known: Callable[[str, str], bool],
) -> None:
    """Check that what each record needs, and what each join row names, has a record.

    A record needs the records of the dimensions it requires and implies (a detector its
    instrument, a patch its tract, an exposure its visit); a join row names a record of
    each of its dimensions (checked through the most specific ones: a patch's record
    stands for its tract's and sky map's). ``known(element, key)`` says whether a record
    exists, in the batch or in the registry.

    Raises
    ------
    RepositoryError
        Naming the first entry, in the order given, that needs a missing record.
    """
    joins = {j.name: j for j in universe.joins}
    for item in checked:
        if item.is_join:
            dims = joins[item.entry.element].dimensions
            needed = [
                d
                for d in dims
                if universe[d].has_records
                and not any(d in universe.key_dimensions(o) for o in dims if o != d)
            ]
            owner = f"{item.entry.element} row ({item.data_id})"
        else:
            dim = universe[item.entry.element]
            needed = [d for d in (*dim.requires, *dim.implies) if universe[d].has_records]
            owner = f"{item.entry.element} ({item.data_id})"
        for name in needed:
            key = _key(item.record, universe.key_dimensions(name))
            if not known(name, key.key()):
                raise _fail(
                    item.entry,
                    None,
                    f"{owner} needs {name} ({key}), which has no record",
                    hint=f"add that {name} record: in this file, in another file of the same "
                    "command, or before",
                )
