"""Six pipeline shapes, planned over a repository built from the command line alone.

Each test writes its pipeline YAML, plans it with ``provgraph plan --no-store --save``
and compares the plan's quanta (per task, with their inputs) and its notes with
expectations written out by hand below, never computed by the code under test.

The sky of every shape (records.yaml below): two detectors; visits 1 and 2 in band r
and visit 3 in band g, one exposure each (101, 201, 301); one tract of two patches.
Detector 0 of visit 1 and of visit 2 overlap patch 0; detector 1 of visit 1 overlaps
patch 1; detector 1 of visit 2 straddles both patches; detector 0 of visit 3 overlaps
patch 1; detector 1 of visit 3 overlaps neither. The raw of exposure 201, detector 1
is missing; only detector 0 has a flat and a dark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from provenance_graph.model import NoteKind, PlanGraph
from provenance_graph.planfile import load_plan

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))
ROOT = Path(__file__).resolve().parents[2]
SHAPES = "tests.support.shapes"

RECORDS = """\
instrument:
  - {instrument: HSC}
detector:
  - {instrument: HSC, detector: 0}
  - {instrument: HSC, detector: 1}
visit:
  - {instrument: HSC, visit: 1, band: r}
  - {instrument: HSC, visit: 2, band: r}
  - {instrument: HSC, visit: 3, band: g}
exposure:
  - {instrument: HSC, exposure: 101, visit: 1}
  - {instrument: HSC, exposure: 201, visit: 2}
  - {instrument: HSC, exposure: 301, visit: 3}
skymap:
  - {skymap: rings}
tract:
  - {skymap: rings, tract: 0}
patch:
  - {skymap: rings, tract: 0, patch: 0}
  - {skymap: rings, tract: 0, patch: 1}
visit_detector_patch:
  - {instrument: HSC, visit: 1, detector: 0, skymap: rings, tract: 0, patch: 0}
  - {instrument: HSC, visit: 1, detector: 1, skymap: rings, tract: 0, patch: 1}
  - {instrument: HSC, visit: 2, detector: 0, skymap: rings, tract: 0, patch: 0}
  - {instrument: HSC, visit: 2, detector: 1, skymap: rings, tract: 0, patch: 0}
  - {instrument: HSC, visit: 2, detector: 1, skymap: rings, tract: 0, patch: 1}
  - {instrument: HSC, visit: 3, detector: 0, skymap: rings, tract: 0, patch: 1}
"""

RAWS = [(101, 0), (101, 1), (201, 0), (301, 0), (301, 1)]
"""Every exposure and detector but (201, 1)."""

Ids = set[tuple[tuple[str, Any], ...]]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [PROVGRAPH, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def _provgraph(*args: str) -> str:
    done = _run(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The repository of every shape, made with `provgraph repo` commands only."""
    where = tmp_path_factory.mktemp("shapes")
    repo = str(where / "repo")
    (where / "records.yaml").write_text(RECORDS)
    image = where / "image.npy"
    np.save(image, np.zeros((4, 4), dtype="f4"))
    _provgraph("repo", "create", repo)
    _provgraph("repo", "add-records", repo, str(where / "records.yaml"))
    for name, dims in (
        ("raw", "instrument,exposure,detector"),
        ("flat", "instrument,detector"),
        ("dark", "instrument,detector"),
    ):
        _provgraph("repo", "register-type", repo, name, "--dimensions", dims, "--storage-class", "Image")
    ingest = ["repo", "ingest", repo]
    for exposure, detector in RAWS:
        _provgraph(
            *ingest, "raw", str(image), "--run", "raw/all", "--no-graph",
            "-d", "instrument=HSC", "-d", f"exposure={exposure}", "-d", f"detector={detector}",
        )  # fmt: skip
    for calibration in ("flat", "dark"):
        _provgraph(
            *ingest, calibration, str(image), "--run", "calib", "--no-graph",
            "-d", "instrument=HSC", "-d", "detector=0",
        )  # fmt: skip
    return repo


def _pipeline(tmp_path: Path, tasks: dict[str, str]) -> Path:
    """A pipeline YAML of ``tasks`` (label: class name in tests/support/shapes.py)."""
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "tasks:\n" + "".join(f"  {label}:\n    class: {SHAPES}.{cls}\n" for label, cls in tasks.items())
    )
    return pipeline


M2M = {"calibrate": "Calibrate", "makeWarp": "MakeWarp", "assemble": "Assemble", "forced": "Forced"}


def _plan(repo: str, tmp_path: Path, tasks: dict[str, str], *options: str) -> PlanGraph:
    pipeline = _pipeline(tmp_path, tasks)
    saved = tmp_path / "plan.json.gz"
    _provgraph(
        "plan", str(pipeline), "--repo", repo, "-i", "raw/all", "-i", "calib",
        "--no-store", "--save", str(saved), *options,
    )  # fmt: skip
    return load_plan(saved)


def _ids(*data_ids: dict[str, Any]) -> Ids:
    """Data IDs written out by hand, with ``instrument=HSC`` and ``skymap=rings`` implied.

    Every data ID but a coadd's (tract, patch, band) has the instrument.
    """
    full = set()
    for data_id in data_ids:
        extra: dict[str, Any] = {}
        if data_id and not ("tract" in data_id and "visit" not in data_id):
            extra["instrument"] = "HSC"
        if "tract" in data_id:
            extra["skymap"] = "rings"
        full.add(tuple(sorted({**data_id, **extra}.items())))
    return full


def _ed(*pairs: tuple[int, int]) -> Ids:
    return _ids(*({"exposure": e, "detector": d} for e, d in pairs))


def _vd(*pairs: tuple[int, int]) -> Ids:
    return _ids(*({"visit": v, "detector": d} for v, d in pairs))


def _key(data_id: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(data_id.to_dict().items()))


def _quanta(graph: PlanGraph, label: str) -> Ids:
    return {_key(q.data_id) for q in graph.quanta.values() if q.task_label == label}


def _inputs(graph: PlanGraph, label: str, dataset_type: str) -> dict[tuple[tuple[str, Any], ...], Ids]:
    """Per quantum of ``label``: the data IDs of its inputs of ``dataset_type``."""
    return {
        _key(q.data_id): {_key(r.data_id) for r in q.inputs if r.dataset_type.name == dataset_type}
        for q in graph.quanta.values()
        if q.task_label == label
    }


def _notes(graph: PlanGraph) -> set[tuple[str, NoteKind, str, str, frozenset[tuple[tuple[str, Any], ...]]]]:
    """Each note as (task, kind, dataset type, upstream task, data IDs)."""
    return {
        (n.task_label, n.kind, n.dataset_type, n.upstream_task, frozenset(_key(d) for d in n.data_ids))
        for n in graph.notes
    }


def test_a_diamond_notes_the_missing_raw_once_and_its_drops_upstream(repo: str, tmp_path: Path) -> None:
    graph = _plan(repo, tmp_path, {"split": "Split", "left": "Left", "right": "Right", "join": "Join"})

    planned = _ed((101, 0), (101, 1), (201, 0), (301, 0), (301, 1))
    for label in ("split", "left", "right", "join"):
        assert _quanta(graph, label) == planned, label
    # The bottom of the diamond reads what both sides made for the same data ID.
    both = {key: {t.dataset_type.name for t in q.inputs} for q in graph.quanta.values() for key in [_key(q.data_id)]
            if q.task_label == "join"}  # fmt: skip
    assert set(map(frozenset, both.values())) == {frozenset({"background", "sources"})}
    missing = frozenset(_ed((201, 1)))
    assert _notes(graph) == {
        ("split", NoteKind.MISSING_INPUT, "raw", "", missing),
        ("left", NoteKind.UPSTREAM, "postISR", "split", missing),
        ("right", NoteKind.UPSTREAM, "postISR", "split", missing),
        ("join", NoteKind.UPSTREAM, "background", "left", missing),
    }


def test_many_to_many_follows_exposure_to_visit_and_the_spatial_overlaps(repo: str, tmp_path: Path) -> None:
    graph = _plan(repo, tmp_path, M2M)

    # Visit 3, detector 1 overlaps no patch: the whole pipeline's one query (as pipe_base's)
    # has no row for it, so it is no candidate and no note. (2, 1) lacks its raw.
    assert _quanta(graph, "calibrate") == _vd((1, 0), (1, 1), (2, 0), (3, 0))
    assert _inputs(graph, "calibrate", "raw") == {
        next(iter(_vd((1, 0)))): _ed((101, 0)),
        next(iter(_vd((1, 1)))): _ed((101, 1)),
        next(iter(_vd((2, 0)))): _ed((201, 0)),
        next(iter(_vd((3, 0)))): _ed((301, 0)),
    }

    def warp(visit: int, patch: int) -> tuple[tuple[str, Any], ...]:
        return next(iter(_ids({"visit": visit, "tract": 0, "patch": patch})))

    # A warp takes the calexps of its visit that overlap its patch; (visit 2, patch 1) had
    # only detector 1, whose calexp calibrate dropped.
    assert _inputs(graph, "makeWarp", "calexp") == {
        warp(1, 0): _vd((1, 0)),
        warp(1, 1): _vd((1, 1)),
        warp(2, 0): _vd((2, 0)),
        warp(3, 1): _vd((3, 0)),
    }

    def coadd(patch: int, band: str) -> tuple[tuple[str, Any], ...]:
        return next(iter(_ids({"tract": 0, "patch": patch, "band": band})))

    # No coadd of patch 0 in band g: no g visit overlaps it, so it was never a candidate.
    assert _inputs(graph, "assemble", "warp") == {
        coadd(0, "r"): {warp(1, 0), warp(2, 0)},
        coadd(1, "r"): {warp(1, 1)},
        coadd(1, "g"): {warp(3, 1)},
    }
    assert _inputs(graph, "forced", "coadd") == {
        next(iter(_vd((1, 0)))): {coadd(0, "r")},
        next(iter(_vd((1, 1)))): {coadd(1, "r")},
        next(iter(_vd((2, 0)))): {coadd(0, "r")},
        next(iter(_vd((3, 0)))): {coadd(1, "g")},
    }
    # One missing raw, one root note; the later drops say where they came from.
    assert _notes(graph) == {
        ("calibrate", NoteKind.MISSING_INPUT, "raw", "", frozenset(_vd((2, 1)))),
        ("makeWarp", NoteKind.UPSTREAM, "calexp", "calibrate", frozenset({warp(2, 1)})),
        ("forced", NoteKind.UPSTREAM, "calexp", "calibrate", frozenset(_vd((2, 1)))),
    }


def test_the_summary_counts_a_missing_raw_once(repo: str, tmp_path: Path) -> None:
    """Problem 1: the forced task's upstream drop is not counted as a second missing input."""
    pipeline = _pipeline(tmp_path, M2M)
    out = _provgraph("plan", str(pipeline), "--repo", repo, "-i", "raw/all", "--no-store")

    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if (cells := [c.strip() for c in line.strip()[1:-1].split("│")])[0] in {"calibrate", "makeWarp", "forced"}
    }  # fmt: skip
    assert rows == {"calibrate": ["4", "1", ""], "makeWarp": ["4", "", "1"], "forced": ["4", "", "1"]}
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 2, out
    assert "calibrate: no raw (input 'raw') in the repository for 1 data ID" in notes[0]
    assert "2 data ID(s) of 2 later task(s)" in notes[1]


def test_per_band_quanta_take_every_visit_of_their_band(repo: str, tmp_path: Path) -> None:
    tasks = {"calibrate": "Calibrate", "bandSummary": "BandSummary"}
    graph = _plan(repo, tmp_path, tasks)

    # Without a patch in the pipeline, visit 3 detector 1 is planned: no overlap is asked for.
    assert _quanta(graph, "calibrate") == _vd((1, 0), (1, 1), (2, 0), (3, 0), (3, 1))
    assert _inputs(graph, "bandSummary", "calexp") == {
        next(iter(_ids({"band": "r"}))): _vd((1, 0), (1, 1), (2, 0)),
        next(iter(_ids({"band": "g"}))): _vd((3, 0), (3, 1)),
    }
    assert _notes(graph) == {("calibrate", NoteKind.MISSING_INPUT, "raw", "", frozenset(_vd((2, 1))))}

    # A query on the band constrains the visit-level task too, and what it excludes
    # (the missing raw of visit 2) is no note.
    (tmp_path / "g").mkdir()
    graph = _plan(repo, tmp_path / "g", tasks, "-d", "band = 'g'")
    assert _quanta(graph, "calibrate") == _vd((3, 0), (3, 1))
    assert _quanta(graph, "bandSummary") == _ids({"band": "g"})
    assert _notes(graph) == set()


def test_an_optional_input_is_taken_where_it_exists(repo: str, tmp_path: Path) -> None:
    graph = _plan(repo, tmp_path, {"flatten": "FlatIfAny"})

    flat0 = _ids({"detector": 0})
    assert _inputs(graph, "flatten", "flat") == {
        next(iter(_ed((101, 0)))): flat0,
        next(iter(_ed((101, 1)))): set(),
        next(iter(_ed((201, 0)))): flat0,
        next(iter(_ed((301, 0)))): flat0,
        next(iter(_ed((301, 1)))): set(),
    }
    # Detector 1 has no flat and that is no note; the missing raw is.
    assert _notes(graph) == {("flatten", NoteKind.MISSING_INPUT, "raw", "", frozenset(_ed((201, 1))))}


def test_a_prerequisite_only_task_is_planned_from_the_detector_records(repo: str, tmp_path: Path) -> None:
    graph = _plan(repo, tmp_path, {"darkStats": "DarkStats"})

    assert _inputs(graph, "darkStats", "dark") == {next(iter(_ids({"detector": 0}))): _ids({"detector": 0})}
    assert _notes(graph) == {
        ("darkStats", NoteKind.MISSING_PREREQUISITE, "dark", "", frozenset(_ids({"detector": 1})))
    }


def test_a_task_without_dimensions_has_one_quantum_over_everything(repo: str, tmp_path: Path) -> None:
    tasks = {"calibrate": "Calibrate", "census": "Census"}
    graph = _plan(repo, tmp_path, tasks)

    assert _inputs(graph, "census", "calexp") == {(): _vd((1, 0), (1, 1), (2, 0), (3, 0), (3, 1))}
    [quantum] = [q for q in graph.quanta.values() if q.task_label == "census"]
    assert [r.dataset_type.name for r in quantum.outputs] == ["census"]
    assert _notes(graph) == {("calibrate", NoteKind.MISSING_INPUT, "raw", "", frozenset(_vd((2, 1))))}

    # Under a query, the one quantum takes only what the query leaves.
    (tmp_path / "v1").mkdir()
    graph = _plan(repo, tmp_path / "v1", tasks, "-d", "visit = 1")
    assert _inputs(graph, "census", "calexp") == {(): _vd((1, 0), (1, 1))}
    assert _notes(graph) == set()
