"""Stale outputs: what a changed config, changed code or a newer input would make differently.

Each execution of a plan of our own records, per task, the digest of its config and of
its module's source (`provenance_graph.pipeline.task_versions`). An output is **stale**
when the execution that made it recorded, for its task, a config or a source digest other
than the current one; when one of the inputs it was made from was made after it (a newer
version of that input); or when it was made from a stale output (downstream of one,
however far). Outputs of executions that recorded no versions (before schema v12) are
never stale for config or code: that is unknown, and said.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from provenance_graph.model import DataId
from provenance_graph.store.connection import GraphStore

__all__ = ["StaleOutput", "Staleness", "stale_outputs"]

#: The task-version fields whose change makes outputs stale, and how a reason names them.
COMPARED = {"config": "config", "source": "code"}


@dataclass(frozen=True)
class StaleOutput:
    """One stale output, and why."""

    dataset_id: str
    dataset_type: str
    data_id: str
    """Canonical JSON."""
    task: str
    """The task that made it."""
    reasons: tuple[str, ...]
    """``config of calibrate changed``, ``code of isr changed``, ``input calexp (...) is newer``,
    ``made from stale postISRCCD (...)``: its own reasons first, then the first stale input."""


@dataclass(frozen=True)
class Staleness:
    """A plan's stale outputs, and how many outputs had no recorded versions."""

    stale: list[StaleOutput]
    unknown: int
    """Outputs whose execution recorded no task versions (made before schema v12)."""
    outputs: int
    """Outputs the plan has made (that exist)."""


def stale_outputs(store: GraphStore, plan_id: str, current: Mapping[str, Mapping[str, str]]) -> Staleness:
    """The outputs of ``plan_id`` that are stale against ``current`` task versions (by label)."""
    made = store.read("stale_outputs_made", plan_id=plan_id)
    reads = store.read("stale_inputs_read", plan_id=plan_id)
    recorded = {
        row["id"]: json.loads(row["tasks_json"])
        for row in store.read("stale_execution_versions", plan_id=plan_id)
        if row["tasks_json"]
    }
    by_id = {row["id"]: row for row in made}
    outputs_of: dict[str, list[str]] = defaultdict(list)
    for row in made:
        outputs_of[row["quantum_id"]].append(row["id"])
    inputs_of: dict[str, list[dict[str, object]]] = defaultdict(list)
    readers: dict[str, list[str]] = defaultdict(list)
    for row in reads:
        inputs_of[row["quantum_id"]].append(row)
        readers[row["dataset_id"]].append(row["quantum_id"])
    reasons: dict[str, list[str]] = {}
    unknown = 0
    for row in made:
        versions = recorded.get(row["execution_id"], {}).get(row["task"])
        own: list[str] = []
        if versions is None:
            unknown += 1
        else:
            now = current.get(row["task"], {})
            own += [
                f"{what} of {row['task']} changed"
                for field, what in COMPARED.items()
                if versions.get(field) != now.get(field)
            ]
        for read in inputs_of[row["quantum_id"]]:
            if (
                read["created"] is not None
                and row["created"] is not None
                and read["created"] > row["created"]
            ):
                newer = by_id.get(str(read["dataset_id"]))
                own.append(f"input {_name(newer) if newer else read['dataset_id']} is newer")
        if own:
            reasons[row["id"]] = own
    # Downstream: whatever was made from a stale output, however far.
    frontier = list(reasons)
    while frontier:
        dataset_id = frontier.pop()
        for quantum_id in readers.get(dataset_id, ()):
            for output in outputs_of[quantum_id]:
                if output not in reasons:
                    reasons[output] = [f"made from stale {_name(by_id[dataset_id])}"]
                    frontier.append(output)
    stale = [
        StaleOutput(row["id"], row["dataset_type"], row["data_id"], row["task"], tuple(reasons[row["id"]]))
        for row in made
        if row["id"] in reasons
    ]
    return Staleness(stale, unknown, len(made))


def _name(row: Mapping[str, object]) -> str:
    return f"{row['dataset_type']} ({DataId.from_key(str(row['data_id']))})"
