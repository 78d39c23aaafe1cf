"""Validation of the names that identify things: dimensions, dataset types, task labels, runs.

Names end up as Neo4j property values and, for dimensions, as property *keys*
of ``:Dataset`` and ``:Quantum`` nodes. They always travel to Neo4j as query
parameters, never as query text; the rules here exist so that names stay
readable and so that dimension keys can never shadow the graph's own properties.

Free text that is stored (data-ID values, a plan's query, storage classes, notes) has
one rule, `check_text`: it must be Unicode that can be encoded, which a Python string
holding a lone surrogate is not.
"""

from __future__ import annotations

import difflib
import re

from provenance_graph.errors import InvalidNameError, ModelError, ProvenanceGraphError

__all__ = [
    "RESERVED_PROPERTIES",
    "check_dataset_type_name",
    "check_dimension_name",
    "check_plan_id",
    "check_run_name",
    "check_task_label",
    "check_text",
    "suggest",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DIMENSION = re.compile(r"[a-z][a-z0-9_]*\Z")
_DATASET_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_RUN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\-/@:]*\Z")

#: Node properties owned by the graph schema; no dimension may take these names.
RESERVED_PROPERTIES = frozenset(
    {
        "id",
        "plan_id",
        "task",
        "dataset_type",
        "data_id",
        "data_id_display",
        "run",
        "status",
        "producer",
        "uri",
        "storage_class",
        "dimensions",
        "name",
    }
)


def suggest(word: str, choices: object) -> str:
    """Return a ``did you mean ...?`` phrase for ``word``, or an empty string."""
    candidates = [str(c) for c in choices] if isinstance(choices, (list, tuple, set, frozenset)) else []
    close = difflib.get_close_matches(word, candidates, n=3)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def check_dimension_name(name: object) -> str:
    """Return ``name`` if it is a valid dimension name, else raise `InvalidNameError`."""
    if not isinstance(name, str) or not _DIMENSION.match(name):
        raise InvalidNameError(
            f"invalid dimension name {name!r}",
            hint="dimension names are lower-case identifiers such as 'visit' or 'physical_filter'",
        )
    if name in RESERVED_PROPERTIES:
        raise InvalidNameError(
            f"dimension name {name!r} is reserved by the graph schema",
            hint=f"choose another name; reserved: {', '.join(sorted(RESERVED_PROPERTIES))}",
        )
    return name


def check_dataset_type_name(name: object) -> str:
    """Return ``name`` if it is a valid dataset type name, else raise `InvalidNameError`."""
    if not isinstance(name, str) or not _DATASET_TYPE.match(name):
        raise InvalidNameError(
            f"invalid dataset type name {name!r}",
            hint="dataset type names are identifiers, optionally with '.component' parts, "
            "e.g. 'calexp' or 'calexp.wcs'",
        )
    return name


def check_task_label(label: object) -> str:
    """Return ``label`` if it is a valid task label, else raise `InvalidNameError`."""
    if not isinstance(label, str) or not _IDENTIFIER.match(label):
        raise InvalidNameError(
            f"invalid task label {label!r}",
            hint="task labels are identifiers such as 'isr' or 'assembleCoadd'",
        )
    return label


_RUN_HINT = "run names use letters, digits and _ . + - / @ :, e.g. 'HSC/runs/RC2/w_2026_47'"


def check_run_name(run: object) -> str:
    """Return ``run`` if it is a valid run (collection) name, else raise `InvalidNameError`.

    A run name is also the first directory of its datasets' files, so it must stay a
    path below the repository: it is relative (it starts with a letter, digit or ``_``),
    and no ``/``-separated part of it is ``..``, ``.`` or empty.
    """
    if not isinstance(run, str) or not _RUN.match(run):
        raise InvalidNameError(f"invalid run name {run!r}", hint=_RUN_HINT)
    if "." in run or "/" in run:  # the common plain name skips the split
        for part in run.split("/"):
            if part in ("..", ".", ""):
                raise InvalidNameError(
                    f"invalid run name {run!r}: its part {part!r} "
                    + ("would lead out of the repository" if part == ".." else "is not a directory name"),
                    hint="a run name is a path inside the repository; write it without '..', '.' "
                    "and '//' parts, e.g. 'u/jdoe/test'",
                )
    return run


def check_plan_id(plan_id: object) -> str:
    """Return ``plan_id`` if it is a valid plan id, else raise `InvalidNameError`.

    Plan ids follow the grammar of run names (an imported QuantumGraph's plan takes its
    output run as its id); errors speak of plan ids.
    """
    if not isinstance(plan_id, str) or not _RUN.match(plan_id):
        raise InvalidNameError(
            f"invalid plan id {plan_id!r}",
            hint="plan ids use letters, digits and _ . + - / @ :, starting with a letter, digit "
            "or _, e.g. 'drp-2026-12'",
        )
    return plan_id


def check_text(text: str, what: str, error: type[ProvenanceGraphError] = ModelError) -> str:
    """Return ``text`` if it is storable Unicode, else raise ``error`` naming ``what``.

    Undecodable bytes, of a file read leniently or of a command-line argument (Python
    decodes ``argv`` with ``surrogateescape``), become lone surrogates. Such a string
    cannot be encoded as UTF-8, so neither Neo4j nor a stable id can take it.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            around = text[max(0, err.start - 20) : err.start + 20]
            raise error(
                f"{what} is not valid Unicode: character {err.start + 1}, {text[err.start]!r} "
                f"in {around!r}, is a lone surrogate",
                hint="undecodable bytes become lone surrogates; give the text as UTF-8",
            ) from None
    return text
