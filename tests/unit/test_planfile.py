"""Plan files: save then load gives back an identical plan; broken files are named, not tracebacks."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from provenance_graph import planfile
from provenance_graph.errors import PlanFileError
from provenance_graph.model import DataId, NoteKind, Plan, PlanGraph, PlanNote, Quantum
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


def _plan_with_notes_and_uris() -> PlanGraph:
    graph = drp_plan(3, 4, tracts=2, plan_id="streamed")
    notes = [
        PlanNote(
            task_label="isr",
            kind=NoteKind.MISSING_PREREQUISITE,
            connection="bias",
            dataset_type="bias",
            data_ids=(DataId.of(instrument="DemoCam", exposure=9, detector=1),),
            message="isr: no bias for 1 data ID",
        ),
        PlanNote(task_label="makeWarp", kind=NoteKind.NO_QUANTA, message="makeWarp: no quanta"),
    ]
    uris = {did: f"file:///repo/{i}/caf\u00e9.fits" for i, did in enumerate(graph.datasets) if i % 3}
    # Validated (not model_copy): the repository URI is derived from the metadata.
    plan = Plan.model_validate(
        {**graph.plan.model_dump(), "metadata": {**graph.plan.metadata, "repository": "/repo"}}
    )
    return PlanGraph(plan, graph.quanta.values(), notes, uris)


def test_streamed_file_round_trips_notes_and_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planfile, "_CHUNK_CHARS", 200)  # many chunks, entries split across them
    graph = _plan_with_notes_and_uris()
    path = tmp_path / "plan.json.gz"
    save_plan(graph, path)
    back = load_plan(path)
    assert back == graph
    assert back.notes == graph.notes and len(back.notes) == 2
    assert back.uris == graph.uris and back.uris
    with gzip.open(path, "rb") as handle:
        text = handle.read().decode()
    document = json.loads(text)
    assert list(document) == ["format", "version", "plan", "dataset_types", "datasets", "quanta", "notes"]
    assert text == json.dumps(document, separators=(",", ":")), "compact JSON, as one json.dumps writes it"


def test_failed_save_leaves_no_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planfile, "_CHUNK_CHARS", 200)  # part of the document reaches the temp file
    graph = _plan_with_notes_and_uris()
    entry = planfile._quantum_entry
    written = 0

    def fail_halfway(quantum: Quantum, index: Mapping[str, int]) -> list[object]:
        nonlocal written
        written += 1
        if written > len(graph) // 2:
            raise RuntimeError("serialization failed")
        return entry(quantum, index)

    monkeypatch.setattr(planfile, "_quantum_entry", fail_halfway)
    with pytest.raises(RuntimeError, match="serialization failed"):
        save_plan(graph, tmp_path / "new.json.gz")
    assert list(tmp_path.iterdir()) == [], "neither the file nor a temporary one"

    old = tmp_path / "old.json.gz"
    old.write_bytes(b"the previous plan file")
    written = 0
    with pytest.raises(RuntimeError, match="serialization failed"):
        save_plan(graph, old)
    assert [p.name for p in tmp_path.iterdir()] == ["old.json.gz"]
    assert old.read_bytes() == b"the previous plan file"


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
