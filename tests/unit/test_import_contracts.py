"""The import contracts bite: each one, broken on purpose in a copy of the package, fails lint-imports.

Every contract of pyproject.toml's ``[tool.importlinter]`` has at least one case
below. A case adds one forbidden import to a copy of the package, runs
``lint-imports`` on it with our configuration, and checks that it fails and
names exactly the contracts that import breaks. The unmodified copy passes.
One copy serves every case: each case edits a file and puts it back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "provenance_graph"
CONFIG: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS: dict[str, dict[str, Any]] = {c["id"]: c for c in CONFIG["contracts"]}
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
_VERDICT = re.compile(r"^(?P<name>.+) (?P<verdict>KEPT|BROKEN)$")


@dataclass(frozen=True)
class Breach:
    """One forbidden import and the contracts (by id) it must break."""

    file: str
    """The file it goes in, relative to the package; a new file is created."""
    line: str
    """The import statement."""
    breaks: frozenset[str]
    """The ids of every contract lint-imports must then report broken."""


BREACHES = {
    "neo4j in the local Activator": Breach("activators/_local.py", "import neo4j", frozenset({"driver"})),
    "neo4j in viz": Breach("viz.py", "import neo4j", frozenset({"driver"})),
    "neo4j in the HTTP API": Breach("api/graph.py", "import neo4j", frozenset({"driver"})),
    "the HTTP API reaching up into the command line": Breach(
        "api/plans.py", "import provenance_graph.cli.query", frozenset({"layers"})
    ),
    "neo4j in the query loader": Breach("queries/loader.py", "import neo4j", frozenset({"driver"})),
    "neo4j.time in the model": Breach("model/_plan.py", "import neo4j.time", frozenset({"driver"})),
    "the concrete Repository in pre-flight": Breach(
        "preflight/_builder.py",
        "from provenance_graph.repository import Repository",
        frozenset({"repository-protocol", "meet-above"}),
    ),
    "the concrete repository module in the task interface": Breach(
        "pipeline/_task.py",
        "from provenance_graph.repository._repository import Repository",
        # pipeline sits below repository, and pre-flight reaches the repository through it
        frozenset({"repository-protocol", "layers", "meet-above"}),
    ),
    "the store reaching into the repository": Breach(
        "store/plan_write.py", "from provenance_graph.repository import Repository", frozenset({"meet-above"})
    ),
    "the store importing the PROV exporter": Breach(
        "store/provenance.py",
        "from provenance_graph.interop.prov import plan_to_prov",
        frozenset({"store-formats"}),
    ),
    "the store importing the OpenLineage client": Breach(
        "store/provenance.py", "import openlineage.client", frozenset({"store-formats"})
    ),
    "Activators importing viz, a sibling": Breach(
        "activators/_local.py", "import provenance_graph.viz", frozenset({"layers"})
    ),
    "settings importing the pipeline package, a sibling": Breach(
        "settings.py", "import provenance_graph.pipeline", frozenset({"layers"})
    ),
    "settings reaching up into the store, which opens through settings": Breach(
        "settings.py", "import provenance_graph.store", frozenset({"layers", "store-layers"})
    ),
    "the connection reaching up to opening": Breach(
        "store/connection.py", "import provenance_graph.store.opening", frozenset({"store-layers"})
    ),
    "a top-level module with no layer": Breach(
        "newcomer.py", "import provenance_graph.model", frozenset({"layers"})
    ),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package and of pyproject.toml, for lint-imports to check."""
    root = tmp_path_factory.mktemp("contracts")
    shutil.copytree(PACKAGE, root / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@contextlib.contextmanager
def added(path: Path, line: str) -> Iterator[None]:
    """``path`` with ``line`` appended (or created holding it), restored afterwards."""
    before = path.read_text() if path.exists() else None
    path.write_text((before or "") + f"\n{line}  # a deliberate breach\n")
    try:
        yield
    finally:
        if before is None:
            path.unlink()
        else:
            path.write_text(before)


def lint(tree: Path) -> tuple[int, dict[str, str]]:
    """Run lint-imports on ``tree``; its exit status and each contract's verdict by contract id."""
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "1000"}  # wide: one verdict a line
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    ids = {c["name"]: key for key, c in CONTRACTS.items()}
    verdicts = {
        ids[m["name"]]: m["verdict"]
        for m in map(_VERDICT.match, done.stdout.splitlines())
        if m and m["name"] in ids
    }
    assert verdicts.keys() == CONTRACTS.keys(), (
        f"not every contract was reported:\n{done.stdout}{done.stderr}"
    )
    return done.returncode, verdicts


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    status, verdicts = lint(tree)
    assert (status, set(verdicts.values())) == (0, {"KEPT"})


def test_every_contract_has_a_case_that_breaks_it() -> None:
    assert set().union(*(b.breaks for b in BREACHES.values())) == CONTRACTS.keys()


@pytest.mark.parametrize("breach", BREACHES.values(), ids=BREACHES.keys())
def test_a_forbidden_import_fails_lint_naming_its_contracts(tree: Path, breach: Breach) -> None:
    with added(tree / PACKAGE.name / breach.file, breach.line):
        status, verdicts = lint(tree)
    assert status != 0
    assert {key for key, verdict in verdicts.items() if verdict == "BROKEN"} == breach.breaks


def test_the_driver_contract_covers_every_module_but_the_store() -> None:
    """A new top-level module is a source of "only the store imports neo4j" as soon as it exists."""
    modules = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }
    sources = set(CONTRACTS["driver"]["source_modules"])
    assert sources == {f"{PACKAGE.name}.{m}" for m in modules - {"store"}}
