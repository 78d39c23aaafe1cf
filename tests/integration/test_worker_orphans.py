"""The worker processes of a ``provgraph run`` killed with ``kill -9`` end soon after it.

A run with two local workers is killed three times while its workers are busy (each
rerun resumes the plan and is killed again). Every process the run started (its workers,
the forkserver that forks them, multiprocessing's resource tracker) must end; the test
allows them 30 s, so a slow machine does not fail it, and records the longest time any of
them lived on ("workers: most ms alive after their run's kill -9"). Workers wait on the
run's pidfd and exit at once; measured here, all were gone within half a second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH, _env_for
from tests.integration.test_database_restart import SLOW, _store_plans, _succeeded

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

KILLS = 3
#: How long the run's processes may outlive it before the test fails: not a performance bound.
ALLOWED = 30.0


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _busy_workers(
    run: subprocess.Popen[str], store: GraphStore, plan_id: str, done: int
) -> list[psutil.Process]:
    """Wait until the run has two workers and has recorded a success more than ``done``; its processes."""
    deadline = time.monotonic() + 120
    main = psutil.Process(run.pid)
    while True:
        assert run.poll() is None, "the run ended before it was killed"
        assert time.monotonic() < deadline, "the run did not get going"
        processes = main.children(recursive=True)
        workers = [p for p in processes if p.ppid() != run.pid]  # forked by the forkserver
        if len(workers) >= 2 and len(_succeeded(store, plan_id)) > done:
            return processes
        time.sleep(0.05)


def test_the_processes_of_a_killed_run_end_soon_after_it(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    namespace: str,
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    plan_id = f"{namespace}-orphans"
    _store_plans(store, tmp_path / "repo", namespace, {"orphans": plan_id})
    env = {**os.environ, **_env_for(neo4j_settings)}
    longest = 0.0
    for _ in range(KILLS):
        run = subprocess.Popen(
            [PROVGRAPH, "run", "--plan", plan_id, "-j", "2", *SLOW],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            processes = _busy_workers(run, store, plan_id, len(_succeeded(store, plan_id)))
            os.kill(run.pid, signal.SIGKILL)
            killed = time.monotonic()
            while (alive := [p for p in processes if _running(p)]) and time.monotonic() - killed < ALLOWED:
                time.sleep(0.01)
            lived = time.monotonic() - killed
            left = [" ".join(p.cmdline()) for p in alive]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)  # whatever is left, so no orphan outlives the test
            run.wait()
        assert not left, f"{left} outlived their run by {ALLOWED:.0f} s"
        longest = max(longest, lived)
        reliability.count("workers: processes ended after their run's kill -9", len(processes))
    reliability.count("workers: most ms alive after their run's kill -9", round(longest * 1000))
