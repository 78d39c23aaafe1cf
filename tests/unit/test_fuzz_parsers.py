"""Fuzzed input, without a database (issue 8): every parser accepts its input or refuses it with our error.

Each test feeds one kind of user input, mutated from valid input and generated at random
(`tests.support.fuzz`), to the function that reads it. The input must be accepted, and
then be usable, or be refused with a `ProvenanceGraphError` that has a message. Anything
else would be a traceback. The ``@example``s are inputs that once broke that rule.
The database side (``provgraph`` commands, nothing written on refusal) is
``tests/integration/test_fuzz.py``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given

from provenance_graph.cli._data_ids import data_id_from_pairs
from provenance_graph.cli.query import parse_data_id
from provenance_graph.cli.running import parse_config
from provenance_graph.errors import ExpressionError, PlanFileError
from provenance_graph.model import DataId, DatasetType, stable_id
from provenance_graph.model._names import check_dataset_type_name
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import load_plan, save_plan
from provenance_graph.preflight import parse_expression
from tests.conftest import ReliabilityCounts
from tests.support import fuzz
from tests.support.fuzz import accepted_or_ours, fuzz_settings, tried

pytestmark = pytest.mark.reliability

INT64 = range(-(2**63), 2**63)


# --- pipeline YAML -----------------------------------------------------------------------

ISR = b"provenance_graph.demo.tasks.IsrTask"


@fuzz_settings(400)
@given(data=fuzz.pipeline_files() | fuzz.random_pipeline_files)
@example(data=b"tasks: " + fuzz.nested(1200, "list").encode()).via("RecursionError in yaml.safe_load")
@example(data=b"description: 2020-13-45\ntasks: {}").via("ValueError from a YAML timestamp")
@example(data=b"tasks: {isr: {class: x.y, config: {a: !!int x}}}").via("ValueError from a YAML !!int")
@example(data="tasks:\n  isr:\n    class: x.y  # caf\u00e9".encode("latin-1")).via("UnicodeDecodeError")
@example(data=b"tasks: {isr: {class: " + ISR + b", config: {saturation: 0x" + b"f" * 4000 + b"}}}").via(
    "ValueError: repr of the int"
)
def test_pipeline_files(tmp_path: Path, reliability: ReliabilityCounts, data: bytes) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(data)
    pipeline, _ = accepted_or_ours(lambda: Pipeline.from_file(path))
    tried(reliability, "pipeline YAML", pipeline is not None)
    if pipeline is not None:  # accepted: then what plans record of it reads back the same
        assert Pipeline.from_yaml(pipeline.to_yaml()).digest() == pipeline.digest()


# --- data-query expressions --------------------------------------------------------------


@fuzz_settings(600)
@given(text=fuzz.expressions)
@example(text="visit IN (0..1000000000000)").via("a range was expanded in memory: OOM")
@example(text="NOT " * 3000 + "visit = 1").via("RecursionError in the transformer")
@example(text="(" * 3000 + "visit = 1" + ")" * 3000).via("RecursionError in the transformer")
@example(text="visit = " + "9" * 5000).via("VisitError: int() of a 5000-digit literal")
@example(text="visit IN (1.." + "9" * 5000 + ")").via("VisitError: int() of a 5000-digit literal")
@example(text="instrument = '\udcff'").via("a lone surrogate (undecodable argv byte) reached Neo4j")
def test_data_query_expressions(reliability: ReliabilityCounts, text: str) -> None:
    expression, _ = accepted_or_ours(lambda: parse_expression(text), ExpressionError)
    tried(reliability, "data-query expressions", expression is not None)
    if expression is None:
        return
    # Accepted: it evaluates on any well-typed data ID, and its text can be stored.
    assert expression(fuzz.FULL_DATA_ID) in (True, False, None)
    assert isinstance(expression.admits(fuzz.FULL_DATA_ID), bool)
    text.encode("utf-8")


# --- data IDs and dataset type names -----------------------------------------------------


def _usable(data_id: DataId) -> None:
    """An accepted data ID reads back from its key, gives a stable id, and fits Neo4j."""
    assert DataId.from_key(data_id.key()) == data_id
    # What the store's trusted read rebuilds from the same text is the same data ID.
    trusted = DataId.trusted_key(data_id.key())
    assert trusted == data_id and trusted.key() == data_id.key()
    assert trusted.dimensions == data_id.dimensions and hash(trusted) == hash(data_id)
    stable_id("run", "type", data_id.key())
    for _, value in data_id.root:
        if isinstance(value, int):
            assert value in INT64, value
        else:
            value.encode("utf-8")  # raises if Neo4j could not take it


@fuzz_settings(400)
@given(value=fuzz.data_ids)
@example(value=[1]).via("TypeError: 'int' object is not iterable")
@example(value={"visit": 2**63}).via("accepted, then OverflowError in the Neo4j driver")
@example(value={"instrument": "\ud800"}).via("accepted, then UnicodeEncodeError in stable_id")
def test_data_ids(reliability: ReliabilityCounts, value: Any) -> None:
    data_id, _ = accepted_or_ours(lambda: DataId(value))
    tried(reliability, "data IDs", data_id is not None)
    if data_id is not None:
        _usable(data_id)


@fuzz_settings(300)
@given(text=fuzz.data_id_texts)
@example(text='{"visit": ' + "[" * 100_000).via("RecursionError in json.loads")
@example(text="not JSON").via("JSONDecodeError from DataId.from_key")
def test_data_id_keys(reliability: ReliabilityCounts, text: str) -> None:
    data_id, _ = accepted_or_ours(lambda: DataId.from_key(text))
    tried(reliability, "data IDs", data_id is not None)
    if data_id is not None:
        _usable(data_id)


@fuzz_settings(300)
@given(text=fuzz.data_id_texts, items=fuzz.data_id_items)
@example(text='{"a":' + fuzz.nested(100_000, "list") + "}", items=[]).via("RecursionError in json.loads")
@example(text="visit=1", items=["visit=--5"]).via("ValueError: int('--5')")
@example(text="visit=1", items=["visit=\u00b2"]).via("ValueError: int('²')")
def test_data_ids_on_the_command_line(reliability: ReliabilityCounts, text: str, items: list[str]) -> None:
    key, _ = accepted_or_ours(lambda: parse_data_id(text))  # provgraph query ... --data-id TEXT
    tried(reliability, "data IDs", key is not None)
    if key is not None:
        _usable(DataId.from_key(key))
    data_id, _ = accepted_or_ours(lambda: data_id_from_pairs(items))  # provgraph repo ingest -d K=V ...
    tried(reliability, "data IDs", data_id is not None)
    if data_id is not None:
        _usable(data_id)


@fuzz_settings(400)
@given(
    name=fuzz.dataset_type_names | fuzz.json_values, dims=fuzz.dimension_lists, storage=fuzz.storage_classes
)
@example(name="calexp", dims=5, storage="Image").via("TypeError: 'int' object is not iterable")
@example(name="calexp", dims=None, storage="Image").via("TypeError: 'NoneType' object is not iterable")
@example(name=5, dims=["visit"], storage="Image").via("pydantic ValidationError")
@example(name="calexp", dims=["visit"], storage=4).via("pydantic ValidationError")
@example(name="calexp", dims=["visit"], storage="\ud800").via("accepted, then UnicodeEncodeError in Neo4j")
def test_dataset_types(reliability: ReliabilityCounts, name: Any, dims: Any, storage: Any) -> None:
    dataset_type, _ = accepted_or_ours(lambda: DatasetType(name=name, dimensions=dims, storage_class=storage))
    tried(reliability, "dataset type names", dataset_type is not None)
    if dataset_type is not None:
        assert check_dataset_type_name(dataset_type.name) == name
        assert list(dataset_type.dimensions) == sorted(set(dataset_type.dimensions))
        dataset_type.storage_class.encode("utf-8")


# --- config overrides --------------------------------------------------------------------

DEMO = Pipeline.from_yaml(fuzz.DEMO_PIPELINE_TEXT)


@fuzz_settings(250)
@given(items=fuzz.config_overrides)
@example(items=["isr:saturation=" + fuzz.nested(1200, "list")]).via("RecursionError in yaml.safe_load")
@example(items=["isr:saturation=" + "9" * 5000]).via("ValueError: a 5000-digit YAML integer")
@example(items=["isr:fail_on=2020-13-45"]).via("ValueError from a YAML timestamp")
@example(items=["isr:fail_on=[{visit: 0x" + "f" * 4000 + "}]"]).via("accepted, then ValueError in the digest")
def test_config_overrides(reliability: ReliabilityCounts, items: list[str]) -> None:
    pipeline, _ = accepted_or_ours(lambda: DEMO.with_config(parse_config(items)))
    tried(reliability, "config overrides", pipeline is not None)
    if pipeline is not None:
        assert Pipeline.from_yaml(pipeline.to_yaml()).digest() == pipeline.digest()


# --- plan files --------------------------------------------------------------------------

DOCUMENT = fuzz.plan_document("fuzz-plan", "fuzz/run")


def _with(change: Any) -> bytes:
    document = json.loads(json.dumps(DOCUMENT))
    change(document)
    return fuzz.gzip_json(document)


@fuzz_settings(400)
@given(data=fuzz.plan_files(DOCUMENT) | fuzz.random_plan_files)
@example(data=gzip.compress(b'{"plan": ' + fuzz.nested(100_000, "list").encode() + b"}")).via(
    "RecursionError in json.loads"
)
@example(data=_with(lambda d: d["dataset_types"][0].update(dimensions=5))).via("TypeError")
@example(data=_with(lambda d: d["notes"].append({"data_ids": [[1]]}))).via("TypeError")
@example(data=_with(lambda d: d["plan"].update(created="0001-01-01T00:00:00+23:59"))).via("OverflowError")
@example(data=fuzz.with_data_id_value(DOCUMENT, "instrument", "\ud800")).via(
    "UnicodeEncodeError in stable_id"
)
@example(data=fuzz.with_data_id_value(DOCUMENT, "exposure", 2**63)).via(
    "accepted, then OverflowError in Neo4j"
)
@example(data=_with(lambda d: d["plan"].update(constraints="\ud800"))).via("UnicodeEncodeError in Neo4j")
@example(data=_with(lambda d: d["datasets"][0].__setitem__(4, "file:///\udcff"))).via(
    "UnicodeEncodeError in Neo4j"
)
@example(data=gzip.compress(b'{"format": "provenance-graph-plan", "version": ' + b"9" * 5000 + b"}")).via(
    "ValueError from json.loads: a 5000-digit integer"
)
def test_plan_files(tmp_path: Path, reliability: ReliabilityCounts, data: bytes) -> None:
    path = tmp_path / "plan.json.gz"
    path.write_bytes(data)
    graph, _ = accepted_or_ours(lambda: load_plan(path), PlanFileError)
    tried(reliability, "plan files", graph is not None)
    if graph is not None:  # accepted: Neo4j can store it, and it saves and loads back the same
        for text in (*graph.uris.values(), graph.plan.constraints, *(n.message for n in graph.notes)):
            text.encode("utf-8")
        for element in (*graph.datasets.values(), *graph.quanta.values()):
            _usable(element.data_id)
        save_plan(graph, path.with_suffix(".again"))
        assert load_plan(path.with_suffix(".again")) == graph


def test_a_plan_file_unedited_is_accepted(tmp_path: Path) -> None:
    """The strategies start from a valid file: unedited, it loads."""
    path = tmp_path / "plan.json.gz"
    path.write_bytes(fuzz.gzip_json(DOCUMENT))
    assert len(load_plan(path)) > 10
