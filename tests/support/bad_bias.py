"""A demo run with failures for operators' questions: one detector's bias corrupted, its isr quanta failed.

A demo repository of 2 visits x 3 detectors, whose detector `BAD_DETECTOR` bias has NaN
pixels, planned and run by the real ``provgraph run``: the isr quanta of that detector fail
(the demo IsrTask refuses a non-finite bias) and block what lies downstream.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.settings import ConnectionSettings
from tests.integration.test_cli import run

BAD_DETECTOR = 1


def run_with_bad_bias(directory: Path, settings: ConnectionSettings, suffix: str) -> str:
    """Make the repository in ``directory``, run the demo plan on it; return the plan's id."""
    repo = directory / "repo"
    make_demo_repo(repo, visits=2, detectors=3).close()
    bias_file = next((repo / "DemoCam" / "calib" / "bias").glob(f"bias_detector-{BAD_DETECTOR}_*.npy"))
    bias = np.load(bias_file)
    bias[:4, :4] = np.nan  # a corrupted calibration: 16 pixels lost
    np.save(bias_file, bias)
    plan_id = f"t{uuid.uuid4().hex[:12]}-{suffix}"
    done = run(
        [
            "run", str(demo_pipeline_path()), "--repo", str(repo), "--where", "instrument='DemoCam'",
            "--plan-id", plan_id, "--output-run", f"{plan_id}/out", "-j", "2",
        ],
        settings,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # some quanta failed
    return plan_id
