"""The shapes of the explorer's answers, as the OpenAPI document describes them.

Graph answers (search, neighbours, lineage, impact) carry at most `MAX_ELEMENTS` graph
elements, nodes and edges and groups together: `GraphElements` refuses more, so an answer
that would break the bound is a server error, never a page drowned in nodes. Routes keep
within it by the limits their parameters accept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from provenance_graph.api._json import data_id_forms
from provenance_graph.store.explorer import ExplorerNode, NodeGroup

__all__ = [
    "MAX_ELEMENTS",
    "Edge",
    "GraphElements",
    "Group",
    "Node",
    "edge",
    "group",
    "keyed_node",
    "node",
]

#: The most graph elements (nodes, edges and groups) one explorer answer carries.
MAX_ELEMENTS = 500


class Node(BaseModel):
    """A dataset or a quantum."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Literal["dataset", "quantum"]
    name: str = Field(description="The dataset type, or the quantum's task label.")
    data_id: dict[str, int | str] = Field(description="The data ID as a JSON object.")
    data_id_display: str = Field(description="The data ID's human form, e.g. 'visit=2 detector=1'.")
    run: str | None = None
    plan_id: str | None = None
    status: str = Field(description="A quantum's status; 'exists' or 'unknown' for a dataset.")
    level: int | None = Field(
        default=None, description="Lineage and impact: quanta between it and the start."
    )


class Edge(BaseModel):
    """A relationship, always from a quantum to a dataset: PRODUCES or CONSUMES."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The quantum's id.")
    target: str = Field(description="The dataset's id.")
    relationship: Literal["PRODUCES", "CONSUMES"]


class Group(BaseModel):
    """Neighbours of one task label (quanta) or dataset type (datasets), counted instead of listed."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["dataset", "quantum"]
    name: str
    counts: dict[str, int] = Field(description="Nodes per status.")
    total: int


class GraphElements(BaseModel):
    """Nodes, edges and groups: at most `MAX_ELEMENTS` of them together."""

    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    elements: int = Field(default=0, description="Nodes, edges and groups in this answer (at most 500).")

    @model_validator(mode="after")
    def _bounded(self) -> GraphElements:
        self.elements = len(self.nodes) + len(self.edges) + len(self.groups)
        if self.elements > MAX_ELEMENTS:
            raise ValueError(f"{self.elements} graph elements in one answer; at most {MAX_ELEMENTS}")
        return self


def node(found: ExplorerNode, *, level: int | None = None) -> Node:
    """The API's form of an explorer node."""
    return Node(
        id=found.id,
        kind=found.kind,
        name=found.name,
        **data_id_forms(found.data_id),
        run=found.run,
        plan_id=found.plan_id,
        status=found.status,
        level=level,
    )


def edge(quantum: str, dataset: str, relationship: str) -> Edge:
    """The edge between a quantum and a dataset."""
    return Edge(source=quantum, target=dataset, relationship=relationship)


def group(found: NodeGroup) -> Group:
    """The API's form of a group of neighbours."""
    return Group(kind=found.kind, name=found.name, counts=found.counts, total=found.total)


def keyed_node(
    kind: Literal["dataset", "quantum"], node_id: str, name: str, key: str, status: str, **more: Any
) -> Node:
    """A node of an answer that gives data IDs as canonical JSON (lineage, impact)."""
    return Node(id=node_id, kind=kind, name=name, **data_id_forms(key), status=status, **more)
