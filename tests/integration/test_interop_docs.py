"""docs/interop.md's round trips work as written: every shell line run in order, by bash.

Each round trip is a ``sh`` block of docs/interop.md. The only changes made to it are
the names a reader substitutes: ``REPO`` becomes a real Butler repository (SQLite
registry, file datastore) holding the pipeline's inputs in ``Cam1/defaults``, ``DRP.yaml``
the tests' six-task mock pipeline, ``INPUTS`` that chain, ``u/me`` and ``drp-try1`` names of this
test's own. Each line must exit 0, or 1 where its comment says ``exit 1``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan
from tests.integration.test_cli import _env_for

pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")

from tests.support.butler import RUN_PIPELINE, make_butler_repo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "interop.md"


def shell_block(heading: str) -> list[str]:
    """The command lines of the first ``sh`` block under ``heading`` (continuations joined)."""
    section = DOC.read_text().split(heading, 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [
        line for line in block.replace("\\\n", " ").splitlines() if line.strip() and not line.startswith("#")
    ]


def run_block(lines: list[str], names: dict[str, str], cwd: Path, settings: ConnectionSettings) -> None:
    env = {**os.environ, **_env_for(settings), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for line in lines:
        command = line
        for name, value in names.items():
            command = re.sub(rf"(?<![\w/.-]){re.escape(name)}(?![\w.-])", value, command)
        expected = 1 if re.search(r"#.*\bexit 1\b", line) else 0
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == expected, f"{command}\n{done.stdout}\n{done.stderr}"


@pytest.fixture
def me(store: GraphStore, namespace: str) -> Iterator[str]:
    """The name that replaces ``u/me``; the plans stored under it are deleted afterwards."""
    name = f"u/{namespace}"
    yield name
    for row in store.read("plan_list", include_incomplete=True):
        if row["id"].startswith(name):
            with contextlib.suppress(Exception):
                delete_plan(store, row["id"])


def test_import_a_quantum_graph_then_run_it(
    neo4j_settings: ConnectionSettings, me: str, tmp_path: Path
) -> None:
    repo = make_butler_repo(tmp_path / "repo", pipeline=RUN_PIPELINE)
    lines = shell_block("## Running an imported plan")
    assert any(line.startswith("provgraph run --plan") for line in lines)
    names = {"REPO": str(repo.root), "DRP.yaml": str(RUN_PIPELINE), "INPUTS": repo.input_chain, "u/me": me}
    run_block(lines, names, tmp_path, neo4j_settings)


def test_plan_and_run_a_rubin_pipeline(
    neo4j_settings: ConnectionSettings, namespace: str, me: str, tmp_path: Path
) -> None:
    repo = make_butler_repo(tmp_path / "repo", pipeline=RUN_PIPELINE)
    lines = shell_block("## `provgraph plan`/`run` on a Rubin pipeline")
    assert any(line.startswith("provgraph run DRP.yaml") for line in lines)
    names = {
        "REPO": str(repo.root),
        "DRP.yaml": str(RUN_PIPELINE),
        "INPUTS": repo.input_chain,
        "u/me": me,
        "drp-try1": f"{namespace}-try1",
    }
    run_block(lines, names, tmp_path, neo4j_settings)


def test_pipetask_run_then_aggregate_graph_then_import_provenance(
    neo4j_settings: ConnectionSettings, me: str, tmp_path: Path
) -> None:
    pipeline = ROOT / "tests" / "provenance_pipeline.yaml"
    repo = make_butler_repo(tmp_path / "repo", pipeline=pipeline)
    lines = shell_block("## pipetask run → aggregate-graph → import-provenance")
    assert any(line.startswith("provgraph import-provenance") for line in lines)
    names = {"REPO": str(repo.root), "tests/provenance_pipeline.yaml": str(pipeline), "u/me": me}
    run_block(lines, names, tmp_path, neo4j_settings)
