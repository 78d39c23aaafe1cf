"""A cold ``provgraph query lineage ID --json`` loads only the read path (issue 22: start the CLI in a blink).

The command runs as a user runs it: the installed ``provgraph`` script, in a fresh
interpreter, against the suite's server. What a cold command pays for is what it
imports, so the test lists `sys.modules` when that process exits (an `atexit` hook set
before the script runs) and checks that the answer came without pre-flight, the data
repository, the model's pydantic types, execution, the LSST stack, or the array and
data-frame libraries the driver would load. Timings are the benchmark's business
(``benchmarks/cold_cli.py``), never a test's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, write_plan
from provenance_graph.synthetic import drp_plan
from tests.integration.test_cli import PROVGRAPH, _env_for

#: Never needed to answer a provenance question from the graph.
NOT_ON_THE_READ_PATH = (
    "provenance_graph.preflight",
    "provenance_graph.repository",
    "provenance_graph.model",
    "provenance_graph.pipeline",
    "provenance_graph.activators",
    "provenance_graph.interop",
    "provenance_graph.store.plan_write",
    "provenance_graph.store.plan_read",
    "parsl",
    "lsst",
    "numpy",
    "pandas",
    "pyarrow",
    "networkx",
    "yaml",
    "cryptography",
)

#: Runs the ``provgraph`` script as its own ``__main__``, then writes the modules loaded at exit.
_PROBE = """
import atexit, runpy, sys
listing, script = sys.argv[1], sys.argv[2]
atexit.register(lambda: open(listing, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["provgraph", *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
"""


def _loaded(module: str, names: set[str]) -> bool:
    return any(name == module or name.startswith(module + ".") for name in names)


def test_lineage_json_from_a_cold_process_loads_only_the_read_path(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path
) -> None:
    graph = drp_plan(
        2,
        3,
        plan_id=f"{namespace}-cold",
        output_run=f"{namespace}/cold",
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    write_plan(store, graph)
    coadd = min(d for d, ref in graph.datasets.items() if ref.dataset_type.name == "deepCoadd")
    listing = tmp_path / "modules.txt"
    args = ["query", "lineage", coadd, "--depth", "2", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(listing), PROVGRAPH, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **_env_for(neo4j_settings)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["direction"] == "upstream" and answer["start"] == [coadd]
    assert {q["task"] for q in answer["quanta"]} == {"assembleCoadd", "makeWarp"}
    loaded = set(listing.read_text().split())
    assert "neo4j" in loaded and "provenance_graph.store.provenance" in loaded  # the probe saw the run
    assert [m for m in NOT_ON_THE_READ_PATH if _loaded(m, loaded)] == []
