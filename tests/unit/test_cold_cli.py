"""A cold ``provgraph`` loads only what its command needs (issue 22: start the CLI in a blink).

Each check runs in a fresh interpreter, as a user's command does: the modules a command
imports are what a cold start pays for, whatever else a test session has loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Never needed to answer a question from the graph: pre-flight, execution, Parsl, the LSST
#: stack, array and data-frame libraries (the driver would load numpy and pyarrow for
#: nothing), the prov library, the TLS certificate library, and the web framework (``provgraph
#: serve`` imports it when it runs).
HEAVY = (
    "provenance_graph.preflight",
    "provenance_graph.activators",
    "provenance_graph.export",
    "parsl",
    "lsst",
    "numpy",
    "pandas",
    "pyarrow",
    "prov",
    "cryptography",
    "fastapi",
    "starlette",
    "uvicorn",
)

_PROBE = """
import json, sys
from typer.testing import CliRunner
from provenance_graph.cli.main import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted({m.split(".")[0] if not m.startswith("provenance_graph.") else ".".join(m.split(".")[:2])
                 for m in sys.modules})
print(json.dumps({"exit": result.exit_code, "output": result.output, "loaded": loaded}))
"""


def _loaded_by(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout.splitlines()[-1])
    return answer["exit"], set(answer["loaded"])


@pytest.mark.parametrize(
    "args",
    [
        ("query", "lineage", "--help"),
        ("plans", "list", "--help"),
        ("status", "--help"),
        ("report", "--help"),
        ("triage", "--help"),
        ("suspects", "--help"),
        ("diff-outputs", "--help"),
        ("serve", "--help"),
    ],
)
def test_reading_commands_load_no_preflight_execution_or_data_frames(args: tuple[str, ...]) -> None:
    code, loaded = _loaded_by(*args)
    assert code == 0
    assert not loaded & set(HEAVY) - (
        {"provenance_graph.activators"} if args[0] in {"status", "--help"} else set()
    )


def test_a_command_loads_its_own_module_only_when_run() -> None:
    code, loaded = _loaded_by("query", "--help")
    assert code == 0
    assert "provenance_graph.cli" in loaded and "neo4j" in loaded
    code, loaded = _loaded_by("version")
    assert code == 0
    assert "neo4j" not in loaded and "provenance_graph.store" not in loaded


def test_status_names_the_activator_submit_records() -> None:
    from provenance_graph.activators import ParslActivator
    from provenance_graph.cli.operate import SUBMITTED_BY

    assert ParslActivator.name == SUBMITTED_BY


def test_numpy_hidden_from_the_driver_still_imports_afterwards() -> None:
    # store/_driver.py hides numpy, pandas and pyarrow for the driver's import only: a task
    # that imports numpy after the store gets it as usual.
    probe = (
        "import sys, provenance_graph.store\n"
        "assert 'numpy' not in sys.modules and 'neo4j' in sys.modules\n"
        "import numpy\n"
        "print(int(numpy.arange(4).sum()))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"
