"""A repository built from the command line alone: dimension records from files, ingest, calibrations.

Every command runs as a user runs it (``provgraph`` in a subprocess, no database: ingest
takes ``--no-graph``); what it stored is read back through `Repository`. The expected
records are written out by hand.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from provenance_graph.errors import RepositoryError
from provenance_graph.model import DataId, DatasetType, Timespan
from provenance_graph.repository import FORMAT_VERSION, Repository

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))
DOCS = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"

RECORDS = """\
instrument:
  - {instrument: HSC}
detector:
  - {instrument: HSC, detector: 0}
  - {instrument: HSC, detector: 1}
visit:
  - {instrument: HSC, visit: 1, band: r, timespan: [2024-03-01T03:00:00, 2024-03-01T03:00:30]}
  - {instrument: HSC, visit: 2, band: g, timespan: [2024-03-09T03:00:00, 2024-03-09T03:00:30]}
exposure:
  - {instrument: HSC, exposure: 101, visit: 1, timespan: [2024-03-01T03:00:00, 2024-03-01T03:00:30]}
  - {instrument: HSC, exposure: 201, visit: 2, timespan: [2024-03-09T03:00:00, 2024-03-09T03:00:30]}
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
  - {instrument: HSC, visit: 2, detector: 0, skymap: rings, tract: 0, patch: 1}
"""

EXPECTED_VISITS = [
    {
        "instrument": "HSC",
        "visit": 1,
        "band": "r",
        "timespan": ["2024-03-01T03:00:00.000000", "2024-03-01T03:00:30.000000"],
    },
    {
        "instrument": "HSC",
        "visit": 2,
        "band": "g",
        "timespan": ["2024-03-09T03:00:00.000000", "2024-03-09T03:00:30.000000"],
    },
]
EXPECTED_OVERLAPS = [
    {"instrument": "HSC", "visit": 1, "detector": 0, "skymap": "rings", "tract": 0, "patch": 0},
    {"instrument": "HSC", "visit": 1, "detector": 1, "skymap": "rings", "tract": 0, "patch": 1},
    {"instrument": "HSC", "visit": 2, "detector": 0, "skymap": "rings", "tract": 0, "patch": 1},
]


def provgraph(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROVGRAPH, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
    )


def ok(*args: str | Path, cwd: Path | None = None) -> str:
    done = provgraph(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(*args: str | Path) -> str:
    """Run a command that must fail with one ``error:`` line (and a hint), no traceback."""
    done = provgraph(*args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return " ".join(done.stderr.split())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    ok("repo", "create", path)
    return path


def _sorted(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))


# --- add-records ---------------------------------------------------------------------------


def test_records_and_overlaps_come_from_a_yaml_file_and_adding_them_again_adds_nothing(
    repo: Path, tmp_path: Path
) -> None:
    file = tmp_path / "records.yaml"
    file.write_text(RECORDS)
    out = " ".join(ok("repo", "add-records", repo, file).split())
    assert (
        "added 1 instrument, 2 detector, 2 visit, 2 exposure, 1 skymap, 1 tract, 2 patch, "
        "3 visit_detector_patch" in out
    )
    with Repository.open(repo) as opened:
        assert opened.records("instrument") == [{"instrument": "HSC"}]
        assert _sorted(opened.records("detector")) == [
            {"instrument": "HSC", "detector": 0},
            {"instrument": "HSC", "detector": 1},
        ]
        assert _sorted(opened.records("visit")) == _sorted(EXPECTED_VISITS)
        assert _sorted(opened.records("exposure")) == [
            {
                "instrument": "HSC",
                "exposure": 101,
                "visit": 1,
                "timespan": ["2024-03-01T03:00:00.000000", "2024-03-01T03:00:30.000000"],
            },
            {
                "instrument": "HSC",
                "exposure": 201,
                "visit": 2,
                "timespan": ["2024-03-09T03:00:00.000000", "2024-03-09T03:00:30.000000"],
            },
        ]
        assert _sorted(opened.records("patch")) == [
            {"skymap": "rings", "tract": 0, "patch": 0},
            {"skymap": "rings", "tract": 0, "patch": 1},
        ]
        assert _sorted(opened.join_rows("visit_detector_patch")) == _sorted(EXPECTED_OVERLAPS)
        assert opened.timespan(DataId({"instrument": "HSC", "exposure": 201, "detector": 0})) == Timespan(
            begin=datetime(2024, 3, 9, 3, 0, 0), end=datetime(2024, 3, 9, 3, 0, 30)
        )
        assert opened.timespan(DataId({"instrument": "HSC", "visit": 1})) == Timespan(
            begin=datetime(2024, 3, 1, 3, 0, 0), end=datetime(2024, 3, 1, 3, 0, 30)
        )
        assert opened.timespan(DataId({"instrument": "HSC", "detector": 0})) is None
        assert opened.timespan(DataId({"instrument": "HSC", "exposure": 999})) is None
    again = " ".join(ok("repo", "add-records", repo, file).split())
    assert "added nothing" in again and "14 already present" in again
    shown = ok("repo", "show", repo)
    assert "2 detector" in shown and "3 visit_detector_patch" in shown


def test_an_exposure_without_a_timespan_has_its_visits(repo: Path, tmp_path: Path) -> None:
    file = tmp_path / "records.yaml"
    file.write_text(
        "instrument:\n  - {instrument: HSC}\n"
        "visit:\n  - {instrument: HSC, visit: 1, band: r, timespan: [2024-03-01T03:00:00, 2024-03-01T03:01:00]}\n"
        "exposure:\n  - {instrument: HSC, exposure: 5, visit: 1}\n"
    )
    ok("repo", "add-records", repo, file)
    with Repository.open(repo) as opened:
        assert opened.timespan(DataId({"instrument": "HSC", "exposure": 5, "detector": 0})) == Timespan(
            begin=datetime(2024, 3, 1, 3, 0), end=datetime(2024, 3, 1, 3, 1)
        )


def test_records_come_from_csv_files_named_after_their_element(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "instrument.csv").write_text("instrument\nHSC\n")
    (tmp_path / "visit.csv").write_text(
        "instrument,visit,band,timespan_begin,timespan_end\n"
        "HSC,1,r,2024-03-01T03:00:00,2024-03-01T03:00:30\n"
        "HSC,2,g,2024-03-09T03:00:00,2024-03-09T03:00:30\n"
    )
    (tmp_path / "detector.csv").write_text("instrument,detector\nHSC,0\nHSC,1\n")
    (tmp_path / "skymap.csv").write_text("skymap\nrings\n")
    (tmp_path / "tract.csv").write_text("skymap,tract\nrings,0\n")
    (tmp_path / "patch.csv").write_text("skymap,tract,patch\nrings,0,0\nrings,0,1\n")
    (tmp_path / "visit_detector_patch.csv").write_text(
        "instrument,visit,detector,skymap,tract,patch\n"
        "HSC,1,0,rings,0,0\nHSC,1,1,rings,0,1\nHSC,2,0,rings,0,1\n"
    )
    # In any order: a detector names an instrument given in a later file of the same call.
    names = ["visit_detector_patch", "detector", "visit", "patch", "tract", "skymap", "instrument"]
    out = " ".join(ok("repo", "add-records", repo, *(tmp_path / f"{n}.csv" for n in names)).split())
    assert "2 visit" in out and "3 visit_detector_patch" in out
    with Repository.open(repo) as opened:
        assert _sorted(opened.records("visit")) == _sorted(EXPECTED_VISITS)
        assert _sorted(opened.join_rows("visit_detector_patch")) == _sorted(EXPECTED_OVERLAPS)


def _numbered(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


BAD_FILES = {
    "unknown element": (
        """
        instrument:
          - {instrument: HSC}
        detectors:
          - {instrument: HSC, detector: 0}
        """,
        ["line 3", "unknown element 'detectors'", "did you mean 'detector'"],
    ),
    "unknown field": (
        """
        instrument:
          - {instrument: HSC}
        visit:
          - {instrument: HSC, visit: 1, band: r}
          - {instrument: HSC, visit: 2, band: r, filter: HSC-R}
        """,
        ["line 5", "visit record has unknown field 'filter'", "instrument, visit, band, timespan"],
    ),
    "missing field": (
        """
        instrument:
          - {instrument: HSC}
        visit:
          - instrument: HSC
            visit: 1
        """,
        ["line 4", "visit record lacks band"],
    ),
    "wrong type": (
        """
        instrument:
          - {instrument: HSC}
        detector:
          - {instrument: HSC, detector: 0}
          - {instrument: HSC,
             detector: one}
        """,
        ["line 6", "detector must be an integer, not 'one'"],
    ),
    "string given as a number": (
        """
        skymap:
          - {skymap: 7}
        """,
        ["line 2", "skymap must be a string, not 7", "quote it"],
    ),
    "detector of an unknown instrument": (
        """
        instrument:
          - {instrument: HSC}
        detector:
          - {instrument: HSC, detector: 0}
          - {instrument: LSSTCam, detector: 0}
        """,
        [
            "line 5",
            "detector (instrument=LSSTCam detector=0) needs instrument (instrument=LSSTCam), which has no record",
        ],
    ),
    "patch of an unknown tract": (
        """
        skymap:
          - {skymap: rings}
        tract:
          - {skymap: rings, tract: 0}
        patch:
          - {skymap: rings, tract: 0, patch: 0}
          - {skymap: rings, tract: 9, patch: 0}
        """,
        ["line 7", "needs tract (skymap=rings tract=9), which has no record"],
    ),
    "exposure of an unknown visit": (
        """
        instrument:
          - {instrument: HSC}
        exposure:
          - {instrument: HSC, exposure: 101, visit: 1}
        """,
        ["line 4", "needs visit (instrument=HSC visit=1), which has no record"],
    ),
    "overlap naming an unknown visit": (
        """
        instrument:
          - {instrument: HSC}
        detector:
          - {instrument: HSC, detector: 0}
        skymap:
          - {skymap: rings}
        tract:
          - {skymap: rings, tract: 0}
        patch:
          - {skymap: rings, tract: 0, patch: 0}
        visit_detector_patch:
          - {instrument: HSC, visit: 5, detector: 0, skymap: rings, tract: 0, patch: 0}
        """,
        [
            "line 12",
            "visit_detector_patch row",
            "needs visit (instrument=HSC visit=5), which has no record",
        ],
    ),
    "one key twice with different values": (
        """
        instrument:
          - {instrument: HSC}
        visit:
          - {instrument: HSC, visit: 1, band: r}
          - {instrument: HSC, visit: 1, band: g}
        """,
        ["line 5", "visit (instrument=HSC visit=1)", "line 4", "band 'r'", "band 'g'"],
    ),
    "timespan that ends before it begins": (
        """
        instrument:
          - {instrument: HSC}
        visit:
          - {instrument: HSC, visit: 1, band: r, timespan: [2024-03-02T00:00:00, 2024-03-01T00:00:00]}
        """,
        ["line 4", "timespan ends before it begins"],
    ),
    "timespan with a time zone": (
        """
        instrument:
          - {instrument: HSC}
        visit:
          - {instrument: HSC, visit: 1, band: r, timespan: ["2024-03-01T00:00:00Z", "2024-03-01T00:01:00Z"]}
        """,
        ["line 4", "time zone", "TAI"],
    ),
    "timespan of an element without one": (
        """
        instrument:
          - {instrument: HSC, timespan: [2024-03-01T00:00:00, 2024-03-01T00:01:00]}
        """,
        ["line 2", "instrument record has unknown field 'timespan'"],
    ),
    "a list where records go": (
        """
        instrument: HSC
        """,
        ["line 1", "instrument: expected a list of records"],
    ),
    "a key given twice": (
        """
        instrument:
          - {instrument: HSC}
        instrument:
          - {instrument: LSSTCam}
        """,
        ["duplicate key 'instrument' at line 1 and again at line 3"],
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_records_file_is_refused_naming_the_line_and_adds_nothing(
    case: str, repo: Path, tmp_path: Path
) -> None:
    text, expected = BAD_FILES[case]
    file = tmp_path / "records.yaml"
    file.write_text(_numbered(text))
    message = refused("repo", "add-records", repo, file)
    assert "records.yaml" in message
    for part in expected:
        assert part in message, (part, message)
    with Repository.open(repo) as opened:
        assert opened.records("instrument") == [] and opened.records("skymap") == []


def test_a_record_that_differs_from_the_registry_is_refused_naming_it(repo: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text("instrument:\n  - {instrument: HSC}\nvisit:\n  - {instrument: HSC, visit: 1, band: r}\n")
    ok("repo", "add-records", repo, first)
    second = tmp_path / "second.yaml"
    second.write_text(
        "detector:\n  - {instrument: HSC, detector: 0}\nvisit:\n  - {instrument: HSC, visit: 1, band: i}\n"
    )
    message = refused("repo", "add-records", repo, second)
    assert "second.yaml, line 4" in message
    assert "visit (instrument=HSC visit=1) is already recorded with band 'r', not 'i'" in message
    with Repository.open(repo) as opened:
        assert opened.records("detector") == []  # all or nothing


def test_a_bad_csv_row_is_refused_naming_its_line(repo: Path, tmp_path: Path) -> None:
    file = tmp_path / "detector.csv"
    file.write_text("instrument,detector\nHSC,0\nHSC,x\n")
    instrument = tmp_path / "instrument.csv"
    instrument.write_text("instrument\nHSC\n")
    message = refused("repo", "add-records", repo, instrument, file)
    assert "detector.csv, line 3" in message and "detector must be an integer, not 'x'" in message
    other = tmp_path / "sensors.csv"
    other.write_text("instrument,detector\nHSC,0\n")
    message = refused("repo", "add-records", repo, other)
    assert "sensors.csv" in message and "name the file after the element" in message
    header = tmp_path / "patch.csv"
    header.write_text("skymap,tract,patch,ra\nrings,0,0,1.5\n")
    message = refused("repo", "add-records", repo, header)
    assert "patch.csv, line 1" in message and "unknown field 'ra'" in message


# --- ingest refuses data IDs without records -----------------------------------------------


def test_ingest_refuses_values_without_records_and_says_how_to_add_them(repo: Path, tmp_path: Path) -> None:
    file = tmp_path / "records.yaml"
    file.write_text(RECORDS)
    ok("repo", "add-records", repo, file)
    ok("repo", "register-type", repo, "raw", "--dimensions", "instrument,exposure,detector",
       "--storage-class", "Image")  # fmt: skip
    image = tmp_path / "raw.npy"
    np.save(image, np.zeros((2, 2)))
    ingest = ["repo", "ingest", repo, "raw", image, "--run", "HSC/raw", "--no-graph"]
    message = refused(*ingest, "-d", "instrument=HSC", "-d", "exposure=999", "-d", "detector=7")
    assert "exposure (instrument=HSC exposure=999)" in message
    assert "detector (instrument=HSC detector=7)" in message
    assert "provgraph repo add-records" in message
    message = refused(*ingest, "-d", "instrument=Cam", "-d", "exposure=101", "-d", "detector=0")
    assert "instrument (instrument=Cam)" in message
    ok(*ingest, "-d", "instrument=HSC", "-d", "exposure=101", "-d", "detector=1")
    with Repository.open(repo) as opened:
        assert [ref.data_id for ref, _ in opened.datasets("raw")] == [
            DataId({"instrument": "HSC", "exposure": 101, "detector": 1})
        ]


# --- calibrations with validity ranges -----------------------------------------------------


def _biases(repo: Path, tmp_path: Path) -> None:
    file = tmp_path / "records.yaml"
    file.write_text(RECORDS)
    ok("repo", "add-records", repo, file)
    ok(
        "repo",
        "register-type",
        repo,
        "bias",
        "--dimensions",
        "instrument,detector",
        "--storage-class",
        "Image",
    )
    for run in ("HSC/calib/early", "HSC/calib/late"):
        for detector in (0, 1):
            image = tmp_path / f"bias-{run.rsplit('/', 1)[1]}-{detector}.npy"
            np.save(image, np.zeros((2, 2)))
            ok("repo", "ingest", repo, "bias", image, "-d", "instrument=HSC", "-d", f"detector={detector}",
               "--run", run, "--no-graph")  # fmt: skip


def test_certified_calibrations_are_found_by_the_observation_time(repo: Path, tmp_path: Path) -> None:
    _biases(repo, tmp_path)
    out = ok("repo", "certify", repo, "HSC/calib/early", "HSC/calib", "bias",
             "--begin-date", "2024-02-01T00:00:00", "--end-date", "2024-03-05")  # fmt: skip
    assert "certified 2 bias datasets of run HSC/calib/early into HSC/calib" in " ".join(out.split())
    ok("repo", "certify", repo, "HSC/calib/late", "HSC/calib", "bias", "--begin-date", "2024-03-05")
    # Certifying the same again changes nothing.
    ok("repo", "certify", repo, "HSC/calib/late", "HSC/calib", "bias", "--begin-date", "2024-03-05")
    with Repository.open(repo) as opened:
        assert opened.calibration_collections() == ["HSC/calib"]
        first = DataId({"instrument": "HSC", "exposure": 101, "detector": 1})
        span = opened.timespan(first)
        assert span is not None
        found = opened.find_calibration("bias", first, span, ["HSC/calib"])
        assert found is not None
        assert found[0].run == "HSC/calib/early"
        assert found[0].data_id == DataId({"instrument": "HSC", "detector": 1})
        assert found[1].endswith("bias-early-1.npy")
        second = DataId({"instrument": "HSC", "exposure": 201, "detector": 0})
        span = opened.timespan(second)
        assert span is not None
        found = opened.find_calibration("bias", second, span, ["HSC/calib"])
        assert found is not None and found[0].run == "HSC/calib/late"
        # A point in time, and every calibration collection by default.
        found = opened.find_calibration("bias", second, datetime(2024, 3, 4, 23, 59))
        assert found is not None and found[0].run == "HSC/calib/early"
        assert opened.find_calibration("bias", first, datetime(2024, 1, 1)) is None
        # A validity range includes its beginning and excludes its end.
        found = opened.find_calibration("bias", first, datetime(2024, 3, 5))
        assert found is not None and found[0].run == "HSC/calib/late"
        found = opened.find_calibration("bias", first, datetime(2024, 2, 1))
        assert found is not None and found[0].run == "HSC/calib/early"
        with pytest.raises(RepositoryError, match="'HSC/calib/early' is a run, not a calibration collection"):
            opened.find_calibration("bias", first, span, ["HSC/calib/early"])
        # A span that crosses the boundary between two validity ranges is ambiguous.
        across = Timespan(begin=datetime(2024, 3, 4), end=datetime(2024, 3, 6))
        with pytest.raises(RepositoryError, match="2 bias datasets of HSC/calib are valid"):
            opened.find_calibration("bias", first, across, ["HSC/calib"])
    shown = " ".join(ok("repo", "show", repo).split())
    assert "HSC/calib" in shown and "calibration" in shown


def test_certify_refuses_overlaps_wrong_collections_and_missing_datasets(repo: Path, tmp_path: Path) -> None:
    _biases(repo, tmp_path)
    ok("repo", "certify", repo, "HSC/calib/early", "HSC/calib", "bias", "--end-date", "2024-03-05")
    message = refused("repo", "certify", repo, "HSC/calib/late", "HSC/calib", "bias",
                      "--begin-date", "2024-03-01", "--end-date", "2024-04-01")  # fmt: skip
    assert "bias (instrument=HSC detector=0)" in message
    assert "[2024-03-01T00:00:00, 2024-04-01T00:00:00)" in message
    assert "[-inf, 2024-03-05T00:00:00)" in message
    message = refused("repo", "certify", repo, "HSC/calib/late", "HSC/calib/early", "bias")
    assert "'HSC/calib/early' is a run" in message
    message = refused("repo", "certify", repo, "HSC/calib/nothing", "HSC/calib", "bias")
    assert "no run 'HSC/calib/nothing'" in message
    ok(
        "repo",
        "register-type",
        repo,
        "flat",
        "--dimensions",
        "instrument,detector",
        "--storage-class",
        "Image",
    )
    message = refused("repo", "certify", repo, "HSC/calib/late", "HSC/calib", "flat")
    assert "no flat datasets in run 'HSC/calib/late'" in message
    message = refused("repo", "certify", repo, "HSC/calib/late", "HSC/calib", "bias", "--begin-date", "soon")
    assert "--begin-date" in message and "'soon'" in message and "ISO-8601" in message
    message = refused("repo", "certify", repo, "HSC/calib/late", "HSC/calib", "bias",
                      "--begin-date", "2024-05-01", "--end-date", "2024-04-01")  # fmt: skip
    assert "ends before it begins" in message
    # A run may not take the name of a calibration collection either.
    image = tmp_path / "bias-x.npy"
    np.save(image, np.zeros((2, 2)))
    message = refused("repo", "ingest", repo, "bias", image, "-d", "instrument=HSC", "-d", "detector=0",
                      "--run", "HSC/calib", "--no-graph")  # fmt: skip
    assert "'HSC/calib' is a calibration collection" in message
    with Repository.open(repo) as opened:
        ref = opened.ref("bias", {"instrument": "HSC", "detector": 0}, "HSC/calib/early")
        found = opened.find_calibration("bias", ref.data_id, datetime(2024, 3, 4))
        assert found is not None and found[0] == ref


def test_a_calibration_type_names_no_observation_dimension(repo: Path, tmp_path: Path) -> None:
    _biases(repo, tmp_path)
    ok("repo", "register-type", repo, "raw", "--dimensions", "instrument,exposure,detector",
       "--storage-class", "Image")  # fmt: skip
    with Repository.open(repo) as opened:
        opened.put(
            np.zeros((2, 2)), opened.ref("raw", {"instrument": "HSC", "exposure": 101, "detector": 0}, "r")
        )
    message = refused("repo", "certify", repo, "r", "HSC/calib", "raw")
    assert "raw has dimension exposure" in message


# --- older repositories ----------------------------------------------------------------------


def test_a_format_1_repository_is_upgraded_when_opened_and_again_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "old"
    with Repository.create(path) as made:
        made.register_dataset_type(
            DatasetType(name="bias", dimensions=("instrument", "detector"), storage_class="Image")
        )
    # What version 1 wrote: no calibration tables, format_version: 1.
    db = sqlite3.connect(path / "registry.sqlite3")
    with db:
        db.execute("DROP TABLE certifications")
        db.execute("DROP TABLE calibration_collections")
    db.close()
    config = path / "repository.yaml"
    config.write_text(config.read_text().replace(f"format_version: {FORMAT_VERSION}", "format_version: 1"))
    assert FORMAT_VERSION == 2
    for _ in range(2):
        with Repository.open(path) as opened:
            assert opened.calibration_collections() == []
            assert "bias" in opened.dataset_types()
        assert "format_version: 2" in config.read_text()
        assert "# provenance-graph data repository" in config.read_text()


# --- the documentation's example ------------------------------------------------------------


def _docs_block(heading: str, language: str) -> str:
    section = DOCS.read_text().split(f"\n{heading}\n", 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_documented_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "records.yaml").write_text(_docs_block("### Dimension records from files", "yaml"))
    lines = _docs_block("### Calibrations and validity ranges", "sh").splitlines()
    commands = [line for line in lines if line.startswith("provgraph ")]  # the first makes the .npy
    assert len(commands) == 5
    for line in commands:
        words = shlex.split(line, comments=True)
        assert words[0] == "provgraph"
        for word in words:
            if word.endswith(".npy"):  # the files it ingests
                np.save(tmp_path / word, np.zeros((2, 2)))
        ok(*words[1:], cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    exec(compile(_docs_block("### Calibrations and validity ranges", "python"), str(DOCS), "exec"), {})
