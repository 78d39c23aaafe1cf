"""Prerequisite calibrations are chosen by the validity range that covers the observation's time.

The repository is built from the command line alone (records, types, files, certification),
as a user would; pre-flight then picks each exposure's bias by its time span.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from provenance_graph.model import NoteKind
from provenance_graph.planfile import load_plan

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))

RECORDS = """\
instrument:
  - {instrument: HSC}
detector:
  - {instrument: HSC, detector: 0}
visit:
  - {instrument: HSC, visit: 1, band: r, timespan: [2024-03-01T03:00:00, 2024-03-01T03:00:30]}
  - {instrument: HSC, visit: 2, band: r, timespan: [2024-03-09T03:00:00, 2024-03-09T03:00:30]}
  - {instrument: HSC, visit: 3, band: r, timespan: [2024-04-20T03:00:00, 2024-04-20T03:00:30]}
exposure:
  - {instrument: HSC, exposure: 101, visit: 1, timespan: [2024-03-01T03:00:00, 2024-03-01T03:00:30]}
  - {instrument: HSC, exposure: 201, visit: 2, timespan: [2024-03-09T03:00:00, 2024-03-09T03:00:30]}
  - {instrument: HSC, exposure: 301, visit: 3, timespan: [2024-04-20T03:00:00, 2024-04-20T03:00:30]}
"""

PIPELINE = """\
tasks:
  isr:
    class: provenance_graph.demo.tasks.IsrTask
"""


def _provgraph(*args: str) -> str:
    done = subprocess.run([PROVGRAPH, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_exposure_gets_the_bias_valid_at_its_time(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    (tmp_path / "records.yaml").write_text(RECORDS)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    image = tmp_path / "image.npy"
    np.save(image, np.zeros((4, 4), dtype="f4"))
    _provgraph("repo", "create", repo)
    _provgraph("repo", "add-records", repo, str(tmp_path / "records.yaml"))
    for name, dims in (("raw", "instrument,exposure,detector"), ("bias", "instrument,detector")):
        _provgraph("repo", "register-type", repo, name, "--dimensions", dims, "--storage-class", "Image")
    for exposure in (101, 201, 301):
        ingest = ["repo", "ingest", repo, "raw", str(image), "--run", "raw/all", "--no-graph"]
        _provgraph(*ingest, "-d", "instrument=HSC", "-d", f"exposure={exposure}", "-d", "detector=0")
    for run in ("calib/early", "calib/late"):
        ingest = ["repo", "ingest", repo, "bias", str(image), "--run", run, "--no-graph"]
        _provgraph(*ingest, "-d", "instrument=HSC", "-d", "detector=0")
    certify = ["repo", "certify", repo]
    _provgraph(
        *certify, "calib/early", "calib", "bias", "--begin-date", "2024-02-01", "--end-date", "2024-03-05"
    )
    _provgraph(
        *certify, "calib/late", "calib", "bias", "--begin-date", "2024-03-05", "--end-date", "2024-04-01"
    )

    plan_file = tmp_path / "plan.json.gz"
    _provgraph(
        "plan", str(tmp_path / "pipeline.yaml"), "--repo", repo, "--no-store", "--save", str(plan_file)
    )
    graph = load_plan(plan_file)
    bias_run = {
        q.data_id["exposure"]: [r.run for r in q.inputs if r.dataset_type.name == "bias"]
        for q in graph.quanta.values()
    }
    assert bias_run == {101: ["calib/early"], 201: ["calib/late"]}
    [note] = graph.notes
    assert note.kind is NoteKind.MISSING_PREREQUISITE
    assert [d["exposure"] for d in note.data_ids] == [301]
    assert "none valid at" in note.message and "2024-04-20" in note.message
