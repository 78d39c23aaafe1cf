"""Every shell and Python example of README.md and docs/*.md runs as written, against the demo plan.

A reader copies an example into a terminal or a file and expects it to work. So this
test takes every ``bash``/``sh``/``python`` block of the README and the docs, in order,
one document at a time, and runs it:

- shell blocks line by line with bash (a ``\\``-continued line is one command), each
  line expected to exit 0, or N where its comment is ``# exit N``;
- Python blocks saved as a script and run by the project's Python, expected to exit 0;
- a YAML block whose first line is ``# NAME.yaml`` saved as that file, for later examples.

They run in a directory of their own, with ``provenance_graph/``, ``tests/`` and ``.venv/``
beside them (the docs name ``provenance_graph/demo/pipeline.yaml`` and run
``.venv/bin/python -m tests.support.slurm`` as from a checkout), against the tests'
Neo4j (and, for docs/batch.md, the tests' Slurm), after ``provgraph demo`` has stored and run the demo plan ``demo-drp`` there, as
``make demo`` does for a reader. The only changes made to a line are the names a reader
substitutes (`NAMES`: ``REPO``, ``DATASET_ID``, ...). A line that cannot run here says
why in `NOT_HERE`; that list is checked to match lines of the docs, so it cannot go stale.
The plans an example stores are deleted after its document.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, read_plan
from provenance_graph.store.plan_questions import pick_dataset
from tests.integration.test_cli import _env_for
from tests.support.servers import free_port, reuse_assembled_jars

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = ("bash", "sh", "python", "yaml")
DEMO_QUERY = "instrument='DemoCam' AND visit IN (1..4)"

NOT_HERE: list[tuple[str, str, str]] = [
    # (document, a regular expression matching the line, why it is not run here)
    ("README.md", r"^make (demo|test)\b", "the README's two commands: CI runs `make test` (this suite) "
     "on a clean clone, and `make demo` uses the user's default server, which tests never touch; "
     "its `provgraph demo` runs here on the tests' server"),
    ("README.md", r"^# example\.py", "run saved as a script by test_cli.py::test_readme_python_example_runs, "
     "which also checks what it prints"),
    ("benchmarks.md", r"^(make bench|\.venv/bin/python benchmarks/)", "a benchmark: minutes to hours of "
     "measurement on a quiet machine, whose figures the document reports"),
    ("interop.md", r".", "run as written by tests/integration/test_interop_docs.py, against a Butler "
     "repository of pipe_base's mock tasks"),
    ("batch.md", r"^cd dag && condor_submit_dag", "HTCondor submission: no HTCondor pool here"),
    ("batch.md", r"--site slurm-site\.yaml", "a real Slurm cluster's partition and account; the same submit "
     "runs on the tests' Slurm with slurm-test.yaml"),
    ("batch.md", r"^export SLURM_CONF=", "each line runs in a shell of its own: the suite sets SLURM_CONF "
     "for every command (the slurm_cluster fixture)"),
    ("batch.md", r"^\.venv/bin/python -m tests\.support\.slurm stop", "would stop the Slurm the suite's "
     "other tests use: the session that started it stops it at its end"),
    ("seeing-the-graph.md", r"^PROVGRAPH_SCREENSHOTS=1 \.venv/bin/pytest", "runs a test of this suite"),
    ("server.md", r"graph\.example\.org|^export NEO4J_(USER|PASSWORD|DATABASE)=", "a remote site"),
    ("explorer.md", r"^provgraph serve( --host|\s+#)", "serves until Ctrl-C: the document's Python example "
     "starts a server, asks it the same questions and stops it"),
    ("explorer.md", r"^curl ", "asks the server above, on a host of the reader's (HOST, PASSWORD)"),
    ("server.md", r"^(export NEO4J_PASSWORD='a-long-password'|docker compose|export NEO4J_URI=neo4j://127)",
     "Docker: no Docker engine on our machines; the tests use testcontainers when one answers"),
]  # fmt: skip


@dataclass(frozen=True)
class Block:
    """One fenced example of a document."""

    document: str
    line: int
    language: str
    text: str

    def commands(self) -> list[str]:
        """A shell block's command lines: continuations joined, comment-only lines left out."""
        joined = self.text.replace("\\\n", " ")
        return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        if match.group(1) in LANGUAGES:
            line = text[: match.start()].count("\n") + 1
            found.append(Block(path.name, line, match.group(1), match.group(2)))
    return found


def why_not_here(document: str, line: str) -> str | None:
    for doc, pattern, reason in NOT_HERE:
        if doc == document and re.search(pattern, line):
            return reason
    return None


def test_every_reason_not_to_run_matches_a_line_of_the_docs() -> None:
    lines = {(b.document, line) for path in DOCUMENTS for b in blocks(path) for line in b.text.splitlines()}
    for doc, pattern, _ in NOT_HERE:
        assert any(d == doc and re.search(pattern, line) for d, line in lines), (doc, pattern)


@dataclass
class World:
    """Where the examples run, and what they refer to."""

    directory: Path
    env: dict[str, str]
    names: dict[str, str]


@pytest.fixture(scope="module")
def world(
    neo4j_settings: ConnectionSettings, store: GraphStore, tmp_path_factory: pytest.TempPathFactory
) -> World:
    """The demo plan run in the tests' server, as `make demo` leaves it for a reader."""
    directory = tmp_path_factory.mktemp("docs")
    (directory / "provenance_graph").symlink_to(ROOT / "provenance_graph")
    (directory / "cypher").symlink_to(ROOT / "cypher")
    (directory / "tests").symlink_to(ROOT / "tests")
    (directory / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {
        **os.environ,
        **_env_for(neo4j_settings),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "COLUMNS": "200",
    }
    repo = directory / "demo-repo"
    # A demo plan left by an earlier session (the suite's servers keep their data) would be
    # replaced, and a clustering of it documents made then would outlive it, stale.
    if "demo-drp" in {p["id"] for p in store.read("plan_list", include_incomplete=True)}:
        delete_plan(store, "demo-drp")
    done = subprocess.run(
        ["provgraph", "demo", "--repo", str(repo)],
        cwd=directory, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    coadd = pick_dataset(store, "demo-drp", "deepCoadd")
    assert coadd is not None
    quantum = min(read_plan(store, "demo-drp", tasks=["calibrate"]).quanta)
    names = {
        "REPO": str(repo),
        "my-repo": str(directory / "my-repo"),
        "pipeline.yaml": "provenance_graph/demo/pipeline.yaml",
        "demo.yaml": "provenance_graph/demo/pipeline.yaml",
        "DATASET_ID": str(coadd["id"]),
        "6f0c...": str(quantum),
        "--where ...": f'--where "{DEMO_QUERY}"',
        "-d ...": f'-d "{DEMO_QUERY}"',
        "--data-id '...'": "--data-id 'skymap=demo,tract=0,patch=10,band=g'",
    }
    return World(directory, env, names)


@pytest.fixture
def new_plans_deleted(store: GraphStore) -> Iterator[None]:
    """Plans an example stores are deleted after its document (the demo plan stays)."""
    before = {row["id"] for row in store.read("plan_list", include_incomplete=True)}
    yield
    for row in store.read("plan_list", include_incomplete=True):
        if row["id"] not in before:
            with contextlib.suppress(Exception):
                delete_plan(store, row["id"])


def _substitute(line: str, names: dict[str, str]) -> str:
    for name, value in names.items():
        line = re.sub(rf"(?<![\w/.-]){re.escape(name)}(?![\w.-])", lambda _m, v=value: v, line)
    return line


def _expected_exit(line: str) -> int:
    found = re.search(r"#\s*exit (\d+)\b", line)  # a comment saying "exit N", not "exit N when ..."
    return int(found.group(1)) if found else 0


def _run_document(path: Path, world: World) -> list[str]:
    """Run every example of one document in order; return the lines not run here, with why."""
    not_run = []
    where = world.directory / path.stem
    where.mkdir(exist_ok=True)
    for name in ("provenance_graph", "cypher", "tests", ".venv", "demo-repo"):
        if not (where / name).exists():
            (where / name).symlink_to(world.directory / name)
    for block in blocks(path):
        if block.language == "yaml":
            named = re.match(r"# ([\w.-]+\.ya?ml)\n", block.text)
            if named:
                (where / named.group(1)).write_text(block.text)
            continue
        if block.language == "python":
            reason = why_not_here(block.document, block.text)
            if reason:
                not_run.append(f"{block.document}:{block.line} python: {reason}")
                continue
            script = where / f"example_{block.line}.py"
            script.write_text(_substitute(block.text, world.names))
            command = [sys.executable, str(script)]
            done = subprocess.run(command, cwd=where, env=world.env, capture_output=True, text=True,
                                  timeout=900, check=False)  # fmt: skip
            assert done.returncode == 0, f"{block.document}:{block.line}\n{block.text}\n{done.stderr}"
            continue
        for line in block.commands():
            reason = why_not_here(block.document, line)
            if reason:
                not_run.append(f"{block.document}:{block.line} {line}: {reason}")
                continue
            command = _substitute(line, world.names)
            done = subprocess.run(["bash", "-c", command], cwd=where, env=world.env, capture_output=True,
                                  text=True, timeout=900, check=False)  # fmt: skip
            expected = _expected_exit(line)
            # A failure the docs expect is a failed quantum or answer, not a refused command.
            refused = expected != 0 and "refused" not in line and done.stderr.startswith("error:")
            assert done.returncode == expected and not refused, (
                f"{block.document}:{block.line}: exit {done.returncode}, not {expected}\n$ {command}\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
    return not_run


def _document_param(path: Path) -> object:
    """One document, a group of its own on the xdist workers; batch.md submits to the tests' Slurm."""
    mark = pytest.mark.slurm if path.name == "batch.md" else pytest.mark.xdist_group(f"docs:{path.name}")
    return pytest.param(path, marks=mark, id=path.name)


@pytest.mark.parametrize("path", [_document_param(p) for p in DOCUMENTS])
def test_the_examples_of_a_document_run_as_written(
    path: Path, world: World, new_plans_deleted: None, request: pytest.FixtureRequest
) -> None:
    if path.name == "server.md":
        request.getfixturevalue("own_managed_server")
    if path.name == "batch.md":  # its Slurm section submits to the tests' cluster
        world.env |= request.getfixturevalue("slurm_cluster").env()
    not_run = _run_document(path, world)
    for line in not_run:
        print("not run here:", line)


@pytest.fixture
def own_managed_server(world: World, tmp_path: Path) -> Iterator[None]:
    """docs/server.md starts, stops and restarts the managed server: one of its own, not the tests'."""
    saved = dict(world.env)
    home = tmp_path / "neo4j"
    reuse_assembled_jars(home, ManagedServer())
    (tmp_path / "config.toml").write_text("")
    world.env.pop("NEO4J_URI", None)
    world.env |= {
        "PROVGRAPH_HOME": str(home),
        "PROVGRAPH_BOLT_PORT": str(free_port()),
        "PROVGRAPH_HTTP_PORT": str(free_port()),
        "PROVGRAPH_NEO4J_HEAP": "512m",
        "PROVGRAPH_NEO4J_PAGECACHE": "128m",
        "PROVGRAPH_CONFIG": str(tmp_path / "config.toml"),
    }
    try:
        yield
    finally:
        subprocess.run(["provgraph", "server", "stop"], env=world.env, capture_output=True, timeout=300,
                       check=False)  # fmt: skip
        world.env.clear()
        world.env |= saved
