"""Plan files: save then load gives back an identical plan; broken files are named, not tracebacks."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

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


def _document(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "good.json.gz"
    save_plan(drp_plan(1, 2, plan_id="good"), path)
    with gzip.open(path, "rb") as handle:
        document: dict[str, object] = json.loads(handle.read())
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


def test_tampered_entries_are_named(tmp_path: Path) -> None:
    document = _document(tmp_path)
    datasets = document["datasets"]
    assert isinstance(datasets, list)
    datasets[3][2]["visit"] = 77  # content no longer matches the stored id
    _write(tmp_path / "tampered.json.gz", document)
    with pytest.raises(PlanFileError, match=r"datasets\[3\]: id .* does not match its content"):
        load_plan(tmp_path / "tampered.json.gz")

    document = _document(tmp_path)
    quanta = document["quanta"]
    assert isinstance(quanta, list)
    quanta[0][4] = [10_000]
    _write(tmp_path / "index.json.gz", document)
    with pytest.raises(PlanFileError, match=r"quanta\[0\]: dataset index 10000 out of range"):
        load_plan(tmp_path / "index.json.gz")

    document = _document(tmp_path)
    quanta = document["quanta"]
    assert isinstance(quanta, list)
    quanta[1] = list(quanta[0])  # the same quantum twice
    _write(tmp_path / "twice.json.gz", document)
    with pytest.raises(PlanFileError, match="the plan graph: quantum .* appears twice"):
        load_plan(tmp_path / "twice.json.gz")

    document = _document(tmp_path)
    document["plan"] = {"output_run": "bad run"}
    _write(tmp_path / "header.json.gz", document)
    with pytest.raises(PlanFileError, match="plan: invalid run name 'bad run'"):
        load_plan(tmp_path / "header.json.gz")
