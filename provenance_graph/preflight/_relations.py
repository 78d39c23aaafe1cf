"""Dimension relationships as pre-flight uses them: implied dimensions and join consistency.

`Relations` is built once per pre-flight from the repository's dimension
records and join rows. It answers two questions, all on plain ``dict`` data
IDs for speed:

- `Relations.expand`: add the dimensions a data ID implies (visit -> band,
  exposure -> visit -> band) from the records;
- `Relations.consistent`: whether two partial data IDs agree with every join
  whose two sides they touch.

`BigJoin` (``_big_join.py``) joins the records themselves into the pipeline's
candidate data IDs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from provenance_graph.model import DimensionJoin
from provenance_graph.preflight._repository_view import RepositoryView

__all__ = ["Relations", "Row", "natural_join"]

#: A data ID as a plain dict, possibly with implied dimensions added.
Row = dict[str, Any]


class Relations:
    """The repository's dimension records and joins, indexed for pre-flight."""

    def __init__(self, repo: RepositoryView) -> None:
        self.universe = repo.universe
        # element -> (key dims, {key values: implied values})
        self._implied: dict[str, tuple[tuple[str, ...], dict[tuple[Any, ...], Row]]] = {}
        self._records: dict[str, list[Row]] = {}
        for name, dim in self.universe.dimensions.items():
            if not dim.has_records:
                continue
            records = repo.records(name)
            self._records[name] = records
            if dim.implies:
                key_dims = self.universe.key_dimensions(name)
                index = {tuple(r[d] for d in key_dims): {i: r[i] for i in dim.implies} for r in records}
                self._implied[name] = (key_dims, index)
        self.joins: list[tuple[DimensionJoin, list[Row]]] = [
            (j, repo.join_rows(j.name)) for j in self.universe.joins
        ]
        self._projections: dict[tuple[str, tuple[str, ...]], frozenset[tuple[Any, ...]]] = {}

    def records_of(self, element: str) -> list[Row]:
        """The repository's records of one element (an empty list for an element without records)."""
        return self._records.get(element, [])

    # --- implied dimensions -----------------------------------------------------------------
    def expand(self, data_id: Mapping[str, Any]) -> Row:
        """Return ``data_id`` plus every dimension its records imply (unknown records add nothing)."""
        row = dict(data_id)
        changed = True
        while changed:
            changed = False
            for name, (key_dims, index) in self._implied.items():
                if name not in row:
                    continue
                implied = index.get(tuple(row.get(d) for d in key_dims))
                if implied is None:
                    continue
                for dim, value in implied.items():
                    if dim not in row:
                        row[dim] = value
                        changed = True
        return row

    # --- joins ------------------------------------------------------------------------------
    def consistent(self, row: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
        """Whether ``row`` and ``other`` together agree with every join whose two sides they touch."""
        for join, _rows in self.joins:
            dims = tuple(d for d in join.dimensions if d in row or d in other)
            touches_left = any(d in dims for d in join.left)
            touches_right = any(d in dims for d in join.right)
            if not (touches_left and touches_right):
                continue
            values = tuple(row[d] if d in row else other[d] for d in dims)
            if values not in self._projection(join, dims):
                return False
        return True

    def _projection(self, join: DimensionJoin, dims: tuple[str, ...]) -> frozenset[tuple[Any, ...]]:
        key = (join.name, dims)
        found = self._projections.get(key)
        if found is None:
            rows = next(r for j, r in self.joins if j.name == join.name)
            found = self._projections[key] = frozenset(tuple(r[d] for d in dims) for r in rows)
        return found


def natural_join(left: list[Row], right: list[Row]) -> list[Row]:
    """Rows of ``left`` merged with every row of ``right`` that agrees on their shared columns."""
    if not left or not right:
        return []
    shared = sorted(left[0].keys() & right[0].keys())
    index: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
    for r in right:
        index[tuple(r[d] for d in shared)].append(r)
    out = []
    for row in left:
        for match in index.get(tuple(row[d] for d in shared), ()):
            merged = dict(row)
            merged.update(match)
            out.append(merged)
    return out
