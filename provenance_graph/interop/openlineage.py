"""Quantum attempts as OpenLineage run events, through the ``openlineage-python`` client's own classes.

The mapping:

- a task of a plan is a job: namespace `job_namespace` (``provgraph:<plan id>``), name the
  task label;
- each attempt of a quantum is a run of that job, with a stable UUID made from the plan,
  quantum and attempt number (`run_id`), so exporting twice gives the same runs;
- an attempt gives a ``START`` event at its start and, when it ended, a ``COMPLETE``
  (succeeded) or ``FAIL`` (any other ending, with an ``errorMessage`` run facet holding the
  attempt's error) event at its end;
- the quantum's inputs and, on ``COMPLETE``, its outputs are datasets: namespace the
  repository they belong to (`dataset_namespace`), name ``<run>/<dataset type>/<data ID>``
  with the human data ID (``data_id_display``);
- the execution an attempt belongs to is its ``parent`` run (job: the plan's output run).

This module never sees the database: `provenance_graph.export.openlineage_events` gives
it a plan and its attempts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, error_message_run, parent_run
from openlineage.client.serde import Serde

from provenance_graph.model import DatasetRef, PlanGraph

__all__ = [
    "PRODUCER",
    "attempt_events",
    "dataset_name",
    "dataset_namespace",
    "job_namespace",
    "run_id",
    "serialize_events",
]

#: Who made the events (OpenLineage's ``producer``): the project's home.
PRODUCER = "https://w3id.org/provenance-graph"
#: The namespace of the UUIDs of runs (attempts and executions).
_RUN_UUIDS = uuid.UUID("0b0f3a1e-3c6d-5b8e-9a51-7e3f2c4d6a10")
#: The namespace of datasets of a plan that records no repository.
_NO_REPOSITORY = "provgraph:unknown-repository"


def job_namespace(plan_id: str) -> str:
    """The namespace of a plan's jobs (its tasks)."""
    return f"provgraph:{plan_id}"


def run_id(*parts: object) -> str:
    """A stable run UUID made from ``parts`` (plan id, quantum id, attempt number; or an execution id)."""
    return str(uuid.uuid5(_RUN_UUIDS, "/".join(str(p) for p in parts)))


def dataset_namespace(ref: DatasetRef, plan_repository: str | None) -> str:
    """The dataset's repository URI (its own, else the plan's)."""
    return ref.repository or plan_repository or _NO_REPOSITORY


def dataset_name(ref: DatasetRef) -> str:
    """``<run>/<dataset type>/<human data ID>``, e.g. ``demo/run/calexp/visit=1 detector=1``."""
    return f"{ref.run}/{ref.dataset_type.name}/{ref.data_id.display()}"


def attempt_events(graph: PlanGraph, attempts: Sequence[Mapping[str, Any]]) -> Iterator[RunEvent]:
    """The START and, when it ended, COMPLETE or FAIL event of each attempt, oldest attempt first.

    Parameters
    ----------
    graph
        The plan.
    attempts
        Its attempts as ``execution_attempts`` rows (``quantum_id``, ``number``, ``status``,
        ``execution_id``, ``started``, ``ended``, ``error``, ``infrastructure``); those of quanta
        not in ``graph`` are left out.
    """
    plan = graph.plan
    jobs = job_namespace(plan.id)
    for attempt in attempts:
        quantum = graph.quanta.get(attempt["quantum_id"])
        started = _time(attempt.get("started"))
        if quantum is None or started is None:
            continue
        facets: dict[str, RunFacet] = {}
        if attempt.get("execution_id"):
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=run_id(plan.id, attempt["execution_id"])),
                job=parent_run.Job(namespace=jobs, name=plan.output_run),
            )
        job = Job(namespace=jobs, name=quantum.task_label)
        inputs = [
            InputDataset(namespace=dataset_namespace(r, plan.repository), name=dataset_name(r))
            for r in quantum.inputs
        ]
        this_run = run_id(plan.id, quantum.id, attempt["number"])
        yield RunEvent(
            eventType=RunState.START,
            eventTime=started.isoformat(),
            producer=PRODUCER,
            run=Run(runId=this_run, facets=dict(facets)),
            job=job,
            inputs=inputs,
            outputs=[],
        )
        ended = _time(attempt.get("ended"))
        if ended is None:
            continue  # still running, or lost without an end
        outputs: list[OutputDataset] = []
        if attempt.get("status") == "succeeded":
            state = RunState.COMPLETE
            outputs = [
                OutputDataset(namespace=dataset_namespace(r, plan.repository), name=dataset_name(r))
                for r in quantum.outputs
            ]
        else:
            state = RunState.FAIL
            message = attempt.get("error") or attempt.get("infrastructure") or str(attempt.get("status"))
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=message, programmingLanguage="python", producer=PRODUCER
            )
        yield RunEvent(
            eventType=state,
            eventTime=ended.isoformat(),
            producer=PRODUCER,
            run=Run(runId=this_run, facets=facets),
            job=job,
            inputs=inputs,
            outputs=outputs,
        )


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        found = value
    else:
        to_native = getattr(value, "to_native", None)  # neo4j.time.DateTime
        if not callable(to_native):
            return None
        found = to_native()
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def serialize_events(events: Iterator[RunEvent]) -> Iterator[str]:
    """Each event as one line of JSON, by the client's own serializer."""
    for event in events:
        yield Serde.to_json(event)
