"""Fuzzed input through the ``provgraph`` command (issue 8): refused with one line, and nothing written.

The six kinds of input a user types or hands over (pipeline YAML, data queries, data IDs,
dataset type names, config overrides and plan files) are generated as in
``tests/unit/test_fuzz_parsers.py`` and given to the real commands that read them. Each
command is run in this process, the way ``provgraph``'s ``main()`` runs it, with stdout and
stderr set up as a real process has them. Any exception that leaves ``main()`` would be a
traceback. A refusal must exit 1 with our ``error:`` line, and leave the database exactly
as it was: every node and relationship is counted before and after. An accepted input is
stored, and its plan deleted again.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from provenance_graph.cli.main import main
from provenance_graph.demo import demo_pipeline_path
from provenance_graph.model import DataId, DatasetRef, DatasetType, Plan, PlanGraph, Quantum
from provenance_graph.planfile import save_plan
from provenance_graph.repository import Repository
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.support import fuzz
from tests.support.fuzz import fuzz_settings, tried

pytestmark = pytest.mark.reliability

PIPELINE = str(demo_pipeline_path())
WHERE = "--where=instrument = 'DemoCam'"
_counter = itertools.count()


@dataclass(frozen=True)
class Outcome:
    """How a ``provgraph`` command ended."""

    code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _process_streams() -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """stdout and stderr as a process has them in a UTF-8 locale: stderr escapes what it cannot encode."""
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", errors="strict", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            yield out, err
    finally:
        stdout.detach()  # or collecting the wrappers would close the buffers
        stderr.detach()


def provgraph(args: list[str], settings: ConnectionSettings) -> Outcome:
    """Run ``provgraph ARGS`` in this process; an exception escaping ``main()`` fails the test."""
    with (
        mock.patch.dict(os.environ, _env_for(settings)),
        mock.patch.object(sys, "argv", ["provgraph", *args]),
        _process_streams() as (out, err),
    ):
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else int(done.code is not None)
        except BaseException as escaped:  # what a real process would print as a traceback
            raise AssertionError(
                f"provgraph {args!r} would print a traceback: {type(escaped).__name__}: {escaped}"[:2000]
            ) from escaped
    return Outcome(code, out.getvalue().decode(), err.getvalue().decode())


def _census(store: GraphStore) -> tuple[int, int]:
    """Every node and every relationship in the database."""
    with store.session() as session:
        nodes = session.run("MATCH (n) RETURN count(n) AS n").single(strict=True)["n"]
        rels = session.run("MATCH ()-[r]->() RETURN count(r) AS n").single(strict=True)["n"]
    return int(nodes), int(rels)


def check(store: GraphStore, settings: ConnectionSettings, args: list[str]) -> Outcome:
    """Run a command; if it refuses, it says so in one ``error:`` line and writes nothing."""
    before = _census(store)
    done = provgraph(args, settings)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    if done.code != 0:
        assert done.code == 1, (done.code, done.stderr)
        assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()[0]) > len("error: "), (
            done.stderr
        )
        assert _census(store) == before, f"provgraph {args!r} refused, yet wrote: {done.stderr}"
    return done


def _ids(namespace: str) -> tuple[str, str]:
    n = next(_counter)
    return f"{namespace}-fz{n}", f"{namespace}/fz{n}"


def _plan(
    store: GraphStore, settings: ConnectionSettings, namespace: str, pipeline: str, repo: Path, where: str
) -> Outcome:
    """``provgraph plan``; an accepted plan is deleted again."""
    plan_id, run = _ids(namespace)
    args = ["plan", pipeline, "--repo", str(repo), where, "--output-run", run, "--plan-id", plan_id]
    done = check(store, settings, args)
    if done.code == 0:
        delete_plan(store, plan_id)
    return done


# --- pipeline YAML and data queries: provgraph plan ----------------------------------------


@fuzz_settings(40)
@given(data=fuzz.pipeline_files() | fuzz.random_pipeline_files)
def test_bad_pipeline_files_are_refused_by_plan_and_write_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    tmp_path: Path,
    reliability: ReliabilityCounts,
    data: bytes,
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(data)
    done = _plan(store, neo4j_settings, namespace, str(path), demo_repo, WHERE)
    tried(reliability, "pipeline YAML", done.code == 0, command=True)


@fuzz_settings(40)
@given(where=fuzz.expressions)
@example(where="instrument = '\udcff'").via("reached Neo4j, which cannot encode it: UnicodeEncodeError")
def test_bad_data_queries_are_refused_by_plan_and_write_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    reliability: ReliabilityCounts,
    where: str,
) -> None:
    done = _plan(store, neo4j_settings, namespace, PIPELINE, demo_repo, f"--where={where}")
    tried(reliability, "data-query expressions", done.code == 0, command=True)


def test_an_undecodable_byte_in_a_real_command_line_is_refused_in_one_line(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    reliability: ReliabilityCounts,
) -> None:
    """What the in-process runs stand for: a real process, whose argv holds a byte that is not UTF-8."""
    plan_id, run = _ids(namespace)
    args = ["plan", PIPELINE, "--repo", str(demo_repo), "--output-run", run, "--plan-id", plan_id]
    before = _census(store)
    done = subprocess.run(
        [PROVGRAPH.encode(), *(a.encode() for a in args), b"--where=instrument = '\xff'"],
        capture_output=True,
        env={**os.environ, **_env_for(neo4j_settings)},
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 1 and b"Traceback" not in done.stdout + done.stderr, stderr
    assert stderr.startswith("error: the expression is not valid Unicode"), stderr
    assert _census(store) == before
    tried(reliability, "data-query expressions", False, command=True)


# --- config overrides: provgraph run -c -----------------------------------------------------


@fuzz_settings(20)
@given(items=fuzz.config_overrides)
def test_bad_config_overrides_are_refused_by_run_and_write_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    demo_repo: Path,
    reliability: ReliabilityCounts,
    items: list[str],
) -> None:
    # An input run that does not exist stops even a good override before anything runs:
    # the overrides are checked first, then pre-flight refuses the run.
    plan_id, run = _ids(namespace)
    options = [f"--config={item}" for item in items]
    args = ["run", PIPELINE, "--repo", str(demo_repo), WHERE, "--input", "no/such/run", *options]
    done = check(store, neo4j_settings, [*args, "--output-run", run, "--plan-id", plan_id])
    assert done.code == 1
    overrides_accepted = "input run 'no/such/run' is not in the repository" in done.stderr
    tried(reliability, "config overrides", overrides_accepted, command=True)


# --- plan files: provgraph plans import -----------------------------------------------------


#: A small valid plan file's document; its id and runs are this session's own.
_SESSION = f"fz{uuid.uuid4().hex[:12]}"
DOCUMENT = fuzz.plan_document(f"{_SESSION}-plan", f"{_SESSION}/run")


@pytest.fixture
def session_runs(store: GraphStore) -> Iterator[None]:
    """Afterwards, delete the input datasets that accepted imports of `DOCUMENT` left."""
    yield
    store.autocommit("datasets_delete_orphans", run_prefix=_SESSION)


@pytest.mark.usefixtures("session_runs")
@fuzz_settings(50)
@given(data=fuzz.plan_files(DOCUMENT) | fuzz.random_plan_files)
@example(data=fuzz.with_data_id_value(DOCUMENT, "exposure", 2**63)).via("OverflowError in the Neo4j driver")
@example(data=fuzz.with_data_id_value(DOCUMENT, "instrument", "\udcff")).via(
    "UnicodeEncodeError in stable_id"
)
def test_bad_plan_files_are_refused_by_import_and_write_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    tmp_path: Path,
    reliability: ReliabilityCounts,
    data: bytes,
) -> None:
    path = tmp_path / "plan.json.gz"
    path.write_bytes(data)
    done = check(store, neo4j_settings, ["plans", "import", str(path)])
    if done.code == 0:
        delete_plan(store, DOCUMENT["plan"]["id"])
    tried(reliability, "plan files", done.code == 0, command=True)


# --- data IDs and dataset type names: provgraph query, provgraph repo -----------------------


@pytest.fixture(scope="module")
def scratch_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An empty repository with ``raw`` registered, and a file to ingest."""
    path = tmp_path_factory.mktemp("fuzz") / "scratch"
    with Repository.create(path) as repo:
        repo.register_dataset_type(
            DatasetType(name="raw", dimensions=("instrument", "exposure", "detector"), storage_class="Image")
        )
    file = path.parent / "raw.npy"
    file.write_bytes(b"\x93NUMPY")
    return path, file


@fuzz_settings(20)
@given(text=fuzz.data_id_texts, items=fuzz.data_id_items.filter(bool))  # --data-id is required
def test_bad_data_ids_are_refused_by_query_and_ingest_and_write_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    scratch_repo: tuple[Path, Path],
    reliability: ReliabilityCounts,
    text: str,
    items: list[str],
) -> None:
    lineage = check(store, neo4j_settings, ["query", "lineage", "--type", "raw", f"--data-id={text}"])
    tried(reliability, "data IDs", "no raw dataset with data ID" in lineage.stderr, command=True)
    history = check(store, neo4j_settings, ["query", "history", "--json", "--", text])
    tried(reliability, "data IDs", history.code == 0, command=True)
    repo, file = scratch_repo
    ingest = ["repo", "ingest", str(repo), "raw", str(file), f"--run={namespace}/ingest"]
    done = check(store, neo4j_settings, [*ingest, *(f"--data-id={item}" for item in items)])
    tried(reliability, "data IDs", done.code == 0, command=True)


@fuzz_settings(20)
@given(name=fuzz.dataset_type_names, dims=st.lists(fuzz.dimension_names, max_size=3), storage=fuzz.any_text)
def test_bad_dataset_type_names_are_refused_and_write_nothing(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    scratch_repo: tuple[Path, Path],
    reliability: ReliabilityCounts,
    name: str,
    dims: list[str],
    storage: str,
) -> None:
    done = check(store, neo4j_settings, ["query", "lineage", f"--type={name}", "--data-id=visit=1"])
    tried(reliability, "dataset type names", "dataset with data ID" in done.stderr, command=True)
    repo, _ = scratch_repo
    register = ["repo", "register-type", str(repo), f"--dimensions={','.join(dims)}"]
    done = check(store, neo4j_settings, [*register, f"--storage-class={storage}", "--", name])
    tried(reliability, "dataset type names", done.code == 0, command=True)


# --- found by hand while fuzzing ---------------------------------------------------------
# write_plan registered a plan's dataset types before it claimed the plan id, so a refused
# write left new ones behind.


def test_a_refused_import_over_a_taken_plan_id_writes_nothing(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    plan_id, run = _ids(namespace)
    taken = fuzz.plan_document(plan_id, run)
    first = tmp_path / "first.json.gz"
    first.write_bytes(fuzz.gzip_json(taken))
    assert provgraph(["plans", "import", str(first)], neo4j_settings).code == 0
    # Another plan under the same id, writing a dataset type the database has never seen.
    data_id = DataId({"visit": 1})
    new_type = DatasetType(name=f"fz_{namespace}", dimensions=("visit",), storage_class="Image")
    output = DatasetRef(dataset_type=new_type, data_id=data_id, run=run)
    quantum = Quantum(task_label="fuzz", data_id=data_id, run=run, outputs=(output,))
    other = tmp_path / "other.json.gz"
    save_plan(PlanGraph(Plan(id=plan_id, output_run=run), [quantum]), other)
    try:
        done = check(store, neo4j_settings, ["plans", "import", str(other)])
        assert "is already stored with different content" in done.stderr
    finally:
        with store.session() as session:
            session.run("MATCH (t:DatasetType {name: $name}) DELETE t", name=new_type.name).consume()
