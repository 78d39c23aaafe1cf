"""Plan files: save then load gives back an identical plan; broken files are named, not tracebacks."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provenance_graph.errors import PlanFileError
from provenance_graph.planfile import load_plan, save_plan
from provenance_graph.synthetic import drp_plan


def test_save_then_load_gives_an_identical_plan(tmp_path: Path) -> None:
    graph = drp_plan(3, 4, tracts=2, plan_id="roundtrip", constraints="visit IN (0..2)")
    path = tmp_path / "plan.json.gz"
    size = save_plan(graph, path)
    assert size == path.stat().st_size > 0
    back = load_plan(path)
    assert back == graph
    assert back.digest() == graph.digest()
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json.gz"], "no temporary file left behind"


def _write(path: Path, document: object) -> None:
    with gzip.open(path, "wb") as handle:
        handle.write(json.dumps(document).encode())


def _document(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "good.json.gz"
    save_plan(drp_plan(1, 2, plan_id="good"), path)
    with gzip.open(path, "rb") as handle:
        document: dict[str, Any] = json.loads(handle.read())
    return document


def test_not_a_plan_file(tmp_path: Path) -> None:
    (tmp_path / "text.json.gz").write_text("plain text")
    with pytest.raises(PlanFileError, match="not a gzip-compressed plan file"):
        load_plan(tmp_path / "text.json.gz")
    with pytest.raises(PlanFileError, match="no plan file at"):
        load_plan(tmp_path / "missing.json.gz")
    with gzip.open(tmp_path / "bad.json.gz", "wb") as handle:
        handle.write(b"{not json")
    with pytest.raises(PlanFileError, match="does not hold JSON"):
        load_plan(tmp_path / "bad.json.gz")
    _write(tmp_path / "other.json.gz", {"hello": "world"})
    with pytest.raises(PlanFileError, match="not a provenance-graph plan file"):
        load_plan(tmp_path / "other.json.gz")


def test_future_version_is_refused(tmp_path: Path) -> None:
    document = _document(tmp_path)
    document["version"] = 99
    _write(tmp_path / "v99.json.gz", document)
    with pytest.raises(PlanFileError, match="format version 99"):
        load_plan(tmp_path / "v99.json.gz")


def _retarget_visit(document: dict[str, Any]) -> None:
    document["datasets"][3][2]["visit"] = 77  # content no longer matches the stored id


def _dangling_index(document: dict[str, Any]) -> None:
    document["quanta"][0][4] = [10_000]


def _quantum_twice(document: dict[str, Any]) -> None:
    document["quanta"][1] = list(document["quanta"][0])


def _bad_run(document: dict[str, Any]) -> None:
    document["plan"] = {"output_run": "bad run"}


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_retarget_visit, r"datasets\[3\]: id .* does not match its content"),
        (_dangling_index, r"quanta\[0\]: dataset index 10000 out of range"),
        (_quantum_twice, "the plan graph: quantum .* appears twice"),
        (_bad_run, "plan: invalid run name 'bad run'"),
    ],
)
def test_tampered_entries_are_named(
    tmp_path: Path, tamper: Callable[[dict[str, Any]], None], message: str
) -> None:
    document = _document(tmp_path)
    tamper(document)
    _write(tmp_path / "tampered.json.gz", document)
    with pytest.raises(PlanFileError, match=message):
        load_plan(tmp_path / "tampered.json.gz")
