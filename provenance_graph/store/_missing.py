"""What the store says when a plan, dataset or quantum named by a user is not there.

Every command that takes an id checks it here before answering, so that a missing one is
an error naming it (exit 1), never an empty table: a question about nothing has no answer.
The error suggests what the user may have meant, in the order a person mistypes:

- plans: the stored plans whose id starts with the text given, then those `difflib` finds
  close to it (a plan id is a name a person chose: typos look like typos);
- datasets and quanta: the ids that start with the text given (an id copied short), else
  those sharing its first characters and close to it (an id copied with a slip), found by
  the prefix seeks of ``ids_starting_with`` (``cypher/provenance.cypher``), however large
  the graph. A quantum's id given where a dataset's is wanted (or the other way round) is
  told as such, with the option that takes it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Literal

from provenance_graph.errors import NotInGraphError, PlanNotFoundError
from provenance_graph.store.connection import GraphStore

__all__ = [
    "check_dataset",
    "check_plan",
    "close_ids",
    "close_plan_ids",
    "dataset_not_found",
    "plan_not_found",
    "quantum_not_found",
]

#: At most this many suggestions in one hint.
_SHOWN = 3
#: Ids of each kind fetched per prefix seek.
_FETCHED = 50
#: The prefix an id copied with a slip is looked up by, when nothing starts with all of it.
_PREFIX = 6

Kind = Literal["dataset", "quantum"]


def _did_you_mean(close: Sequence[str]) -> str:
    return "did you mean " + " or ".join(repr(c) for c in close[:_SHOWN]) + "?"


def close_plan_ids(store: GraphStore, text: str) -> list[str]:
    """Complete plans whose id starts with ``text``, then those close to it, best first."""
    known = [str(r["id"]) for r in store.read("plan_list", include_incomplete=False)]
    starting = sorted(k for k in known if k.startswith(text) and k != text)
    close = difflib.get_close_matches(text, known, n=_SHOWN, cutoff=0.6)
    return list(dict.fromkeys([*starting, *close]))[:_SHOWN]


def plan_not_found(store: GraphStore, plan_id: str) -> PlanNotFoundError:
    """The error for a plan id no complete plan has: interrupted, or missing with close ids."""
    rows = store.read("plan_header", plan_id=plan_id)
    if rows and rows[0]["plan"].get("status") != "complete":
        return PlanNotFoundError(
            f"plan {plan_id!r} is incomplete: its write was interrupted",
            hint="rerun the command that wrote it to resume, or delete it with "
            f"'provgraph plans delete {plan_id}'",
        )
    close = close_plan_ids(store, plan_id)
    return PlanNotFoundError(
        f"no plan {plan_id!r} is stored",
        hint=_did_you_mean(close) if close else "list the stored plans with 'provgraph plans list'",
    )


def check_plan(store: GraphStore, plan_id: str) -> None:
    """Raise `plan_not_found`'s error unless a complete plan has this id."""
    rows = store.read("plan_header", plan_id=plan_id)
    if not rows or rows[0]["plan"].get("status") != "complete":
        raise plan_not_found(store, plan_id)


def close_ids(store: GraphStore, kind: Kind, text: str) -> tuple[list[str], list[str]]:
    """Ids of ``kind`` close to ``text``, best first, and ids of the other kind equal to it.

    Ids that start with ``text`` come first; when there are none, ids that share its first
    characters and that `difflib` finds close to it.
    """
    found = store.read("ids_starting_with", prefix=text, limit=_FETCHED)
    other = [str(r["id"]) for r in found if r["kind"] != kind and r["id"] == text]
    mine = [str(r["id"]) for r in found if r["kind"] == kind and r["id"] != text]
    if not mine and len(text) > _PREFIX:
        rows = store.read("ids_starting_with", prefix=text[:_PREFIX], limit=_FETCHED)
        candidates = [str(r["id"]) for r in rows if r["kind"] == kind]
        mine = difflib.get_close_matches(text, candidates, n=_SHOWN, cutoff=0.6)
    return mine[:_SHOWN], other


def dataset_not_found(
    store: GraphStore, dataset_id: str, *, quantum_option: str | None = None
) -> NotInGraphError:
    """The error for a dataset id the graph does not have, with close ids.

    ``quantum_option``: the command's option that takes a quantum's id instead, if any.
    """
    close, other = close_ids(store, "dataset", dataset_id)
    if other:
        hint = "that is a quantum's id, not a dataset's" + (
            f": start from the quantum with {quantum_option} ID" if quantum_option else ""
        )
    elif close:
        hint = _did_you_mean(close)
    else:
        hint = "'provgraph query' commands print dataset ids (--json); or name it by --type and --data-id"
    return NotInGraphError(f"there is no dataset {dataset_id!r} in the graph", hint=hint)


def check_dataset(store: GraphStore, dataset_id: str, *, quantum_option: str | None = None) -> None:
    """Raise `dataset_not_found`'s error unless the graph has a dataset of this id."""
    if not store.read("dataset_exists", dataset_id=dataset_id)[0]["found"]:
        raise dataset_not_found(store, dataset_id, quantum_option=quantum_option)


def quantum_not_found(store: GraphStore, quantum_id: str) -> NotInGraphError:
    """The error for a quantum id the graph does not have, with close ids."""
    close, other = close_ids(store, "quantum", quantum_id)
    if other:
        hint = "that is a dataset's id, not a quantum's"
    elif close:
        hint = _did_you_mean(close)
    else:
        hint = "'provgraph query' commands print quantum ids (--json)"
    return NotInGraphError(f"there is no quantum {quantum_id!r} in the graph", hint=hint)
