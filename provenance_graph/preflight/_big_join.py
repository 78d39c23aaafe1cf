"""The constrained candidate query: one relation over every dimension of the pipeline.

pipe_base plans a pipeline from one query over the union of all its tasks'
dimensions (the "big join" of FIELD.md): the dimension records, the spatial
overlaps and the user's data query, joined and constrained together. Each
task's candidate quanta are then projections of that one relation, so a query
on any dimension constrains every task: ``tract = 1`` plans only the
calibrations of images that touch tract 1.

`BigJoin` does the same over a `RepositoryView`'s records:

- every dimension of the pipeline that keeps records contributes its records
  (an exposure row carries its visit; a visit row its band);
- every join whose dimensions all belong to the pipeline contributes its rows
  (which images overlap which patches);
- a record-less dimension that no record implies (``band`` in a pipeline of
  coadds only) takes its values from the overall inputs' datasets;
- the data query drops every row for which it is definitely false, as early
  as the row holds the dimensions it names.

Unlike pipe_base, the existence of the overall inputs is not part of the
join: a candidate whose raw is missing stays, so that pre-flight can say so in
a note. A query that matches nothing is a `PreflightError` naming the term that
matched nothing (or, with ``allow_empty``, a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from provenance_graph.errors import PreflightError
from provenance_graph.preflight._expression import Expression
from provenance_graph.preflight._relations import Relations, Row, natural_join

__all__ = ["BigJoin"]

_log = logging.getLogger(__name__)


class BigJoin:
    """The pipeline's candidate data IDs: records x overlaps x query, projected per task.

    Parameters
    ----------
    relations
        The repository's records and joins.
    dimensions
        Every task's quantum dimensions (their closure is taken).
    expression
        The data query.
    seeds
        For record-less dimensions: data IDs (expanded) of the overall inputs'
        datasets, by dataset type, in the pipeline's order.
    allow_empty
        Whether a query that matches nothing is a warning rather than an error.
    """

    def __init__(
        self,
        relations: Relations,
        dimensions: Iterable[str],
        expression: Expression,
        seeds: Mapping[str, Sequence[Row]],
        *,
        allow_empty: bool = False,
    ) -> None:
        universe = relations.universe
        self.dimensions = universe.closure(dimensions)
        self._universe = universe
        self._projections: dict[tuple[str, ...], dict[tuple[Any, ...], Row]] = {}
        parts = self._parts(relations, seeds)
        self.rows = self._join(parts, expression)
        self.empty_because = ""
        """Why there are no rows (when ``allow_empty`` let it pass), for the plan's metadata."""
        if not self.rows and self.dimensions:
            message, hint = self._why_empty(parts, expression)
            if not allow_empty:
                raise PreflightError(message, hint=hint)
            _log.warning("%s; the plan is empty", message)
            self.empty_because = message

    # --- building ---------------------------------------------------------------------------
    def _parts(self, relations: Relations, seeds: Mapping[str, Sequence[Row]]) -> list[tuple[str, list[Row]]]:
        """The relations to join, each named for messages: records, joins, dataset seeds."""
        universe, dims = self._universe, self.dimensions
        parts: list[tuple[str, list[Row]]] = []
        covered: set[str] = set()
        for name in sorted(dims):
            dim = universe[name]
            if not dim.has_records:
                continue
            columns = [d for d in (*universe.key_dimensions(name), *dim.implies) if d in dims]
            rows = _distinct(relations.records_of(name), columns)
            parts.append((f"{name} records", rows))
            covered.update(columns)
        for join, rows in relations.joins:
            if set(join.dimensions) <= dims:
                parts.append((f"{join.name} overlaps", _distinct(rows, join.dimensions)))
        for name in sorted(dims - covered):
            for dataset_type, data_ids in seeds.items():
                if data_ids and name in data_ids[0]:
                    columns = [d for d in data_ids[0] if d in dims]
                    parts.append((f"{dataset_type} datasets", _distinct(data_ids, columns)))
                    covered.update(columns)
                    break
            else:
                parts.append((f"values of {name}", []))
        return parts

    def _join(self, parts: list[tuple[str, list[Row]]], expression: Expression) -> list[Row]:
        """Natural join of ``parts`` (most constraining first), filtered by the query as it goes."""
        todo = sorted(parts, key=lambda p: (-len(p[1][0]) if p[1] else 0, len(p[1])))
        if not todo:
            return [{}]
        rows: list[Row] = [{}]
        have: set[str] = set()
        while todo:
            # Next: the part sharing most columns with what is joined so far (no cross product
            # while a connected part remains).
            best = max(range(len(todo)), key=lambda i: (len(have & _columns(todo[i][1])), -i))
            _name, part = todo.pop(best)
            rows = natural_join(rows, part)
            have |= _columns(part)
            if expression:
                rows = [r for r in rows if expression(r) is not False]
            if not rows:
                return []
        return rows

    def _why_empty(self, parts: list[tuple[str, list[Row]]], expression: Expression) -> tuple[str, str]:
        """The sentence and hint for a big join without rows."""
        for name, rows in parts:
            if not rows:
                what = name.removeprefix("values of ")
                if name.startswith("values of "):
                    return (
                        f"no dataset of the pipeline's overall inputs gives values of {what!r}",
                        "ingest the inputs first",
                    )
                return (
                    f"the repository has no {name}, which the pipeline's dimensions need",
                    "add them with 'provgraph repo add-records REPO FILE.yaml'",
                )
        unconstrained = self._join(parts, Expression(""))
        if not unconstrained:
            return (
                "the repository's dimension records have no data ID in common across "
                + ", ".join(n for n, _ in parts),
                "add the missing records or overlaps with 'provgraph repo add-records REPO FILE.yaml'",
            )
        for text, test in expression.terms():
            if all(test(r) is False for r in unconstrained):
                return (
                    f"the data query matches nothing: {text!r} matches no data ID of the repository",
                    "check the value against 'provgraph repo show REPO', or pass --allow-empty",
                )
        return (
            f"the data query {expression.text!r} matches no data ID of the repository "
            "(each term matches some, but not together)",
            "loosen the query, or pass --allow-empty",
        )

    # --- answers ----------------------------------------------------------------------------
    def candidates(self, dims: Sequence[str]) -> dict[tuple[Any, ...], Row]:
        """The distinct projections of the rows onto ``dims``, keyed by their values in that order.

        Each row keeps every dimension ``dims`` imply (a visit's band).
        """
        key_dims = tuple(dims)
        found = self._projections.get(key_dims)
        if found is None:
            closure = sorted(self._universe.closure(key_dims) & self.dimensions)
            found = {}
            for row in self.rows:
                key = tuple(row[d] for d in key_dims)
                if key not in found:
                    found[key] = {d: row[d] for d in closure}
            self._projections[key_dims] = found
        return found


def _columns(rows: list[Row]) -> set[str]:
    return set(rows[0]) if rows else set()


def _distinct(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> list[Row]:
    seen: dict[tuple[Any, ...], Row] = {}
    for r in rows:
        if all(c in r for c in columns):
            key = tuple(r[c] for c in columns)
            if key not in seen:
                seen[key] = {c: r[c] for c in columns}
    return list(seen.values())
