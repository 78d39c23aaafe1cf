"""``provgraph plan``/``run`` on a Rubin pipeline: pipe_base's builder against a real Butler on disk.

The repository is a real one (``Butler.makeRepo``: SQLite registry, file datastore)
with daf_butler's test dimension data, mock raws and a certified prerequisite
calibration, put there by pipe_base's ``DirectButlerRepo``. The pipeline has six
``lsst.pipe.base.tests.mocks.DynamicTestPipelineTask`` tasks: per-detector ones, two
many-to-one visit gathers, a join of both, and a spatial coadd. Its dataset types
start with ``rp_`` so they never meet the demo's or another test's in the shared
database, and every collection starts with the test's namespace so its plans and
datasets are cleaned up.

The repository is built by the shared `tests.support.butler.make_butler_repo` (taken
from branch ``identity``), given this module's six-task pipeline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, read_plan
from tests.integration.test_cli import run

pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")

PIPETASK = str(Path(sys.executable).with_name("pipetask"))

_C = "from lsst.pipe.base.tests.mocks import DynamicConnectionConfig as C"
_VD = '["instrument", "visit", "detector"]'
_V = '["instrument", "visit"]'


def _task(dimensions: str, *lines: str) -> str:
    body = "\n".join(f"        {line}" for line in (_C, f"config.dimensions = {dimensions}", *lines))
    return f"    class: lsst.pipe.base.tests.mocks.DynamicTestPipelineTask\n    config:\n      python: |\n{body}\n"


PIPELINE = (
    "description: Six mock tasks of DRP's shape (test_rubin_preflight)\ntasks:\n"
    + "  rp_isr:\n"
    + _task(
        _VD,
        f'config.inputs["raw"] = C(dataset_type_name="rp_raw", dimensions={_VD})',
        'config.prerequisite_inputs["bias"] = C(dataset_type_name="rp_bias", '
        'dimensions=["instrument", "detector"], is_calibration=True)',
        f'config.outputs["out"] = C(dataset_type_name="rp_postISRCCD", dimensions={_VD})',
    )
    + "  rp_calibrate:\n"
    + _task(
        _VD,
        f'config.inputs["exposure"] = C(dataset_type_name="rp_postISRCCD", dimensions={_VD})',
        f'config.outputs["calexp"] = C(dataset_type_name="rp_calexp", dimensions={_VD})',
        f'config.outputs["src"] = C(dataset_type_name="rp_src", dimensions={_VD})',
    )
    + "  rp_consolidateVisitSummary:\n"
    + _task(
        _V,
        f'config.inputs["calexps"] = C(dataset_type_name="rp_calexp", dimensions={_VD}, multiple=True)',
        f'config.outputs["summary"] = C(dataset_type_name="rp_visitSummary", dimensions={_V})',
    )
    + "  rp_consolidateSourceTable:\n"
    + _task(
        _V,
        f'config.inputs["srcs"] = C(dataset_type_name="rp_src", dimensions={_VD}, multiple=True)',
        f'config.outputs["table"] = C(dataset_type_name="rp_sourceTable_visit", dimensions={_V})',
    )
    + "  rp_analyzeVisit:\n"
    + _task(
        _V,
        f'config.inputs["summary"] = C(dataset_type_name="rp_visitSummary", dimensions={_V})',
        f'config.inputs["sources"] = C(dataset_type_name="rp_sourceTable_visit", dimensions={_V})',
        f'config.outputs["metrics"] = C(dataset_type_name="rp_visitMetrics", dimensions={_V})',
    )
    + "  rp_makeCoadd:\n"
    + _task(
        '["skymap", "tract", "patch", "band"]',
        f'config.inputs["calexps"] = C(dataset_type_name="rp_calexp", dimensions={_VD}, multiple=True)',
        'config.outputs["coadd"] = C(dataset_type_name="rp_deepCoadd", '
        'dimensions=["skymap", "tract", "patch", "band"])',
    )
)

WHERE = "instrument = 'Cam1' AND visit = 1"


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rubin") / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


@pytest.fixture
def butler_repo(tmp_path: Path, pipeline_file: Path, namespace: str) -> tuple[Path, list[str]]:
    """A fresh repository whose collections start with the test's namespace, and its inputs."""
    from tests.support.butler import make_butler_repo

    info = make_butler_repo(tmp_path / "butler", prefix=namespace, pipeline=pipeline_file)
    return info.root, [info.input_run, info.calib_collection]


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory, pipeline_file: Path) -> tuple[Path, list[str]]:
    """A repository for the tests that store nothing."""
    from tests.support.butler import make_butler_repo

    info = make_butler_repo(
        tmp_path_factory.mktemp("shared") / "butler", prefix="rp_shared", pipeline=pipeline_file
    )
    return info.root, [info.input_run, info.calib_collection]


def pipetask_quanta(pipeline: Path, repo: Path, inputs: str, output: str, where: str) -> dict[str, int]:
    """Quanta per task as the real ``pipetask qgraph`` reports them (its summary table)."""
    done = subprocess.run(
        [PIPETASK, "qgraph", "-b", str(repo), "-p", str(pipeline), "-i", inputs, "-o", output, "-d", where],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    total = int(re.search(r"QuantumGraph contains (\d+) quant", text).group(1))  # type: ignore[union-attr]
    rows = dict(
        (label, int(n)) for n, label in re.findall(r"^\s*(\d+)\s+(rp_\w+)\s*$", text, flags=re.MULTILINE)
    )
    assert sum(rows.values()) == total, text
    return rows


def assert_one_line_error(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    for part in parts:
        assert part in done.stderr, done.stderr


def test_plan_stores_what_pipetask_qgraph_reports(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    pipeline_file: Path,
    butler_repo: tuple[Path, list[str]],
) -> None:
    repo, inputs = butler_repo
    qgraph = tmp_path / "graphs" / "plan.qg"
    plan_id = f"{namespace}-rubin"
    done = run(
        ["plan", str(pipeline_file), "--butler-config", str(repo), "-i", ",".join(inputs),
         "-o", f"{namespace}/out", "-d", WHERE, "--save-qgraph", str(qgraph), "--plan-id", plan_id],
        neo4j_settings,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"plan:        {plan_id}" in done.stdout
    expected = pipetask_quanta(pipeline_file, repo, ",".join(inputs), f"{namespace}/pipetask", WHERE)
    assert len(expected) == 6, "every task has quanta"
    assert expected["rp_consolidateVisitSummary"] == 1 < expected["rp_calibrate"], "a many-to-one gather"

    graph = read_plan(store, plan_id)
    assert graph.task_counts() == expected
    plan = graph.plan
    assert plan.metadata["file"] == str(qgraph.resolve())
    assert qgraph.is_file()
    assert plan.metadata["source"] == "lsst-pipe-base"
    assert plan.constraints == WHERE
    assert re.fullmatch(rf"{namespace}/out/\d{{8}}T\d{{6}}Z", plan.output_run), "pipetask's default run"
    assert plan.metadata["lsst_output_collection"] == f"{namespace}/out"
    assert plan.metadata["lsst_input_collections"] == ",".join(inputs)
    isr = next(q for q in graph.in_order() if q.task_label == "rp_isr")
    assert {ref.dataset_type.name for ref in isr.inputs} == {"rp_raw", "rp_bias"}, "the prerequisite"


def test_run_plans_into_the_qgraph_dir_then_runs_the_plan(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    pipeline_file: Path,
    butler_repo: tuple[Path, list[str]],
) -> None:
    repo, inputs = butler_repo
    qgraph_dir = tmp_path / "qgraphs"
    output_run = f"{namespace}/out/run1"
    args = ["run", str(pipeline_file), "-b", str(repo), "-d", WHERE, "--output-run", output_run]
    args += [arg for name in inputs for arg in ("-i", name)]  # repeated, not comma-separated
    done = run([*args, "-o", f"{namespace}/out", "-c", "rp_isr:fail_condition=detector = 2"],
               neo4j_settings, PROVGRAPH_QGRAPH_DIR=str(qgraph_dir))  # fmt: skip
    # Planned, stored and run: the failure made on purpose fails, the rest runs or is blocked.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    failures = [line for line in done.stdout.splitlines() if line.startswith("failed ")]
    assert len(failures) == 1 and failures[0].startswith("failed rp_isr visit=1 detector=2")
    assert f"provgraph run --plan {output_run} --butler {repo}" in done.stdout
    qgraph = qgraph_dir / namespace / "out" / "run1.qg"
    assert qgraph.is_file()
    graph = read_plan(store, output_run)
    assert graph.plan.metadata["file"] == str(qgraph.resolve())
    assert graph.task_counts()["rp_isr"] == 4
    with store.session() as session:
        isr = session.run(
            "MATCH (q:Quantum {plan_id: $plan, task: 'rp_isr'}) RETURN q.status AS s, count(*) AS n",
            plan=output_run,
        ).data()
    assert {row["s"]: row["n"] for row in isr} == {"succeeded": 3, "failed": 1}

    again = run([*args, "-o", f"{namespace}/out"], neo4j_settings, PROVGRAPH_QGRAPH_DIR=str(qgraph_dir))
    assert_one_line_error(again, f"QuantumGraph file {qgraph} exists already", "--save-qgraph")


@pytest.mark.parametrize(
    ("case", "parts"),
    [
        ("missing input", ["has no collection 'rp_shared/nope' (an -i input)", "butler query-collections"]),
        ("empty graph", ["the data query \"instrument = 'Cam1' AND visit = 3\" matches nothing", "is empty"]),
        ("not a repository", ["is not a Butler repository: it has no butler.yaml", "butler.yaml"]),
        ("no repository", ["is not a Butler repository: it does not exist", "butler create REPO"]),
    ],
)
def test_errors_name_the_culprit_in_one_line(
    neo4j_settings: ConnectionSettings,
    tmp_path: Path,
    pipeline_file: Path,
    shared_repo: tuple[Path, list[str]],
    case: str,
    parts: list[str],
) -> None:
    repo, inputs = shared_repo
    butler, where = str(repo), WHERE
    if case == "missing input":
        inputs = [*inputs, "rp_shared/nope"]
    elif case == "empty graph":
        where = "instrument = 'Cam1' AND visit = 3"
    elif case == "not a repository":
        butler = str(tmp_path)
    else:
        butler = str(tmp_path / "nowhere")
    qgraph = tmp_path / "g.qg"
    done = run(
        ["plan", str(pipeline_file), "-b", butler, "-i", ",".join(inputs), "-o", "rp_shared/out",
         "-d", where, "--save-qgraph", str(qgraph), "--no-store"],
        neo4j_settings,
    )  # fmt: skip
    assert_one_line_error(done, *parts)
    assert "ERROR" not in done.stderr, "no log lines of pipe_base beside our error"
    assert not qgraph.exists()


def test_without_the_lsst_stack_a_rubin_pipeline_says_what_to_install(
    neo4j_settings: ConnectionSettings, tmp_path: Path, pipeline_file: Path
) -> None:
    hidden = tmp_path / "hide-lsst"
    (hidden / "lsst").mkdir(parents=True)  # a regular package named lsst wins over the namespace one
    (hidden / "lsst" / "__init__.py").write_text(
        'raise ModuleNotFoundError("No module named \'lsst\'", name="lsst")\n'
    )
    path = os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])
    done = run(
        ["plan", str(pipeline_file), "-b", str(tmp_path), "-i", "x", "-o", "y", "--no-store"],
        neo4j_settings,
        PYTHONPATH=path,
    )
    assert_one_line_error(done, "needs lsst-pipe-base", "pip install 'provenance-graph[lsst]'")
