"""Ctrl-C, as a terminal sends it: a real SIGINT to a real process talking to Neo4j.

Whatever a command is doing when Ctrl-C lands, even in the middle of the driver reading
an answer, it prints one line, ``interrupted``, and exits 130: never a traceback, never a
driver error such as "BeginMessage cannot be handled by a session in the IN_TRANSACTION
state" (what rolling back over a connection left half-read says), and what it was writing
is left as a rerun expects it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from provenance_graph.planfile import save_plan
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, list_plans
from provenance_graph.synthetic import drp_plan
from tests.integration.test_cli import PROVGRAPH, _env_for, run

pytestmark = pytest.mark.slow

#: What no interrupted command may print.
NEVER = ("Traceback", "BeginMessage", "IN_TRANSACTION", "error:", "Aborted")


@pytest.fixture(autouse=True)
def sigint_default() -> None:
    """Children start with SIGINT's default action, as under a terminal (CI may ignore it)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _interrupt_at(args: list[str], settings: ConnectionSettings, line_start: str) -> str:
    """Run ``provgraph ARGS``, SIGINT it when stderr shows a line starting ``line_start``; its stderr."""
    child = subprocess.Popen(
        [PROVGRAPH, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **_env_for(settings)},
    )
    assert child.stderr is not None
    seen = []
    for line in child.stderr:
        seen.append(line)
        if line.startswith(line_start):
            child.send_signal(signal.SIGINT)
            break
    seen.extend(child.stderr)
    child.wait(timeout=120)
    err = "".join(seen)
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted", err
    for word in NEVER:
        assert word not in err, err
    return err


@pytest.mark.parametrize("when", ["inputs", "quanta"])
def test_ctrl_c_during_a_plan_import_says_interrupted_and_a_rerun_stores_it(
    store: GraphStore, neo4j_settings: ConnectionSettings, namespace: str, tmp_path: Path, when: str
) -> None:
    graph = drp_plan(  # big enough to be interrupted mid-write, small enough to read back at once
        12,
        60,
        plan_id=f"{namespace}-big",
        output_run=f"{namespace}/big",
        raw_run=f"{namespace}/raw",
        calib_run=f"{namespace}/calib",
    )
    path = tmp_path / "big.json.gz"
    save_plan(graph, path)
    _interrupt_at(["plans", "import", str(path)], neo4j_settings, f"{when}:")
    assert graph.plan.id not in [p.id for p in list_plans(store)], "an interrupted write is not a plan"
    rerun = run(["plans", "import", str(path)], neo4j_settings)
    assert rerun.returncode == 0, rerun.stderr
    [counts] = store.read("plan_element_counts", plan_id=graph.plan.id)
    assert (counts["quanta"], counts["datasets"], counts["edges"]) == (
        len(graph),
        len(graph.datasets),
        graph.edge_count,
    )


#: Reads and writes in a loop; after each KeyboardInterrupt, one more of each must work.
_LOOP = textwrap.dedent(
    """
    import sys
    from provenance_graph.store import open_store

    store = open_store(start_managed=False)
    work = [
        lambda: store.read("plan_list", include_incomplete=True),
        lambda: store.write("plan_heartbeat", plan_id="no-such-plan", token="t"),
        lambda: store.read_many("plan_list", lambda r: r("plan_list", include_incomplete=True)),
        lambda: store.autocommit("datasets_delete_orphans", run_prefix="no-such-run/"),
    ]
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            while True:
                for step in work:
                    step()
        except KeyboardInterrupt:
            try:
                for step in work:
                    step()
            except Exception as err:
                print("broken", type(err).__name__, err, flush=True)
            else:
                print("ready", flush=True)
    """
)


@pytest.mark.reliability
def test_ctrl_c_inside_the_driver_leaves_the_store_usable(
    neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    """SIGINTs landing anywhere in transactions: the next transaction works every time."""
    script = tmp_path / "loop.py"
    script.write_text(_LOOP)
    child = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **_env_for(neo4j_settings)},
    )
    assert child.stdin is not None and child.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line.strip()) for line in child.stdout or ()], daemon=True
    ).start()
    rng = random.Random(19)
    rounds = 0
    try:
        assert lines.get(timeout=60) == "ready"
        for rounds in range(1, _ROUNDS + 1):
            child.stdin.write("go\n")
            child.stdin.flush()
            time.sleep(rng.uniform(0.005, 0.08))  # into the loop's queries, somewhere
            answer = _interrupt(child, lines)
            assert answer == "ready", f"after {rounds} interrupts: {answer}"
    finally:
        child.kill()
        _, err = child.communicate(timeout=30)
    assert rounds == _ROUNDS, err


#: Interrupted loops in the test above.
_ROUNDS = 150


def _interrupt(child: subprocess.Popen[str], lines: queue.Queue[str]) -> str:
    """SIGINT the loop until it answers (a SIGINT landing in a ``__del__`` is lost, as Python says)."""
    for _ in range(5):
        child.send_signal(signal.SIGINT)
        with contextlib.suppress(queue.Empty):
            return lines.get(timeout=5)
    return "no answer to 5 SIGINTs"
