"""Migration steps without a database: one a version, in order, documented, with existing queries."""

from __future__ import annotations

import dataclasses
import importlib
import re

import pytest

from provenance_graph.queries import queries
from provenance_graph.store import SCHEMA_VERSION, Upgrade
from provenance_graph.store.migrations import STEPS, Step

MIGRATIONS_FILE = "migrations.cypher"


def test_steps_are_ordered_and_contiguous_from_1_to_the_schema_version() -> None:
    assert [step.version for step in STEPS] == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.label)
def test_each_step_is_a_documented_module_named_after_its_version(step: Step) -> None:
    module = importlib.import_module(f"provenance_graph.store.migrations.v{step.version:04d}_{step.name}")
    assert module.STEP is step
    assert module.__doc__ and step.doc == module.__doc__
    assert step.doc.startswith(f"Version {step.version}: ")
    assert step.summary and "``" not in step.summary


def test_every_step_query_exists_in_the_migrations_file_and_belongs_to_one_step() -> None:
    library = queries()
    listed = [name for step in STEPS for name in step.queries]
    assert len(listed) == len(set(listed)), "a query is listed by two steps, or twice"
    for step in STEPS:
        # A step runs queries, unless it only documents new optional properties (v13).
        assert step.queries or "changes nothing stored" in step.doc, f"{step.label} runs no query"
        for name in step.queries:
            assert library[name].source == MIGRATIONS_FILE
            assert name.startswith(f"migrate_v{step.version}_")
    in_file = {name for name in library.names() if library[name].source == MIGRATIONS_FILE}
    assert in_file == set(listed), "a query of migrations.cypher that no step runs"


def test_every_schema_rule_is_created_only_if_it_does_not_exist() -> None:
    library = queries()
    for step in STEPS:
        for name in step.queries:
            text = library[name].text
            if re.match(r"CREATE (CONSTRAINT|INDEX)", text):
                assert "IF NOT EXISTS" in text, name
            elif re.match(r"DROP (CONSTRAINT|INDEX)", text):  # a rule a later step replaces
                assert re.fullmatch(r"DROP (CONSTRAINT|INDEX) \w+ IF EXISTS", text), name
            else:  # a rewrite: batched (nodes, or one plan, a transaction), and it says how much it changed
                assert re.search(r"IN TRANSACTIONS OF (\$batch_size|1) ROWS", text), name
                assert re.search(r"RETURN count\(\w+\) AS \w+$", text), name


def _upgrade(found: int | None, heavy_version: int | None = None) -> Upgrade:
    steps = tuple(dataclasses.replace(s, heavy=s.version == heavy_version) for s in STEPS)
    pending = tuple(s for s in steps if s.version > (found or 0))
    return Upgrade(uri="neo4j://test", found=found, target=SCHEMA_VERSION, steps=pending)


def test_only_an_existing_database_waits_for_provgraph_migrate_for_a_heavy_step() -> None:
    assert _upgrade(4).heavy == ()
    assert [s.version for s in _upgrade(4, heavy_version=5).heavy] == [5]
    assert _upgrade(5, heavy_version=5).heavy == ()  # already applied
    assert _upgrade(None, heavy_version=5).heavy == ()  # a new database has nothing to rewrite
