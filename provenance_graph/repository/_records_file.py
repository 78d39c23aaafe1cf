"""Records files: dimension records and overlap rows in YAML or CSV, read with their line numbers.

YAML (``.yaml``, ``.yml``): a mapping from element (or join) name to a list of records,
each a mapping of its fields::

    instrument:
      - {instrument: HSC}
    visit:
      - {instrument: HSC, visit: 1, band: r, timespan: [2024-03-01T03:00:00, 2024-03-01T03:00:30]}
    visit_detector_patch:
      - {instrument: HSC, visit: 1, detector: 0, skymap: rings, tract: 0, patch: 0}

CSV (``.csv``): one element per file, named by the file (``detector.csv``,
``visit_detector_patch.csv``); a header row of field names, then one record per row.
Integer dimensions are written as digits; a visit's or exposure's time span is two columns,
``timespan_begin`` and ``timespan_end``, both given or both empty. An empty cell is a
missing field.

Both give `RecordEntry` values that carry the file and line of each record, so every
complaint of `check_entry` and `check_references` names them. docs/pipelines.md
documents the format for users.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import yaml

from provenance_graph.errors import RepositoryError
from provenance_graph.model import DimensionUniverse
from provenance_graph.pipeline import YamlLoader
from provenance_graph.repository._records import RecordEntry, element_names, record_fields
from provenance_graph.textfiles import read_text_file

__all__ = ["MAX_RECORDS_BYTES", "read_records_file"]

#: The largest records file read: 100 MB (a few hundred thousand records).
MAX_RECORDS_BYTES = 100_000_000

#: A CSV cell read as an integer: ASCII digits, with an optional minus.
_INTEGER = re.compile(r"-?[0-9]+\Z")

_TIMESPAN_COLUMNS = ("timespan_begin", "timespan_end")


def read_records_file(path: Path, universe: DimensionUniverse) -> list[RecordEntry]:
    """The records and join rows of a YAML or CSV records file, in file order.

    Raises
    ------
    RepositoryError
        The file cannot be read, is neither ``.yaml``/``.yml`` nor ``.csv``, or is not
        shaped as a records file (naming the line).
    """
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise RepositoryError(
            f"records file {str(path)!r} is neither YAML nor CSV",
            hint="name it *.yaml (every element in one file) or ELEMENT.csv (e.g. detector.csv)",
        )
    if suffix == ".csv" and path.stem not in element_names(universe):
        raise RepositoryError(
            f"cannot tell which element {str(path)!r} holds: name the file after the element, "
            f"e.g. detector.csv",
            hint=f"the elements are {', '.join(element_names(universe))}",
        )
    text = read_text_file(path, "records file", RepositoryError, max_bytes=MAX_RECORDS_BYTES)
    if suffix == ".csv":
        return _read_csv(text, str(path), path.stem, universe)
    return _read_yaml(text, str(path), universe)


def _read_yaml(text: str, source: str, universe: DimensionUniverse) -> list[RecordEntry]:
    loader = YamlLoader(text)
    try:
        return _entries(loader, loader.get_single_node(), source, universe)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f", line {mark.line + 1}" if mark else ""
        raise RepositoryError(
            f"{source}{where}: not valid YAML: {err.problem}",
            hint="a records file maps element names to lists of records; see docs/pipelines.md",
        ) from None
    except yaml.YAMLError as err:
        raise RepositoryError(f"{source} is not valid YAML: {err}") from None
    except ValueError as err:  # a scalar YAML resolves but cannot build: 2024-13-45
        raise RepositoryError(f"{source} holds a value YAML cannot build: {err}") from None
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _entries(
    loader: YamlLoader, root: yaml.Node | None, source: str, universe: DimensionUniverse
) -> list[RecordEntry]:
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise RepositoryError(
            f"{source}, line {_line(root)}: expected a mapping of element names to lists of records",
            hint="write e.g. 'detector:' then '  - {instrument: HSC, detector: 0}'",
        )
    entries: list[RecordEntry] = []
    seen: dict[Any, int] = {}
    for key_node, value_node in root.value:
        element = loader.construct_object(key_node, deep=True)
        if element in seen:
            raise RepositoryError(
                f"{source}: duplicate key {element!r} at line {seen[element]} and again at line "
                f"{_line(key_node)}",
                hint="give each element once, with all its records",
            )
        seen[element] = _line(key_node)
        if not isinstance(element, str):
            raise RepositoryError(f"{source}, line {_line(key_node)}: {element!r} is not an element name")
        try:
            record_fields(universe, element)
        except RepositoryError as err:
            raise RepositoryError(f"{source}, line {_line(key_node)}: {err.message}", hint=err.hint) from None
        if isinstance(value_node, yaml.ScalarNode) and loader.construct_object(value_node) is None:
            continue  # "detector:" with nothing under it
        if not isinstance(value_node, yaml.SequenceNode):
            raise RepositoryError(
                f"{source}, line {_line(value_node)}: {element}: expected a list of records",
                hint=f"write each record on a line of its own, starting with '- ', e.g. "
                f"'  - {{{element}: ...}}'",
            )
        for item in value_node.value:
            entries.append(_entry(loader, element, item, source))
    return entries


def _entry(loader: YamlLoader, element: str, item: yaml.Node, source: str) -> RecordEntry:
    if not isinstance(item, yaml.MappingNode):
        raise RepositoryError(
            f"{source}, line {_line(item)}: a {element} record must be a mapping of its fields",
            hint=f"write e.g. '  - {{{element}: ...}}'",
        )
    loader.flatten_mapping(item)  # merge keys (<<) become plain fields
    values: dict[Any, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in item.value:
        name = loader.construct_object(key_node, deep=True)
        if name in values:
            raise RepositoryError(
                f"{source}: duplicate key {name!r} at line {lines[name]} and again at line {_line(key_node)}",
                hint="give each field of a record once",
            )
        values[name] = loader.construct_object(value_node, deep=True)
        lines[name] = _line(value_node)
    return RecordEntry(element, values, source=source, line=_line(item), field_lines=lines)


def _read_csv(text: str, source: str, element: str, universe: DimensionUniverse) -> list[RecordEntry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return []
    except csv.Error as err:
        raise RepositoryError(f"{source}, line 1: not valid CSV: {err}") from None
    _check_header(header, source, element, universe)
    integers = {h for h in header if h in universe.dimensions and universe[h].value_type == "int"}
    entries = []
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                values = _csv_values(header, row, integers, f"{source}, line {reader.line_num}")
                entries.append(RecordEntry(element, values, source=source, line=reader.line_num))
    except csv.Error as err:
        raise RepositoryError(f"{source}, line {reader.line_num}: not valid CSV: {err}") from None
    return entries


def _check_header(header: list[str], source: str, element: str, universe: DimensionUniverse) -> None:
    required, optional = record_fields(universe, element)
    columns = set(required) | ({*_TIMESPAN_COLUMNS} if optional else set())
    listed = [*required, *(f"{c} (optional)" for c in _TIMESPAN_COLUMNS if optional)]
    for name in header:
        if name not in columns:
            what = "row" if any(j.name == element for j in universe.joins) else "record"
            raise RepositoryError(
                f"{source}, line 1: {element} {what} has unknown field {name!r}",
                hint=f"the columns of {element}.csv are {', '.join(listed)}",
            )
    twice = [h for h in header if header.count(h) > 1]
    if twice:
        raise RepositoryError(f"{source}, line 1: column {twice[0]!r} appears twice")
    if sum(c in header for c in _TIMESPAN_COLUMNS) == 1:
        raise RepositoryError(
            f"{source}, line 1: a time span needs both timespan_begin and timespan_end columns"
        )


def _csv_values(header: list[str], row: list[str], integers: set[str], where: str) -> dict[str, Any]:
    """The fields of one CSV row: empty cells left out, integer columns of digits as integers."""
    if len(row) != len(header):
        raise RepositoryError(
            f"{where}: {len(row)} value{'s' if len(row) != 1 else ''} for {len(header)} columns",
            hint=f"the header names {', '.join(header)}",
        )
    values: dict[str, Any] = {}
    for name, raw in zip(header, row, strict=True):
        cell = raw.strip()
        if cell:
            values[name] = int(cell) if name in integers and _INTEGER.match(cell) else cell
    begin, end = values.pop("timespan_begin", None), values.pop("timespan_end", None)
    if (begin is None) != (end is None):
        empty = "timespan_begin" if begin is None else "timespan_end"
        raise RepositoryError(f"{where}: {empty} is empty; give both times or neither")
    if begin is not None:
        values["timespan"] = [begin, end]
    return values
