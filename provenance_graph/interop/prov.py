"""Plans and their execution as W3C PROV documents (PROV-JSON, PROV-N, PROV-O), through the `prov` package.

The mapping:

- a dataset is a ``prov:Entity`` ``pg:dataset-<id>`` (dataset type, data ID, run, URI,
  checksum as attributes);
- a quantum is a ``prov:Activity`` ``pg:quantum-<id>`` (task label, data ID, plan,
  status), with the start and end of its last attempt when it ran;
- ``CONSUMES`` is ``used(quantum, dataset)``; ``PRODUCES`` is
  ``wasGeneratedBy(dataset, quantum)``;
- the plan is a ``prov:Plan`` entity, and each quantum ``wasAssociatedWith`` the
  agent ``pg:provenance-graph`` following it.

``pg:`` is `NAMESPACE`, ``https://w3id.org/provenance-graph/ns#``: a permanent-identifier
URI (w3id.org) of the project, stable whatever host serves its documentation. PROV-O is
written as RDF Turtle (``prov``'s RDF serializer, through rdflib).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import prov.model as pm

from provenance_graph.model import PlanGraph

__all__ = ["NAMESPACE", "PROV_FORMATS", "ProvFormat", "plan_to_prov", "serialize_prov"]

#: The namespace of our identifiers and attributes (docs/queries.md, "W3C PROV").
NAMESPACE = "https://w3id.org/provenance-graph/ns#"
#: PROV-JSON, PROV-N, PROV-O (RDF as Turtle).
PROV_FORMATS = ("json", "provn", "turtle")
ProvFormat = Literal["json", "provn", "turtle"]


def plan_to_prov(
    graph: PlanGraph,
    statuses: Mapping[str, str] | None = None,
    attempts: Mapping[str, Mapping[str, Any]] | None = None,
    facts: Mapping[str, Mapping[str, Any]] | None = None,
) -> pm.ProvDocument:
    """A PROV document of a plan (or a subgraph of one).

    Parameters
    ----------
    graph
        The plan.
    statuses
        Quantum status by quantum id (from the graph), if known.
    attempts
        The last attempt of each quantum that ran, by quantum id: ``started``,
        ``ended`` (datetimes), ``host``, ``pid``.
    facts
        What is known of each dataset, by dataset id: ``uri``, ``checksum``, ``size``.
    """
    doc = pm.ProvDocument()
    pg = doc.add_namespace("pg", NAMESPACE)
    agent = doc.agent(pg["provenance-graph"], {pm.PROV_TYPE: pm.PROV["SoftwareAgent"]})
    plan = doc.entity(
        pg[f"plan-{graph.plan.id}"],
        {pm.PROV_TYPE: pm.PROV["Plan"], pg["output_run"]: graph.plan.output_run},
    )
    entities = {}
    for ref in graph.datasets.values():
        attributes: dict[Any, Any] = {
            pg["dataset_type"]: ref.dataset_type.name,
            pg["data_id"]: ref.data_id.key(),
            pg["run"]: ref.run,
        }
        known = (facts or {}).get(ref.id, {})
        if known.get("uri"):
            attributes[pm.PROV_LOCATION] = known["uri"]
        if known.get("checksum"):
            attributes[pg["checksum"]] = known["checksum"]
        entities[ref.id] = doc.entity(pg[f"dataset-{ref.id}"], attributes)
    for quantum in graph.quanta.values():
        last = (attempts or {}).get(quantum.id, {})
        activity = doc.activity(
            pg[f"quantum-{quantum.id}"],
            _time(last.get("started")),
            _time(last.get("ended")),
            {
                pg["task"]: quantum.task_label,
                pg["data_id"]: quantum.data_id.key(),
                pg["plan"]: graph.plan.id,
                pg["status"]: (statuses or {}).get(quantum.id, "pending"),
            },
        )
        doc.wasAssociatedWith(activity, agent, plan)
        for ref in quantum.inputs:
            doc.used(activity, entities[ref.id])
        for ref in quantum.outputs:
            doc.wasGeneratedBy(entities[ref.id], activity)
    return doc


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    to_native = getattr(value, "to_native", None)  # neo4j.time.DateTime
    return to_native() if callable(to_native) else None


def serialize_prov(doc: pm.ProvDocument, fmt: ProvFormat) -> str:
    """PROV-JSON, PROV-N or PROV-O (Turtle) text."""
    if fmt == "provn":
        return str(doc.get_provn())
    if fmt == "turtle":
        return str(doc.serialize(format="rdf", rdf_format="turtle"))
    return str(doc.serialize(format="json", indent=1))
