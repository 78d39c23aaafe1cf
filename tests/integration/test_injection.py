"""Injection (issue 8, item 4): hostile text is data, never Cypher.

Data-ID values may be any text: ones made of quotes, backticks, braces, Cypher keywords and
line breaks are stored, read back and shown verbatim, and no query changes. Names (task
labels, dataset types, dimensions, runs) have a strict grammar: hostile ones are refused with
our own error before anything is written. Labels and relationship types in the database come
only from the schema's fixed allowlist.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance_graph.errors import ProvenanceGraphError
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, read_plan, write_plan
from provenance_graph.store.provenance import downstream, upstream
from provenance_graph.store.status_counts import status_cells, summaries_of
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import run

pytestmark = pytest.mark.reliability

#: Pieces of text that would change a query if they were pasted into one.
HOSTILE = [
    "'", '"', "`", "\\", "{", "}", "(", ")", "[", "]", ";", "//", "/*", "*/", "$x", ":Quantum",
    "' OR 1=1 //", "`) DETACH DELETE n //", "}) MATCH (n) DETACH DELETE n //", "\n", "\r\n", "\t",
    "\u2028", "ünï", "\x00", "MERGE", "CALL db.labels()", "${plan_id}", "%s", "{0}",
]  # fmt: skip
CLI_HOSTILE = ["' OR 1=1 //", "`) DETACH DELETE n //", "}) MATCH (n) DETACH DELETE n //", "$x", "\n;"]
hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3), min_size=1, max_size=6).map("".join)

#: The schema's labels and relationship types (docs/schema.md, version 15); nothing else may appear.
LABELS = {
    "Plan", "Quantum", "Dataset", "DatasetType", "SchemaVersion", "PlanNote", "Execution", "Attempt",
    "Running", "Succeeded", "Failed", "Blocked", "Skipped", "Clustering", "BatchJob", "TaskSummary",
    "StatusCell",
}  # fmt: skip
RELATIONSHIP_TYPES = {
    "PRODUCES", "CONSUMES", "IN_PLAN", "HAS_NOTE", "EXECUTES", "HAS_ATTEMPT", "CLUSTERS", "RUNS",
    "DEPENDS_ON",
}  # fmt: skip
_counter = itertools.count()


def _plan(instrument: str, namespace: str) -> PlanGraph:
    """raw -> calibrate -> calexp, every data ID carrying ``instrument``."""
    n = next(_counter)
    run = f"{namespace}/inj{n}"
    dims = ("instrument", "visit")
    data_id = DataId({"instrument": instrument, "visit": n})
    raw = DatasetRef(
        dataset_type=DatasetType(name="inj_raw", dimensions=dims, storage_class="Image"),
        data_id=data_id,
        run=f"{run}/in",
    )
    calexp = DatasetRef(
        dataset_type=DatasetType(name="inj_calexp", dimensions=dims, storage_class="Image"),
        data_id=data_id,
        run=run,
    )
    quantum = Quantum(task_label="calibrate", data_id=data_id, run=run, inputs=(raw,), outputs=(calexp,))
    return PlanGraph(Plan(id=f"{namespace}-inj{n}", output_run=run, pipeline_digest="injection"), [quantum])


def _census(store: GraphStore) -> tuple[int, int]:
    """Nodes and relationships in the database (dataset types, shared by all plans, left out)."""
    with store.session() as session:
        nodes = session.run("MATCH (n) WHERE NOT n:DatasetType RETURN count(n) AS n").single()["n"]  # type: ignore[index]
        rels = session.run("MATCH ()-[r]->() RETURN count(r) AS n").single()["n"]  # type: ignore[index]
    return nodes, rels


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(instrument=hostile_text)
def test_hostile_data_id_values_are_stored_and_returned_verbatim(
    store: GraphStore, namespace: str, reliability: ReliabilityCounts, instrument: str
) -> None:
    graph = _plan(instrument, namespace)
    before = _census(store)
    write_plan(store, graph)
    try:
        reliability.count("injection: hostile data-ID values tried")
        assert read_plan(store, graph.plan.id) == graph  # verbatim, ids included
        [calexp] = [r for r in graph.datasets.values() if r.dataset_type.name == "inj_calexp"]
        lineage = upstream(store, calexp.id)
        assert {json.loads(d.data_id)["instrument"] for d in lineage.datasets.values()} == {instrument}
        assert len(downstream(store, graph.initial_inputs()[0].id).quanta) == 1
        # The hostile value is a heat-map cell's value too, verbatim.
        assert status_cells(store, graph.plan.id, "instrument") == {"calibrate": {instrument: {"pending": 1}}}
        # The plan added exactly its own nodes and relationships, and nothing else changed.
        quanta, datasets = len(graph), len(graph.datasets)
        counted = sum(len(rows) for rows in summaries_of(graph.plan.id, graph))  # task summaries and cells
        added = (_census(store)[0] - before[0], _census(store)[1] - before[1])
        assert added == (1 + quanta + datasets + counted, graph.edge_count + quanta), added  # + IN_PLAN
    finally:
        delete_plan(store, graph.plan.id)
    # Deleting the plan leaves its pre-existing input (shared by plans) and nothing else.
    assert _census(store) == (before[0] + len(graph.initial_inputs()), before[1])
    reliability.count("injection: queries changed by hostile text", 0)


@given(name=hostile_text)
def test_hostile_names_are_refused_with_our_error(name: str) -> None:
    # Each kind of name, with the punctuation its grammar allows besides letters and digits.
    for make, punctuation in (
        (lambda: DatasetType(name=name, dimensions=("visit",), storage_class="Image"), "_."),
        (lambda: DatasetType(name="ok", dimensions=(name,), storage_class="Image"), "_"),
        (lambda: Quantum(task_label=name, data_id=DataId({"visit": 1}), run="r", inputs=(), outputs=()), "_"),
        (lambda: Quantum(task_label="ok", data_id=DataId({"visit": 1}), run=name, inputs=(), outputs=()),
         "_.+-/@:"),
    ):  # fmt: skip
        try:
            make()
        except ProvenanceGraphError:
            continue
        except Exception as err:  # pragma: no cover - the failure we look for
            raise AssertionError(f"{name!r} raised {type(err).__name__}, not our error: {err}") from err
        # Accepted: then it is a plain name, with no quote, backtick, brace, space or control.
        plain = "".join("a" if c in punctuation else c for c in name)
        assert plain.isalnum() and name.isascii(), name


def test_hostile_text_through_the_cli_is_a_parameter_not_cypher(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, reliability: ReliabilityCounts
) -> None:
    before = _census(store)
    tried = 0
    for text in CLI_HOSTILE:  # a process each: the most query-like pieces
        data_id = json.dumps({"instrument": text, "visit": 1})
        done = run(["query", "lineage", "--type", "inj_raw", "--data-id", data_id], neo4j_settings)
        tried += 1
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "no inj_raw dataset with data ID" in done.stderr
        history = run(["query", "history", json.dumps({"instrument": text}), "--json"], neo4j_settings)
        tried += 1
        assert history.returncode == 0 and json.loads(history.stdout) == [], history.stderr
    reliability.count("injection: hostile CLI arguments tried", tried)
    assert _census(store) == before


def test_labels_and_relationship_types_come_from_the_allowlist(store: GraphStore, namespace: str) -> None:
    graph = _plan("`Evil`:Label {x: 1})-[:HACK]->(", namespace)
    write_plan(store, graph)
    try:
        with store.session() as session:
            labels = {r["label"] for r in session.run("CALL db.labels() YIELD label RETURN label")}
            types = {
                r["t"]
                for r in session.run("CALL db.relationshipTypes() YIELD relationshipType AS t RETURN t")
            }
        assert labels <= LABELS, labels - LABELS
        assert types <= RELATIONSHIP_TYPES, types - RELATIONSHIP_TYPES
    finally:
        delete_plan(store, graph.plan.id)
