"""What a hostile tester found (issue 16, part A), through the real ``provgraph`` command.

Each case was a traceback, a write outside the repository, a plan file trusted as it was,
or a silent misreading; each is now refused with one of our errors: exit 1, an ``error:``
line naming the culprit (indented hint or context lines may follow), no traceback, and
nothing written where the database is involved.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.errors import RepositoryError
from provenance_graph.model import DataId, Quantum
from provenance_graph.planfile import save_plan
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from provenance_graph.synthetic import drp_plan
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.integration.test_fuzz import _census
from tests.support.fuzz import dataset_id, gzip_json

pytestmark = pytest.mark.reliability

PIPELINE = demo_pipeline_path()
#: The connection variables that would make a command skip the config file under test.
_SERVER_CHOICE = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "NEO4J_TRUSTED_CA")


def provgraph(
    *args: str, env: Mapping[str, str] | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run the real ``provgraph`` with the suite's environment, changed by ``env`` and ``unset``."""
    full = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [PROVGRAPH, *args],
        capture_output=True,
        text=True,
        env={**full, **(env or {})},
        timeout=300,
        check=False,
    )


def refused(done: subprocess.CompletedProcess[str], *culprit: str) -> str:
    """Check ``done`` is one of our errors naming ``culprit`` on its first line; return that line."""
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == 1, output
    first, *rest = done.stderr.splitlines()
    assert first.startswith("error: "), done.stderr
    for word in culprit:
        assert word in first, f"{word!r} is not named in: {first}"
    assert all(line.startswith(" ") for line in rest), f"more than one error line:\n{done.stderr}"
    return first


# --- item 1: run names and the paths derived from them stay inside the repository -------------


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A directory outside the repository; the test fails if a file lands in it."""
    path = tmp_path / "outside"
    path.mkdir()
    yield path
    assert sorted(p for p in path.rglob("*") if p.is_file()) == [], "files were written outside"


def test_a_run_name_that_climbs_out_is_refused_and_nothing_is_written_outside(
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    outside: Path,
    reliability: ReliabilityCounts,
) -> None:
    climb = "../" * len(demo_repo.parts)
    for run, part in (
        (f"x/{climb}{str(outside).lstrip('/')}/run", "'..'"),  # the tester's: 26 files outside
        (f"{namespace}/./r", "'.'"),
        (f"{namespace}//r", "''"),
        (str(outside / "abs"), str(outside / "abs")),
    ):
        for command in ("plan", "run"):
            done = provgraph(
                command, str(PIPELINE), "--repo", str(demo_repo), "--output-run", run,
                "--plan-id", f"{namespace}-climb", env=_env_for(neo4j_settings),
            )  # fmt: skip
            refused(done, "invalid run name", part)
            reliability.count("path escapes refused", 1)


def test_a_symbolic_link_out_of_the_repository_is_refused_at_plan_time_and_by_the_worker(
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    outside: Path,
    reliability: ReliabilityCounts,
) -> None:
    early = demo_repo / f"{namespace}-early"
    early.symlink_to(outside)
    done = provgraph(
        "plan", str(PIPELINE), "--repo", str(demo_repo), "--output-run", f"{early.name}/r",
        "--plan-id", f"{namespace}-early", env=_env_for(neo4j_settings),
    )  # fmt: skip
    refused(done, "leads out of repository", str(early), "symbolic link")
    # A link made after planning: the worker that writes the files resolves the path again.
    late = demo_repo / f"{namespace}-late"
    plan_id = f"{namespace}-late"
    done = provgraph(
        "plan", str(PIPELINE), "--repo", str(demo_repo), "--output-run", f"{late.name}/r",
        "--plan-id", plan_id, env=_env_for(neo4j_settings),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    late.symlink_to(outside)
    done = provgraph("run", "--plan", plan_id, env=_env_for(neo4j_settings))
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "leads out of repository" in done.stdout and str(late) in done.stdout, done.stdout
    assert not any(outside.iterdir())
    late.unlink()
    early.unlink()
    done = provgraph("run", "--plan", plan_id, env=_env_for(neo4j_settings))
    assert done.returncode == 0, done.stdout + done.stderr
    reliability.count("path escapes refused", 2)


def test_a_data_id_value_cannot_lead_a_path_out_of_the_repository(
    demo_repo: Path, reliability: ReliabilityCounts
) -> None:
    with Repository.open(demo_repo) as repo:
        for instrument in ("../../../../../../tmp/x", "a/../../../b"):
            ref = repo.ref("bias", {"instrument": instrument, "detector": 0}, "calib")
            for where in (repo.path, repo.uri):
                with pytest.raises(RepositoryError, match="'..' part that leads out of the repository"):
                    where(ref)
                reliability.count("path escapes refused", 1)


# --- item 2: a plan file is checked whole before anything of it is stored -----------------------

Document = dict[str, Any]


@pytest.fixture(scope="module")
def demo_plan_file(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Document:
    """The document of a plan file of the demo pipeline, saved by ``provgraph plan --save``."""
    path = tmp_path_factory.mktemp("planfile") / "demo.json.gz"
    done = provgraph(
        "plan", str(PIPELINE), "--repo", str(demo_repo), "--output-run", "hardening/run",
        "--plan-id", "hardening-file", "--save", str(path), "--no-store",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document: Document = json.loads(gzip.decompress(path.read_bytes()))
    return document


def _produced(document: Document) -> list[int]:
    """Indexes of the datasets some quantum writes."""
    return sorted({j for q in document["quanta"] for j in q[5]})


def _bad_yaml(doc: Document) -> None:
    doc["plan"]["pipeline"] = "tasks:\n  isr: [unclosed\n"


def _stale_digest(doc: Document) -> None:  # the edited config is what would run
    doc["plan"]["pipeline"] = doc["plan"]["pipeline"].replace("saturation: 60000.0", "saturation: 1.0")


def _unknown_task(doc: Document) -> None:
    quantum = doc["quanta"][3]
    quantum[1] = "stowaway"
    quantum[0] = Quantum(task_label="stowaway", data_id=DataId(quantum[2]), run=quantum[3]).id


def _outputs_removed(doc: Document) -> None:
    doc["quanta"][0][5] = []


def _output_swapped(doc: Document) -> None:  # an output of another quantum's task instead
    first, other = doc["quanta"][0], next(q for q in doc["quanta"] if q[1] != doc["quanta"][0][1])
    first[5] = [*other[5]]
    other[5] = []


def _uri_at_etc_passwd(doc: Document) -> None:
    doc["datasets"][_produced(doc)[0]][4] = "file:///etc/passwd"


def _uri_climbing_out(doc: Document) -> None:
    entry = doc["datasets"][_produced(doc)[0]]
    entry[4] = entry[4].rsplit("/", 1)[0] + "/../../../../../../../../../etc/passwd"


def _uri_of_another_scheme(doc: Document) -> None:
    doc["datasets"][0][4] = "https://example.org/raw.fits"


def _visit_as_text(doc: Document) -> None:
    entry = next(e for e in doc["datasets"] if "visit" in e[2])
    entry[2]["visit"] = str(entry[2]["visit"])
    entry[0] = dataset_id(entry[3], entry[1], entry[2])


def _instrument_as_number(doc: Document) -> None:
    quantum = doc["quanta"][0]
    quantum[2]["instrument"] = 7
    quantum[0] = Quantum(task_label=quantum[1], data_id=DataId(quantum[2]), run=quantum[3]).id


def _run_climbing_out(doc: Document) -> None:
    doc["plan"]["output_run"] = "x/../../../../outside"


def _dataset_type_redefined(doc: Document) -> None:
    kind = next(t for t in doc["dataset_types"] if t["name"] == "calexp")
    kind["storage_class"] = "StructuredData"


TAMPERED: dict[str, tuple[Callable[[Document], None], list[str]]] = {
    "pipeline not YAML": (_bad_yaml, ["plan: pipeline", "not valid YAML"]),
    "pipeline edited, digest stale": (_stale_digest, ["plan: pipeline_digest", "changed after planning"]),
    "quantum of a task not in the pipeline": (
        _unknown_task,
        ["quanta[3]", "'stowaway'", "not in the pipeline"],
    ),
    "quantum outputs removed": (
        _outputs_removed,
        ["quanta[0]", "not what the connections of task 'isr' derive", "lacks"],
    ),
    "quantum outputs of another task": (
        _output_swapped,
        ["quanta[0]", "not what the connections", "besides"],
    ),
    "output URI at /etc/passwd": (_uri_at_etc_passwd, ["datasets[", "'file:///etc/passwd'", "outside"]),
    "output URI climbing out": (_uri_climbing_out, ["datasets[", "outside the plan's repository"]),
    "URI of another scheme": (_uri_of_another_scheme, ["datasets[0]", "not a file:// URI"]),
    "visit as text": (_visit_as_text, ["datasets[", "'visit'", "is a string, not an integer"]),
    "instrument as a number": (
        _instrument_as_number,
        ["quanta[0]", "'instrument'", "is an integer, not a string"],
    ),
    "run name climbing out": (_run_climbing_out, ["plan: ", "invalid run name", "'..'"]),
    "dataset type redefined": (_dataset_type_redefined, ["dataset_types[", "'calexp'", "plan's pipeline"]),
}


@pytest.mark.parametrize("case", TAMPERED, ids=TAMPERED.keys())
def test_a_tampered_plan_file_is_refused_naming_the_entry_and_writes_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    demo_plan_file: Document,
    tmp_path: Path,
    case: str,
    reliability: ReliabilityCounts,
) -> None:
    tamper, culprit = TAMPERED[case]
    document = copy.deepcopy(demo_plan_file)
    tamper(document)
    path = tmp_path / "tampered.json.gz"
    path.write_bytes(gzip_json(document))
    before = _census(store)
    for args in (["plans", "import", str(path)], ["run", "--plan", str(path)]):
        done = provgraph(*args, env=_env_for(neo4j_settings))
        refused(done, str(path), *culprit)
        assert _census(store) == before, f"{args} refused, yet wrote"
    reliability.count("tampered plan files refused", 1)
    if "URI" in case or "run name" in case:
        reliability.count("path escapes refused", 1)


def test_the_untampered_plan_file_is_imported(
    store: GraphStore, neo4j_settings: ConnectionSettings, demo_plan_file: Document, tmp_path: Path
) -> None:
    path = tmp_path / "plan.json.gz"
    path.write_bytes(gzip_json(demo_plan_file))
    try:
        done = provgraph("plans", "import", str(path), env=_env_for(neo4j_settings))
        assert done.returncode == 0, done.stderr
    finally:
        provgraph("plans", "delete", "hardening-file", env=_env_for(neo4j_settings))


def test_deleting_a_plan_that_read_its_own_output_run_leaves_nothing_behind(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    """A plan with no pipeline of ours (a QuantumGraph's, a synthetic one) is not checked
    against one. Its isr quantum's outputs removed, it reads them from its own output run as
    inputs nothing produces: stored, that input was a node no delete removed, and it then
    blocked the plan that does produce it."""
    plan_id = f"{namespace}-stray"
    graph = drp_plan(
        1, 2, plan_id=plan_id, output_run=f"{namespace}/run", raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )  # fmt: skip
    shared = [ref for ref in graph.initial_inputs() if ref.run != graph.plan.output_run]
    good = tmp_path / "good.json.gz"
    save_plan(graph, good)
    document: Document = json.loads(gzip.decompress(good.read_bytes()))
    isr = next(q for q in document["quanta"] if q[1] == "isr")
    isr[5] = []
    stray = tmp_path / "stray.json.gz"
    stray.write_bytes(gzip_json(document))
    env = _env_for(neo4j_settings)
    nodes, relationships = _census(store)
    assert provgraph("plans", "import", str(stray), env=env).returncode == 0
    deleted = provgraph("plans", "delete", plan_id, env=env)
    assert deleted.returncode == 0, deleted.stderr
    # Only the inputs of other runs stay: raw data and calibrations other plans may share.
    left = _census(store)[0] - nodes - len(shared)
    reliability.count("nodes a deleted plan left behind", left)
    assert (left, _census(store)[1]) == (0, relationships), "every node the plan owned is gone"
    done = provgraph("plans", "import", str(good), env=env)
    assert done.returncode == 0, done.stderr


# --- item 3: tracebacks that are now one-line errors -------------------------------------------


def test_a_where_range_of_2_to_the_63_values_is_one_line(
    neo4j_settings: ConnectionSettings, demo_repo: Path, reliability: ReliabilityCounts
) -> None:
    for where in ("visit IN (0..9223372036854775807)", "visit NOT IN (-9223372036854775808..0, 1)"):
        done = provgraph(
            "plan", str(PIPELINE), "--repo", str(demo_repo), "--where", where, "--no-store",
            env=_env_for(neo4j_settings),
        )  # fmt: skip
        refused(done, "range", "values")
        reliability.count("tracebacks now one-line errors", 1)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_pipeline_file_that_is_a_device_is_refused_unread(
    device: str, demo_repo: Path, reliability: ReliabilityCounts
) -> None:
    done = provgraph("plan", device, "--repo", str(demo_repo), "--no-store")
    refused(done, device, "not a regular file")
    reliability.count("tracebacks now one-line errors", 1)


def test_a_pipeline_file_over_10_mb_is_refused_unparsed(
    demo_repo: Path, tmp_path: Path, reliability: ReliabilityCounts
) -> None:
    big = tmp_path / "big.yaml"
    with big.open("w") as handle:  # valid YAML: the demo pipeline and 11 MB of comments
        handle.write(PIPELINE.read_text())
        line = "# " + "x" * 98 + "\n"
        handle.writelines(line for _ in range(110_000))
    done = provgraph("plan", str(big), "--repo", str(demo_repo), "--no-store")
    refused(done, str(big), "larger than 10 MB")
    reliability.count("tracebacks now one-line errors", 1)


@pytest.mark.parametrize(
    ("config", "culprit"),
    [
        ("neo4j = 'x'\n", ["'neo4j' must be a table"]),
        ("server = [1, 2]\n", ["'server' must be a table"]),
        ('[neo4j]\nuri = "http://127.0.0.1:7474"\npassword = "pw"\n', ["uri", "'http'", "bolt"]),
    ],
)
def test_a_malformed_config_file_is_one_line(
    config: str, culprit: list[str], tmp_path: Path, reliability: ReliabilityCounts
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config)
    done = provgraph("plans", "list", env={"PROVGRAPH_CONFIG": str(path)}, unset=_SERVER_CHOICE)
    refused(done, str(path), *culprit)
    reliability.count("tracebacks now one-line errors", 1)


def test_an_http_uri_in_the_environment_is_one_line(reliability: ReliabilityCounts) -> None:
    done = provgraph(
        "plans", "list", env={"NEO4J_URI": "http://neo4j:secret@127.0.0.1:7474", "NEO4J_PASSWORD": "pw"}
    )
    line = refused(done, "uri", "'http'", "neo4j+ssc")
    assert "secret" not in done.stdout + done.stderr, "only the scheme of the URI is shown"
    assert "aiohttp" not in line
    reliability.count("tracebacks now one-line errors", 1)


@pytest.mark.parametrize(
    ("variable", "value"), [("PROVGRAPH_BATCH_QUANTA", "²"), ("PROVGRAPH_BATCH_DATASETS", "7" * 5000)]
)
def test_a_malformed_batch_size_is_one_line_and_writes_nothing(
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    variable: str,
    value: str,
    reliability: ReliabilityCounts,
) -> None:
    plan_id = f"{namespace}-batch"
    done = provgraph(
        "plan", str(PIPELINE), "--repo", str(demo_repo), "--plan-id", plan_id, "--output-run", f"{namespace}/b",
        env={**_env_for(neo4j_settings), variable: value},
    )  # fmt: skip
    refused(done, variable, "whole number")
    assert len(done.stderr) < 1000, "the value is shortened"
    listed = provgraph("plans", "list", "--all", env=_env_for(neo4j_settings))
    assert plan_id not in listed.stdout
    reliability.count("tracebacks now one-line errors", 1)


@pytest.mark.parametrize(
    "value", ["plan.batch", "plan.batch:²", "no.such.point:1", "run.claimed:0", "plan.batch:x"]
)
def test_a_malformed_crash_point_is_one_line(value: str, reliability: ReliabilityCounts) -> None:
    done = provgraph("plans", "list", env={"PROVGRAPH_CRASH_AT": value})
    refused(done, "PROVGRAPH_CRASH_AT", "NAME:N")
    reliability.count("tracebacks now one-line errors", 1)


# --- item 4: duplicate YAML keys ----------------------------------------------------------------

_SECOND_ISR = "  isr:\n    class: provenance_graph.demo.tasks.IsrTask\n    config:\n      saturation: 1.0\n"


def test_a_task_label_given_twice_is_refused_naming_both_lines(
    demo_repo: Path, tmp_path: Path, reliability: ReliabilityCounts
) -> None:
    text = PIPELINE.read_text()
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line == "  isr:")
    path = tmp_path / "twice.yaml"
    path.write_text(text + _SECOND_ISR)  # the same label at the end: it used to win silently
    again = len(text.splitlines()) + 1
    done = provgraph("plan", str(path), "--repo", str(demo_repo), "--no-store")
    refused(done, str(path), "duplicate key 'isr'", f"line {first}", f"line {again}")
    # Two different tasks under one label: it used to be an error about an unrelated input.
    path.write_text(text.replace("  calibrate:\n", "  characterizeImage:\n", 1))
    done = provgraph("plan", str(path), "--repo", str(demo_repo), "--no-store")
    refused(done, "duplicate key 'characterizeImage'")
    reliability.count("duplicate YAML keys refused", 2)


def test_a_key_given_twice_deeper_or_in_a_config_override_is_refused(
    demo_repo: Path, tmp_path: Path, reliability: ReliabilityCounts
) -> None:
    text = PIPELINE.read_text().replace(
        "      saturation: 60000.0\n", "      saturation: 60000.0\n      saturation: 1.0\n"
    )
    path = tmp_path / "config-twice.yaml"
    path.write_text(text)
    done = provgraph("plan", str(path), "--repo", str(demo_repo), "--no-store")
    refused(done, "duplicate key 'saturation'")
    done = provgraph(
        "run", str(PIPELINE), "--repo", str(demo_repo), "-c", "isr:fail_on=[{visit: 1, visit: 2}]"
    )
    refused(done, "isr:fail_on", "duplicate key 'visit'")
    reliability.count("duplicate YAML keys refused", 2)


# --- item 5: smaller ------------------------------------------------------------------------------


def test_an_infinite_retry_window_is_refused_alike_in_the_config_file_and_the_environment(
    tmp_path: Path, reliability: ReliabilityCounts
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[neo4j]\nuri = "neo4j://127.0.0.1:9"\npassword = "pw"\nretry_seconds = inf\n')
    from_file = provgraph("plans", "list", env={"PROVGRAPH_CONFIG": str(path)}, unset=_SERVER_CHOICE)
    from_env = provgraph(
        "plans",
        "list",
        env={"NEO4J_URI": "neo4j://127.0.0.1:9", "NEO4J_PASSWORD": "pw", "NEO4J_RETRY_SECONDS": "inf"},
    )
    refused(from_file, "retry_seconds = inf", str(path), "is not a number of seconds")
    refused(from_env, "NEO4J_RETRY_SECONDS='inf'", "is not a number of seconds")
    assert from_file.stderr.splitlines()[1:] == from_env.stderr.splitlines()[1:], "the same hint"
    reliability.count("misconfigurations refused", 2)


def test_a_missing_provgraph_home_is_an_error_and_is_not_created(
    tmp_path: Path, reliability: ReliabilityCounts
) -> None:
    home = tmp_path / "no-such-home"
    empty = tmp_path / "config.toml"
    empty.write_text("")
    env = {"PROVGRAPH_HOME": str(home), "PROVGRAPH_CONFIG": str(empty)}
    for args in (["plans", "list"], ["server", "status"]):
        done = provgraph(*args, env=env, unset=_SERVER_CHOICE)
        line = refused(done, str(home), "PROVGRAPH_HOME", "does not exist")
        assert "provgraph server start" in done.stderr, line
        assert not home.exists()
    reliability.count("misconfigurations refused", 2)


def test_a_bad_plan_id_is_called_a_plan_id(
    neo4j_settings: ConnectionSettings, demo_repo: Path, reliability: ReliabilityCounts
) -> None:
    for plan_id in ("bad id", "-dash", "x;y"):
        done = provgraph(
            "plan", str(PIPELINE), "--repo", str(demo_repo), "--plan-id", plan_id, "--no-store",
            env=_env_for(neo4j_settings),
        )  # fmt: skip
        line = refused(done, f"invalid plan id {plan_id!r}")
        assert "run name" not in done.stderr, line
        reliability.count("misconfigurations refused", 1)
