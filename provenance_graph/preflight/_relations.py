"""Dimension relationships as pre-flight uses them: expansion, joins and record enumeration.

`Relations` is built once per pre-flight from the repository's dimension
records and join rows. It answers three questions, all on plain ``dict`` data
IDs for speed:

- `Relations.expand`: add the dimensions a data ID implies (visit -> band,
  exposure -> visit -> band) from the records;
- `Relations.extend`: add the dimensions a join relates it to (an
  (instrument, visit, detector) image -> each overlapping (skymap, tract, patch));
- `Relations.enumerate`: list every data ID over some dimensions that the
  records say exists (every exposure x detector of an instrument), joined
  through the join rows where the dimensions span both sides of a join.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
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
        self._extensions: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], list[Row]]] = {}

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
    def extend(self, row: Mapping[str, Any], target: Iterable[str]) -> Iterator[Row]:
        """Yield ``row`` extended, through the joins, until it covers ``target`` (or nothing if it cannot)."""
        wanted = set(target)
        if wanted <= row.keys():
            yield dict(row)
            return
        for join, _rows in self.joins:
            for have_side, add_side in ((join.left, join.right), (join.right, join.left)):
                if not set(have_side) <= row.keys():
                    continue
                if not wanted <= row.keys() | set(add_side):
                    continue
                index = self._extension(join, have_side)
                for other in index.get(tuple(row[d] for d in have_side), ()):
                    merged = dict(row)
                    merged.update(other)
                    yield self.expand(merged)
                return

    def _extension(self, join: DimensionJoin, have_side: tuple[str, ...]) -> dict[tuple[Any, ...], list[Row]]:
        key = (join.name, have_side)
        found = self._extensions.get(key)
        if found is None:
            rows = next(r for j, r in self.joins if j.name == join.name)
            add_side = join.right if have_side == join.left else join.left
            index: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
            for r in rows:
                index[tuple(r[d] for d in have_side)].append({d: r[d] for d in add_side})
            found = self._extensions[key] = dict(index)
        return found

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

    def joined_dimensions(self, dims: Iterable[str]) -> set[str]:
        """``dims`` plus every dimension a join can add to them."""
        have = set(dims)
        for join, _rows in self.joins:
            if set(join.left) <= have:
                have |= set(join.right)
            elif set(join.right) <= have:
                have |= set(join.left)
        return set(self.universe.closure(have))

    # --- enumeration from records -------------------------------------------------------------
    def enumerable(self, dims: Iterable[str]) -> bool:
        """Whether the records list the data IDs over ``dims``: observation-side dimensions only.

        The instrument's records say which exposures, visits and detectors
        exist, so a missing raw is worth a note. Sky cells are planned only
        where data lands on them, so sky-side dimensions are never enumerated.
        """
        wanted = set(dims)
        if not self.universe.joins:
            return False
        for join in self.universe.joins:
            if wanted & self.universe.closure(join.right):
                return False
        return all(self.universe[d].has_records or self._implied_by(d, wanted) for d in wanted)

    def _implied_by(self, dim: str, dims: set[str]) -> bool:
        return any(dim in self.universe[d].implies for d in dims if d != dim)

    def enumerate(self, dims: Iterable[str]) -> list[Row]:
        """Every data ID over ``dims`` (expanded) that the records say exists."""
        wanted = [d for d in sorted(set(dims)) if self.universe[d].has_records]
        relation: list[Row] | None = None
        for name in wanted:
            records = self._records.get(name, [])
            relation = records if relation is None else natural_join(relation, records)
        rows = relation or []
        return [self.expand({d: r[d] for d in dims if d in r}) for r in rows]


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
