"""Which pipeline YAML is Rubin's, and the small pieces of planning one (no Butler, no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from provenance_graph.activators import default_qgraph_path
from provenance_graph.cli._rubin import split_collections
from provenance_graph.errors import PipelineError, PreflightError
from provenance_graph.interop.rubin_preflight import (
    default_rubin_output_run,
    is_rubin_pipeline,
    parse_rubin_config,
)

DEMO = Path(__file__).parents[2] / "provenance_graph" / "demo" / "pipeline.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_our_demo_pipeline_is_ours() -> None:
    assert not is_rubin_pipeline(DEMO)


@pytest.mark.parametrize(
    "text",
    [
        "instrument: lsst.obs.subaru.HyperSuprimeCam\ntasks: {}\n",
        "imports:\n  - location: $DRP_PIPE_DIR/pipelines/HSC/DRP-RC2.yaml\n",
        "tasks:\n  isr: lsst.ip.isr.IsrTask\n",  # a task as a bare class string
        "tasks:\n  isr:\n    class: lsst.ip.isr.IsrTask\n",  # lsst namespace: decided without importing
        "tasks:\n  isr:\n    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask\n",
    ],
)
def test_rubin_shapes_are_rubin(tmp_path: Path, text: str) -> None:
    assert is_rubin_pipeline(write(tmp_path, text))


def test_a_rubin_task_outside_the_lsst_namespace_is_rubin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")
    (tmp_path / "rp_site_tasks.py").write_text(
        "from lsst.pipe.base.tests.mocks import DynamicTestPipelineTask\n"
        "class SiteTask(DynamicTestPipelineTask):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert is_rubin_pipeline(write(tmp_path, "tasks:\n  site:\n    class: rp_site_tasks.SiteTask\n"))


@pytest.mark.parametrize(
    "text",
    [
        "tasks: [1, 2\n",  # not YAML: our loader names the problem
        "- a list\n",
        "tasks:\n  isr:\n    class: provenance_graph.demo.tasks.NoSuchTask\n",
        "tasks:\n  isr:\n    class: no_such_package.tasks.IsrTask\n",
    ],
)
def test_everything_else_is_left_to_our_loader(tmp_path: Path, text: str) -> None:
    assert not is_rubin_pipeline(write(tmp_path, text))


def test_config_overrides_keep_pipetask_strings() -> None:
    assert parse_rubin_config(["isr:doBias=False", "calibrate:fail_condition=detector = 1"]) == [
        ("isr", "doBias", "False"),
        ("calibrate", "fail_condition", "detector = 1"),
    ]
    with pytest.raises(PipelineError, match="'isr.doBias=False' is not LABEL:FIELD=VALUE"):
        parse_rubin_config(["isr.doBias=False"])


def test_inputs_are_comma_separated_or_repeated() -> None:
    assert split_collections(["HSC/raw/all,HSC/calib", " refcats ", "a,,b"]) == [
        "HSC/raw/all",
        "HSC/calib",
        "refcats",
        "a",
        "b",
    ]
    assert split_collections(None) == []


def test_default_output_run_is_pipetasks() -> None:
    when = dt.datetime(2026, 12, 4, 18, 30, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert default_rubin_output_run("u/jdoe/drp", when) == "u/jdoe/drp/20261204T173000Z"


def test_default_qgraph_file_is_under_the_qgraph_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVGRAPH_QGRAPH_DIR", str(tmp_path / "qgraphs"))
    assert default_qgraph_path("u/jdoe/drp/20261204T173000Z") == (
        tmp_path / "qgraphs" / "u" / "jdoe" / "drp" / "20261204T173000Z.qg"
    )
    for bad in ("u/../../etc/x", "/abs", "u//x"):
        with pytest.raises(PreflightError, match="cannot name a file"):
            default_qgraph_path(bad)
