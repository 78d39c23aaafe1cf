"""The small languages of the command line: config overrides, data IDs, and pipetask's and BPS's option spellings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from provenance_graph import __version__
from provenance_graph.cli.main import app
from provenance_graph.cli.query import parse_data_id
from provenance_graph.cli.running import parse_config
from provenance_graph.demo import CALIB_RUN, RAW_RUN, demo_pipeline_path, make_demo_repo
from provenance_graph.errors import InvalidDataIdError, PipelineError
from provenance_graph.planfile import load_plan

PIPELINE = str(demo_pipeline_path())


def test_config_overrides_are_label_field_and_a_yaml_value() -> None:
    parsed = parse_config(
        ["isr:saturation=60000", "calibrate:fail_on=[{visit: 2, detector: 1}]", "isr:sleep=0.5"]
    )
    assert parsed == {
        "isr": {"saturation": 60000, "sleep": 0.5},
        "calibrate": {"fail_on": [{"visit": 2, "detector": 1}]},
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [("isr.saturation=1", "is not LABEL:FIELD=VALUE"), ("isr:saturation", "is not LABEL:FIELD=VALUE"),
     (":x=1", "is not LABEL:FIELD=VALUE"), ("isr:x=[1", "the value is not YAML")],
)  # fmt: skip
def test_bad_config_overrides_name_themselves(item: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as err:
        parse_config([item])
    assert repr(item) in str(err.value)


def test_data_ids_are_json_or_key_values_and_come_out_canonical() -> None:
    canonical = '{"band":"g","patch":10,"skymap":"demo","tract":0}'
    assert parse_data_id("skymap=demo, tract=0,patch=10,band=g") == canonical
    assert parse_data_id('{"tract": 0, "band": "g", "skymap": "demo", "patch": 10}') == canonical
    assert parse_data_id("skymap=demo tract=0 patch=10 band=g") == canonical  # the human form
    with pytest.raises(
        InvalidDataIdError, match="cannot read data ID 'visit': 'visit' is not dimension=value"
    ):
        parse_data_id("visit")
    with pytest.raises(InvalidDataIdError, match="data ID '{not json' is not JSON"):
        parse_data_id("{not json")


# --- pipetask's and BPS's spellings (docs/options.md) ----------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))
COMMAND = typer.main.get_command(app)
#: A Neo4j nothing answers on: these commands must fail (or succeed) before they connect.
NOWHERE = {"NEO4J_URI": "bolt://127.0.0.1:9", "NEO4J_USER": "neo4j", "NEO4J_PASSWORD": "nowhere-8f3a"}


def _command(path: list[str]) -> Any:
    command: Any = COMMAND
    for name in path:
        found = command.get_command(command.context_class(command), name)
        assert found is not None, path
        command = found
    return command


def _option_named(path: list[str], spelling: str) -> Any:
    found = [p for p in _command(path).params if spelling in (*p.opts, *p.secondary_opts)]
    assert len(found) == 1, (path, spelling)
    return found[0]


SPELLINGS = [
    ("-p", "--pipeline"),
    ("-b", "--butler-config", "--butler", "--repo"),
    ("-d", "--data-query", "--where"),
    ("-i", "--input"),
    ("--output-run",),
    ("-o", "--output"),
    ("-c", "--config"),
    ("-q", "--save-qgraph", "--save", "--save-plan"),
]


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize("spellings", SPELLINGS, ids=lambda s: s[-1])
def test_plan_and_run_take_pipetasks_spellings_each_naming_one_option(
    command: str, spellings: tuple[str, ...]
) -> None:
    assert len({_option_named([command], s).name for s in spellings}) == 1


@pytest.mark.parametrize("path", [["run"], ["submit"], ["restart"], ["demo"]])
def test_j_is_processes_everywhere(path: list[str]) -> None:
    option = _option_named(path, "-j")
    assert {"-j", "--processes", "--jobs"} <= {*option.opts, *option.secondary_opts}
    assert "processes" in (option.help or "")


@pytest.mark.parametrize("path", [["submit"], ["restart"], ["run-job"], ["import-qgraph"]])
def test_batch_commands_take_the_butler_spellings(path: list[str]) -> None:
    assert len({_option_named(path, s).name for s in ("-b", "--butler-config", "--butler", "--repo")}) == 1


@pytest.mark.parametrize("path", [["query", "subgraph"], ["query", "prov"], ["viz", "plan"]])
def test_where_is_the_data_query_everywhere(path: list[str]) -> None:
    assert len({_option_named(path, s).name for s in ("-d", "--data-query", "--where")}) == 1


def _all_commands(command: Any, path: list[str]) -> list[list[str]]:
    if not hasattr(command, "list_commands"):
        return [path]
    found = [path]
    for name in command.list_commands(command.context_class(command)):
        sub = command.get_command(command.context_class(command), name)
        assert sub is not None
        found += _all_commands(sub, [*path, name])
    return found


@pytest.mark.parametrize("path", _all_commands(COMMAND, []), ids=lambda p: " ".join(p) or "provgraph")
def test_h_is_help_everywhere(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_version_is_an_option_of_the_top_level_command() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"provenance-graph {__version__}"


def _provgraph(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **NOWHERE, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [PROVGRAPH, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("options") / "repo"
    make_demo_repo(path, 1, 2, write_pixels=False).close()
    return path


def test_o_is_refused_for_our_repositories_naming_output_run(small_repo: Path) -> None:
    for command in ("plan", "run"):  # refused before anything connects to Neo4j
        done = _provgraph(command, "-p", PIPELINE, "-b", str(small_repo), "-o", "u/me/chain")
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        first = done.stderr.splitlines()[0]
        assert first.startswith("error: -o/--output") and "--output-run" in first, done.stderr


@pytest.mark.parametrize("option", [["-o", "u/me/chain"], ["-d", "visit = 1"], ["--output-run", "u/me/r"]])
def test_run_of_a_made_plan_refuses_planning_options_instead_of_ignoring_them(option: list[str]) -> None:
    done = _provgraph("run", "--plan", "some-plan", *option)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    said = " ".join(done.stderr.replace("│", " ").split())  # click's box wraps the line
    assert option[0] in said and "runs a plan made already" in said


@pytest.mark.parametrize("spelling", ["-q", "--save-qgraph", "--save", "--save-plan"])
@pytest.mark.parametrize("pipeline", [["-p", PIPELINE], ["--pipeline", PIPELINE], [PIPELINE]])
def test_our_plan_takes_pipetasks_spellings(
    small_repo: Path, tmp_path: Path, spelling: str, pipeline: list[str]
) -> None:
    saved = tmp_path / "plan.json.gz"
    done = _provgraph(
        "plan", *pipeline, "-b", str(small_repo), "-d", "visit = 1", "-i", RAW_RUN, "-i", CALIB_RUN,
        "--output-run", "u/me/r1", spelling, str(saved), "--no-store",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert load_plan(saved).plan.constraints == "visit = 1"


def test_plan_refuses_a_pipeline_given_twice(small_repo: Path) -> None:
    done = _provgraph("plan", PIPELINE, "-p", PIPELINE, "-b", str(small_repo), "--no-store")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "-p/--pipeline" in done.stderr


@pytest.mark.parametrize("where", ["visit=²", "visit=1,2", "visit = 'a'"])
@pytest.mark.parametrize("path", [["query", "subgraph"], ["viz", "plan"], ["query", "prov"]])
def test_a_bad_where_is_a_data_query_error_without_traceback(
    path: list[str], where: str, tmp_path: Path
) -> None:
    done = _provgraph(*path, "some-plan", "--where", where, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert "(at column" in done.stderr  # the data-query parser's error, pointing at the culprit
