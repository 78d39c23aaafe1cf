"""Schema migrations against the real Neo4j: older databases with plans in them, crashes, races.

Neo4j Community has one user database, shared with the rest of the suite, so an
older database is made by downgrading that one (`database_at`): the rules of the
later steps are dropped, this test's own quanta lose what the later steps add, and
the recorded version is lowered. Whatever happens, the schema is restored afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from provenance_graph.errors import SchemaVersionError
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.queries import queries
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import (
    SCHEMA_VERSION,
    GraphStore,
    ensure_schema,
    migrate,
    open_store,
    pending_upgrade,
    read_plan,
    schema_version,
    write_plan,
)
from provenance_graph.store.migrations import STEPS, Step, apply_step
from provenance_graph.store.plan_questions import plan_diff
from provenance_graph.store.status_counts import differences, status_cells, summaries_of, task_summaries
from tests.integration.test_cli import run
from tests.integration.test_plan_store import small_plan
from tests.integration.test_run import STATUS_LABELS, assert_status_labels_mirror_status
from tests.support.graph_checks import rows

STATUSES = [*STATUS_LABELS, None]  # None: pending, no label
STATUS_LABELS_VERSION = 5
BUTLER_IDENTITY_VERSION = 7
DATA_ID_DISPLAY_VERSION = 9
ATTEMPT_JOURNALS_VERSION = 10
LOST_ATTEMPTS_VERSION = 11
EXECUTION_VERSIONS_VERSION = 12
INPUT_CHECKSUMS_VERSION = 13
STATUS_COUNTS_VERSION = 14
SIGNATURES_VERSION = 15

#: Gives a quantum the status label $label (a label cannot be a parameter in Cypher 5).
SET_STATUS_LABEL = "MATCH (q:Quantum {id: $id}) " + " ".join(
    f"FOREACH (_ IN CASE $label WHEN '{label}' THEN [1] ELSE [] END | SET q:{label})"
    for label in ("Running", "Succeeded", "Failed", "Blocked", "Skipped")
)


def rules_of(step: Step) -> list[tuple[str, str]]:
    """The (CONSTRAINT or INDEX, name) pairs a step creates."""
    found = []
    for name in step.queries:
        match = re.match(r"CREATE (CONSTRAINT|INDEX) (\w+) IF NOT EXISTS", queries()[name].text)
        if match:
            found.append((match[1], match[2]))
    return found


def schema_rules(store: GraphStore) -> dict[str, tuple[Any, ...]]:
    """Every index and constraint by name, with its id: re-creating one changes its id."""
    indexes = rows(store, "SHOW INDEXES YIELD name, id, state, labelsOrTypes, properties")
    constraints = rows(store, "SHOW CONSTRAINTS YIELD name, id, type, labelsOrTypes, properties")
    return {r["name"]: tuple(r.values()) for r in [*indexes, *constraints]}


def status_labels(store: GraphStore, plan_id: str) -> dict[str, list[str]]:
    """Each quantum of a plan by id, with its status labels."""
    found = rows(
        store,
        "MATCH (q:Quantum {plan_id: $plan_id}) "
        "RETURN q.id AS id, [l IN labels(q) WHERE l IN $names] AS labels",
        plan_id=plan_id,
        names=list(STATUS_LABELS.values()),
    )
    return {r["id"]: sorted(r["labels"]) for r in found}


def stored_plan_with_statuses(store: GraphStore, namespace: str) -> str:
    """Store a small plan whose quanta have every status, labelled as the current schema labels them."""
    graph = small_plan(namespace)
    write_plan(store, graph)
    plan_id = graph.plan.id
    quantum_ids = sorted(status_labels(store, plan_id))
    for i, quantum_id in enumerate(quantum_ids):
        status = STATUSES[i % len(STATUSES)]
        rows(store, "MATCH (q:Quantum {id: $id}) SET q.status = $status", id=quantum_id, status=status)
        if status is not None:
            rows(store, SET_STATUS_LABEL, id=quantum_id, label=STATUS_LABELS[status])
    return plan_id


def strip_status_labels(store: GraphStore, plan_id: str) -> None:
    remove = "MATCH (q:Quantum {plan_id: $plan_id}) REMOVE q:Running:Succeeded:Failed:Blocked:Skipped"
    rows(store, remove, plan_id=plan_id)


def strip_data_id_display(store: GraphStore, plan_id: str) -> None:
    """Remove ``data_id_display`` from a plan's quanta and the datasets they touch, as v8 wrote them."""
    rows(
        store,
        "MATCH (q:Quantum {plan_id: $plan_id}) OPTIONAL MATCH (q)--(d:Dataset) "
        "REMOVE q.data_id_display, d.data_id_display",
        plan_id=plan_id,
    )


def strip_status_counts(store: GraphStore, plan_id: str) -> None:
    """Delete a plan's task summaries and status cells, which v13 did not write."""
    rows(store, "MATCH (n:TaskSummary|StatusCell {plan_id: $plan_id}) DETACH DELETE n", plan_id=plan_id)


def strip_signatures(store: GraphStore, plan_id: str) -> None:
    """Remove a plan's quantum and task signatures, which v14 did not write."""
    rows(
        store,
        "MATCH (n:Quantum|TaskSummary {plan_id: $plan_id}) WHERE n.signature IS NOT NULL REMOVE n.signature",
        plan_id=plan_id,
    )


def signatures_of(store: GraphStore, plan_id: str) -> dict[str, str | None]:
    """A plan's task signatures, by task."""
    found = rows(store, "MATCH (s:TaskSummary {plan_id: $p}) RETURN s.task AS t, s.signature AS s", p=plan_id)
    return {r["t"]: r["s"] for r in found}


def data_id_displays(store: GraphStore, plan_id: str) -> dict[str, str | None]:
    """Each quantum of a plan, and each dataset it touches, by id, with its ``data_id_display``."""
    found = rows(
        store,
        "MATCH (q:Quantum {plan_id: $plan_id}) OPTIONAL MATCH (q)--(d:Dataset) "
        "WITH collect(q) + collect(d) AS nodes UNWIND nodes AS n "
        "RETURN DISTINCT n.id AS id, n.data_id_display AS display",
        plan_id=plan_id,
    )
    return {r["id"]: r["display"] for r in found}


#: Data IDs whose human form the v9 step must compute as `DataId.display` does: quoting,
#: escapes, a value holding another key's JSON, a dimension whose name starts another's,
#: dimensions of other universes, and data IDs of context dimensions only, or of none.
AWKWARD_DATA_IDS = [
    {"instrument": "DemoCam", "visit": 2, "detector": 1},
    {"instrument": "DemoCam", "skymap": "demo", "tract": 0, "patch": 5, "visit": 2},
    {"skymap": "demo", "tract": 0, "patch": 5, "band": "g"},
    {"instrument": "HSC", "physical_filter": "HSC-R", "day_obs": 20240301, "visit_system": 1, "visit": -3},
    {"instrument": 'a","visit":9', "visit": 2},
    {"instrument": "My Cam", "band": "2", "exposure": 2**63 - 1},
    {"instrument": 'tab\there \\ "quoted" \u0001 caf\u00e9 \u2028', "detector": 0},
    {"instrument": "", "detector": 7},
    {"instrument": "DemoCam"},
    {"skymap": "demo", "instrument": "DemoCam"},
    {},
]


def awkward_plan(namespace: str) -> PlanGraph:
    """One quantum per awkward data ID, writing one dataset at it."""
    run = f"{namespace}/awkward"
    quanta = []
    for i, values in enumerate(AWKWARD_DATA_IDS):
        data_id = DataId(values)
        kind = DatasetType(name=f"awkward{i}", dimensions=data_id.dimensions)
        out = DatasetRef(dataset_type=kind, data_id=data_id, run=run)
        quanta.append(Quantum(task_label=f"task{i}", data_id=data_id, run=run, outputs=[out]))
    return PlanGraph(Plan(id=f"{namespace}-awkward", output_run=run), quanta)


@contextlib.contextmanager
def database_at(store: GraphStore, version: int, plan_id: str) -> Iterator[None]:
    """The shared database made to look like schema ``version``, with ``plan_id`` in it.

    The rules of later steps are dropped and, below version 5, ``plan_id``'s quanta lose
    their status labels (below 9, their human data IDs; below 14, the plan its status counts). Other tests' plans are not touched. Afterwards the recorded
    version is set back to ``version`` and every later step is applied again, so the
    database is whole whatever the test did.
    """
    try:
        for step in STEPS[version:]:
            for kind, name in rules_of(step):
                rows(store, f"DROP {kind} $name IF EXISTS", name=name)
        if version < STATUS_LABELS_VERSION:
            strip_status_labels(store, plan_id)
        if version < DATA_ID_DISPLAY_VERSION:
            strip_data_id_display(store, plan_id)
        if version < STATUS_COUNTS_VERSION:
            strip_status_counts(store, plan_id)
        store.write("schema_version_set", version=version, writer="tests: an older provenance-graph")
        yield
    finally:
        store.write("schema_version_set", version=version, writer="tests: restoring")
        ensure_schema(store)


def dropped_rule_names() -> set[str]:
    """Rules a later step replaces (``DROP ... IF EXISTS``)."""
    found = set()
    for step in STEPS:
        for name in step.queries:
            match = re.match(r"DROP (CONSTRAINT|INDEX) (\w+) IF EXISTS", queries()[name].text)
            if match:
                found.add(match[2])
    return found


def all_rule_names() -> set[str]:
    return {name for step in STEPS for _, name in rules_of(step)} - dropped_rule_names()


def later_rule_names(version: int) -> set[str]:
    return {name for step in STEPS[version:] for _, name in rules_of(step)}


@pytest.mark.parametrize("version", [4, 5])
def test_a_database_of_an_older_version_with_plans_is_migrated_on_connect(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings, version: int
) -> None:
    plan_id = stored_plan_with_statuses(store, namespace)
    labelled = status_labels(store, plan_id)
    assert {tuple(v) for v in labelled.values()} == {(label,) for label in STATUS_LABELS.values()} | {()}
    with database_at(store, version, plan_id):
        assert schema_version(store) == version
        assert not later_rule_names(version) & set(schema_rules(store))
        said: list[str] = []
        with open_store(neo4j_settings, start_managed=False, say=said.append) as connected:
            assert schema_version(connected) == SCHEMA_VERSION
        assert said == [f"Upgrading the graph schema from version {version} to {SCHEMA_VERSION} ..."]
        assert all_rule_names() <= set(schema_rules(store))
        assert status_labels(store, plan_id) == labelled
        assert_status_labels_mirror_status(store, plan_id)
        graph = read_plan(store, plan_id)
        assert graph.digest() == small_plan(namespace).digest()


def test_a_step_rerun_after_a_crash_part_way_finishes_it_and_a_further_rerun_changes_nothing(
    store: GraphStore, namespace: str
) -> None:
    plan_id = stored_plan_with_statuses(store, namespace)
    labelled = status_labels(store, plan_id)
    labels_step, batch_step = STEPS[4], STEPS[5]
    with database_at(store, 4, plan_id):
        # As left by a crash: v5 labelled the succeeded quanta, then v6 made two of its four rules.
        rows(store, "MATCH (q:Quantum {plan_id: $p, status: 'succeeded'}) SET q:Succeeded", p=plan_id)
        for name in batch_step.queries[:2]:
            store.autocommit(name)
        assert schema_version(store) == 4
        upgrade = pending_upgrade(store)
        assert [s.version for s in upgrade.steps] == list(range(5, SCHEMA_VERSION + 1))
        results = migrate(store, upgrade)
        left = [labels for labels in labelled.values() if labels and labels != ["Succeeded"]]
        assert results[0].counts == {"quanta_labelled": len(left)}
        assert status_labels(store, plan_id) == labelled
        assert schema_version(store) == SCHEMA_VERSION
        before = schema_rules(store)
        assert all_rule_names() <= set(before)
        # Each step again, as a client that read the old version before the others finished.
        assert apply_step(store, labels_step).counts == {"quanta_labelled": 0}
        assert apply_step(store, batch_step).counts == {}
        assert schema_rules(store) == before
        assert status_labels(store, plan_id) == labelled
        assert schema_version(store) == SCHEMA_VERSION  # the earlier step did not lower it


def test_a_version_6_database_gets_the_butlers_identity_and_keeps_its_ids(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    graph = small_plan(namespace)
    header = {**graph.plan.model_dump(), "metadata": {**graph.plan.metadata, "repository": "/data/repo-1"}}
    graph = PlanGraph(Plan.model_validate({**header, "repository": None}), graph.quanta.values())
    write_plan(store, graph)
    plan_id = graph.plan.id
    names = sorted(graph.dataset_types)
    with database_at(store, 6, plan_id):
        # As version 6 stored it: no plan repository, dataset types without keys.
        rows(store, "MATCH (p:Plan {id: $id}) REMOVE p.repository", id=plan_id)
        rows(
            store,
            "MATCH (t:DatasetType) WHERE t.name IN $names AND t.repository IS NULL REMOVE t.key",
            names=names,
        )
        said: list[str] = []
        with open_store(neo4j_settings, start_managed=False, say=said.append) as connected:
            assert schema_version(connected) == SCHEMA_VERSION >= BUTLER_IDENTITY_VERSION
        assert said == [f"Upgrading the graph schema from version 6 to {SCHEMA_VERSION} ..."]
        rules = schema_rules(store)
        assert {"dataset_type_key", "plan_repository", "quantum_butler_id", "dataset_butler_id"} <= set(rules)
        assert "dataset_type_name" not in rules
        [plan] = rows(store, "MATCH (p:Plan {id: $id}) RETURN p.repository AS repository", id=plan_id)
        assert plan["repository"] == "file:///data/repo-1/"
        keys = rows(
            store,
            "MATCH (t:DatasetType) WHERE t.name IN $names AND t.repository IS NULL RETURN t.key AS key",
            names=names,
        )
        assert sorted(r["key"] for r in keys) == names
        back = read_plan(store, plan_id)
        assert back.plan.repository == "file:///data/repo-1/"
        assert set(back.quanta) == set(graph.quanta) and set(back.datasets) == set(graph.datasets)
        assert back.digest() == graph.digest()
        assert write_plan(store, graph).outcome == "unchanged"


def test_a_version_8_database_gets_the_human_form_of_every_data_id_on_connect(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    graph = awkward_plan(namespace)
    write_plan(store, graph)
    plan_id = graph.plan.id
    want = {q.id: q.data_id.display() for q in graph.quanta.values()}
    want |= {d.id: d.data_id.display() for d in graph.datasets.values()}
    assert want[graph.quanta[next(iter(graph.quanta))].id] == "visit=2 detector=1"
    assert data_id_displays(store, plan_id) == want  # written with the nodes
    with database_at(store, DATA_ID_DISPLAY_VERSION - 1, plan_id):
        assert set(data_id_displays(store, plan_id).values()) == {None}
        said: list[str] = []
        with open_store(neo4j_settings, start_managed=False, say=said.append) as connected:
            assert schema_version(connected) == SCHEMA_VERSION
        assert said == [f"Upgrading the graph schema from version 8 to {SCHEMA_VERSION} ..."]
        assert data_id_displays(store, plan_id) == want
        # A rerun (after a crash, or by a second client) finds nothing left to do.
        assert apply_step(store, STEPS[DATA_ID_DISPLAY_VERSION - 1]).counts == {
            "nodes_given_data_id_display": 0
        }


def test_a_version_13_database_has_its_plans_counted_by_status_on_connect(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    plan_id = stored_plan_with_statuses(store, namespace)  # statuses set by hand: counts stale
    awkward = awkward_plan(namespace)
    write_plan(store, awkward)
    strip_status_counts(store, awkward.plan.id)
    statuses = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN q.task AS task, coalesce(q.status, 'pending') AS s, count(*) AS n",
        p=plan_id,
    )
    want: dict[str, dict[str, int]] = {}
    for r in statuses:
        want.setdefault(r["task"], {})[r["s"]] = r["n"]
    assert len({s for counts in want.values() for s in counts}) == 6, "the plan lacks some status"
    with database_at(store, STATUS_COUNTS_VERSION - 1, plan_id):
        assert task_summaries(store, plan_id) == []
        said: list[str] = []
        with open_store(neo4j_settings, start_managed=False, say=said.append) as connected:
            assert schema_version(connected) == SCHEMA_VERSION
        assert said == [f"Upgrading the graph schema from version 13 to {SCHEMA_VERSION} ..."]
        assert {s.task: s.counts for s in task_summaries(store, plan_id)} == want
        assert differences(store, plan_id) == []
        # The server found the same dimensions and values in awkward data IDs as Python does.
        summaries, cells = summaries_of(awkward.plan.id, awkward)
        assert {
            s.task: (s.reads, s.writes, s.example.key(), s.quanta)
            for s in task_summaries(store, awkward.plan.id)
        } == {t["task"]: (t["reads"], t["writes"], t["example"], t["quanta"]) for t in summaries}
        for dimension in {c["dimension"] for c in cells}:
            assert status_cells(store, awkward.plan.id, dimension) == {
                c["task"]: {c["value"]: {"pending": c["pending"]}}
                for c in cells
                if c["dimension"] == dimension
            }
        assert differences(store, awkward.plan.id) == []
        # A rerun (after a crash, or by a second client) finds nothing left to count.
        assert apply_step(store, STEPS[STATUS_COUNTS_VERSION - 1]).counts == {"plans_counted": 0}


def test_a_version_14_database_keeps_its_plans_and_query_diff_reads_their_edges(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    old = small_plan(namespace, "old", visits=2)
    again = small_plan(namespace, "again", visits=2)  # the same quanta, in another output run
    new = small_plan(namespace, "new", visits=3)
    for graph in (old, again, new):
        write_plan(store, graph)
    assert signatures_of(store, old.plan.id) == signatures_of(store, again.plan.id)
    assert signatures_of(store, old.plan.id) != signatures_of(store, new.plan.id)
    signed = plan_diff(store, old.plan.id, new.plan.id)
    assert signed.added and signed.changed  # the third visit's quanta; the coadds that read them
    assert plan_diff(store, old.plan.id, again.plan.id).same
    strip_signatures(store, old.plan.id)
    with database_at(store, SIGNATURES_VERSION - 1, old.plan.id):
        said: list[str] = []
        with open_store(neo4j_settings, start_managed=False, say=said.append) as connected:
            assert schema_version(connected) == SCHEMA_VERSION
        assert said == [f"Upgrading the graph schema from version 14 to {SCHEMA_VERSION} ..."]
        assert set(signatures_of(store, old.plan.id).values()) == {None}, "the step changes nothing"
        # Without signatures on one side, every pair is compared by its edges: the same answers.
        assert plan_diff(store, old.plan.id, new.plan.id) == signed
        assert plan_diff(store, old.plan.id, again.plan.id).same
        back = plan_diff(store, new.plan.id, old.plan.id)
        assert (back.added, back.removed) == (signed.removed, signed.added)
        assert read_plan(store, old.plan.id).digest() == old.digest()


def test_clients_connecting_at_once_to_an_older_database_all_migrate_it(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    plan_id = stored_plan_with_statuses(store, namespace)
    labelled = status_labels(store, plan_id)
    clients = 6
    start = threading.Barrier(clients)
    versions: list[int] = []
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            with GraphStore(neo4j_settings) as client:
                start.wait(timeout=60)
                versions.append(ensure_schema(client))
        except BaseException as err:
            errors.append(err)

    with database_at(store, 3, plan_id):
        threads = [threading.Thread(target=connect) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert errors == []
        assert versions == [SCHEMA_VERSION] * clients
        assert schema_version(store) == SCHEMA_VERSION
        assert all_rule_names() <= set(schema_rules(store))
        assert status_labels(store, plan_id) == labelled


def test_a_heavy_step_is_refused_on_connect_and_applied_by_migrate(store: GraphStore, namespace: str) -> None:
    plan_id = stored_plan_with_statuses(store, namespace)  # statuses set by hand: v14 counts them
    heavy = dataclasses.replace(STEPS[STATUS_COUNTS_VERSION - 1], heavy=True)
    steps = (*STEPS[: STATUS_COUNTS_VERSION - 1], heavy, *STEPS[STATUS_COUNTS_VERSION:])
    before = STATUS_COUNTS_VERSION - 1
    with database_at(store, before, plan_id):
        with pytest.raises(SchemaVersionError) as refused:
            ensure_schema(store, steps=steps)
        message = refused.value.message
        assert "\n" not in message
        assert f"holds graph schema version {before}; provenance-graph" in message
        assert f"needs version {SCHEMA_VERSION}" in message and heavy.label in message
        assert "provgraph migrate" in (refused.value.hint or "")
        assert schema_version(store) == before  # refused before changing anything
        assert not later_rule_names(before) & set(schema_rules(store))
        results = migrate(store, pending_upgrade(store, steps))
        assert [r.step.version for r in results] == list(range(STATUS_COUNTS_VERSION, SCHEMA_VERSION + 1))
        assert schema_version(store) == SCHEMA_VERSION
        assert all_rule_names() <= set(schema_rules(store))


@pytest.mark.slow
def test_provgraph_migrate_lists_applies_and_resumes_after_kill_9(
    store: GraphStore, namespace: str, neo4j_settings: ConnectionSettings
) -> None:
    plan_id = stored_plan_with_statuses(store, namespace)
    labelled = status_labels(store, plan_id)
    with database_at(store, 4, plan_id):
        dry = run(["migrate", "--dry-run"], neo4j_settings)
        assert dry.returncode == 0, dry.stderr
        assert "holds graph schema version 4; provenance-graph" in dry.stdout
        assert f"uses version {SCHEMA_VERSION}" in dry.stdout
        assert f"Steps to apply ({SCHEMA_VERSION - 4}):" in dry.stdout
        assert "  v5 status_labels: a quantum's status is mirrored by a label" in dry.stdout
        assert "  v6 batch_jobs: batch jobs, :Clustering and :BatchJob nodes" in dry.stdout
        assert "  v7 butler_identity: the Butler's identity" in dry.stdout
        assert "  v8 note_causes: pre-flight notes tell root causes" in dry.stdout
        assert "  v9 data_id_display: quanta and datasets carry their data ID's human form" in dry.stdout
        assert "Dry run: nothing changed." in dry.stdout
        assert schema_version(store) == 4
        assert not any(status_labels(store, plan_id).values())

        # Killed after step 5 and the first query of step 6.
        killed = run(["migrate"], neo4j_settings, PROVGRAPH_CRASH_AT="migration.query:2")
        assert killed.returncode == -9, killed.stderr
        assert schema_version(store) == 5
        assert status_labels(store, plan_id) == labelled
        assert "clustering_id" in schema_rules(store)
        assert "batch_job_id" not in schema_rules(store)

        done = run(["migrate"], neo4j_settings)
        assert done.returncode == 0, done.stderr
        assert "holds graph schema version 5;" in done.stdout
        assert "Applying v5" not in done.stdout
        assert "Applying v6 batch_jobs ..." in done.stdout
        assert f"schema version {SCHEMA_VERSION} recorded" in done.stdout
        assert done.stdout.rstrip().endswith(f"The database is at graph schema version {SCHEMA_VERSION}.")
        assert schema_version(store) == SCHEMA_VERSION
        assert all_rule_names() <= set(schema_rules(store))

        again = run(["migrate"], neo4j_settings)
        assert again.returncode == 0, again.stderr
        assert "Nothing to do." in again.stdout


def test_provgraph_migrate_refuses_a_newer_database_in_one_line(
    store: GraphStore, neo4j_settings: ConnectionSettings
) -> None:
    store.write("schema_version_set", version=SCHEMA_VERSION + 1, writer="a future provenance-graph")
    try:
        refused = run(["migrate", "--dry-run"], neo4j_settings)
    finally:
        store.write("schema_version_set", version=SCHEMA_VERSION, writer="tests")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert lines[0].startswith("error: the database at ")
    assert f"holds graph schema version {SCHEMA_VERSION + 1}, newer than version {SCHEMA_VERSION}" in lines[0]
    assert lines[1:] == ["  hint: upgrade provenance-graph, or use another database"]
    assert "Traceback" not in refused.stderr


#: Steps that add an index and change no data: (version, index, a node as the version before
#: made it, a read of that node after the step, what the read gives). $id is a quantum's id,
#: $plan its plan's.
INDEX_STEPS = [
    pytest.param(
        ATTEMPT_JOURNALS_VERSION,
        "attempt_record_id",
        "MATCH (q:Quantum {id: $id}) CREATE (q)-[:HAS_ATTEMPT]->(:Attempt {id: $id + '/1', number: 1, "
        "quantum_id: $id, plan_id: $plan, status: 'succeeded'})",  # no record_id
        "MATCH (a:Attempt {id: $id + '/1'}) RETURN a.status AS s, a.record_id AS r",
        {"s": "succeeded", "r": None},
        id="v10-attempt-journals",
    ),
    pytest.param(
        LOST_ATTEMPTS_VERSION,
        "attempt_plan_status",
        "MATCH (q:Quantum {id: $id}) CREATE (q)-[:HAS_ATTEMPT]->(:Attempt {id: $id + '/1', number: 1, "
        "quantum_id: $id, plan_id: $plan, status: 'failed', record_id: $id})",  # no infrastructure
        "MATCH (a:Attempt {plan_id: $plan, status: 'failed'}) RETURN a.id = $id + '/1' AS s",
        {"s": True},
        id="v11-lost-attempts",
    ),
    pytest.param(
        EXECUTION_VERSIONS_VERSION,
        "dataset_execution",
        "MATCH (p:Plan {id: $plan}) CREATE (:Execution {id: $plan + '/e', plan_id: $plan, "
        "status: 'succeeded'})-[:EXECUTES]->(p)",  # no software_json, no tasks_json
        "MATCH (e:Execution {plan_id: $plan}) RETURN e.status AS s, e.tasks_json AS t",
        {"s": "succeeded", "t": None},
        id="v12-execution-versions",
    ),
    pytest.param(
        INPUT_CHECKSUMS_VERSION,
        None,  # a property only: no index
        "MATCH (q:Quantum {id: $id}) CREATE (q)-[:HAS_ATTEMPT]->(:Attempt {id: $id + '/1', number: 1, "
        "quantum_id: $id, plan_id: $plan, status: 'succeeded', record_id: $id})",  # no input_checksums_json
        "MATCH (a:Attempt {id: $id + '/1'}) RETURN a.status AS s, a.input_checksums_json AS c",
        {"s": "succeeded", "c": None},
        id="v13-input-checksums",
    ),
]


@pytest.mark.parametrize(("version", "index", "older", "read", "kept"), INDEX_STEPS)
def test_a_database_one_version_older_gains_the_steps_index_on_connect_and_keeps_its_nodes(
    store: GraphStore,
    namespace: str,
    neo4j_settings: ConnectionSettings,
    version: int,
    index: str | None,
    older: str,
    read: str,
    kept: dict[str, object],
) -> None:
    graph = awkward_plan(namespace)
    write_plan(store, graph)
    names = {"id": next(iter(graph.quanta)), "plan": graph.plan.id}
    rows(store, older, **names)
    state = "SHOW INDEXES YIELD name, state WHERE name = $index RETURN state"
    with database_at(store, version - 1, graph.plan.id):
        assert index is None or rows(store, state, index=index) == []
        said: list[str] = []
        with open_store(neo4j_settings, start_managed=False, say=said.append) as connected:
            assert schema_version(connected) == SCHEMA_VERSION
        assert said == [f"Upgrading the graph schema from version {version - 1} to {SCHEMA_VERSION} ..."]
        assert index is None or rows(store, state, index=index) == [{"state": "ONLINE"}]
        assert rows(store, read, **names) == [kept]
