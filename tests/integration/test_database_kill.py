"""``kill -9`` of the Neo4j server, three times, while a run commits: the run completes.

The run reaches the server through a TCP proxy (`tests.support.bolt_proxy`), as it would
through an SSH tunnel, so each kill can be aimed at the worst moment: while one of the
run's COMMITs is in flight, when the run cannot tell whether its transaction committed.
The first kill lands early, while the run reads its plan; the next ones soon after each
restart, among its claims and records. Each time the server is started again at once.
The run must wait for it, pick up, and complete: exit 0, every quantum done, no recorded
success lost or repeated, every recorded file with its recorded checksum.

This failed before: the driver does not retry a transaction whose commit was in flight
(``IncompleteCommit``), so the run stopped, once its clean-up had waited for the server.

The test kills the managed server the suite uses, so it is skipped when ``NEO4J_URI``
points at another server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH
from tests.integration.test_database_restart import SLOW, _checksums_hold, _store_plans, _succeeded
from tests.support.bolt_proxy import BoltProxy
from tests.support.graph_checks import rows

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

#: Each kill lands on this COMMIT of the run, counted from its start or the last restart:
#: the 3rd is among the reads of its plan; the others among its first claims and records.
KILL_AT = (3, 8, 20)


class _Killer:
    """Kills the server when the run's n-th COMMIT (since the last restart) is in flight.

    After a kill it is disarmed until `restarted`: the run's COMMITs while the test starts
    the server again and reads what succeeded must not count towards the next kill (they
    did once, and the last kill then landed before the restart it waited for was noted).
    """

    def __init__(self, server: ManagedServer) -> None:
        self.server = server
        self.points = list(KILL_AT)
        self.offset = 0
        self.armed = True
        self.killed = threading.Event()
        self._lock = threading.Lock()

    def on_commit(self, n: int) -> None:
        with self._lock:
            if self.armed and self.points and n - self.offset == self.points[0]:
                os.kill(int(self.server.pid_file.read_text()), signal.SIGKILL)
                self.points.pop(0)
                self.armed = False
                self.killed.set()

    def restarted(self, commits: int) -> None:
        with self._lock:
            self.offset = commits
            self.killed.clear()
            self.armed = bool(self.points)


def test_a_run_survives_kill_9_of_the_database_at_its_commits(
    store: GraphStore,
    neo4j_settings: ConnectionSettings,
    own_server: ManagedServer,
    namespace: str,
    tmp_path: Path,
    reliability: ReliabilityCounts,
) -> None:
    server = own_server
    plan_id = f"{namespace}-killed"
    total = _store_plans(store, tmp_path / "repo", namespace, {"killed": plan_id})["killed"]
    killer = _Killer(server)
    seen: dict[str, int] = {}
    with BoltProxy(server.settings.bolt_port, killer.on_commit) as proxy:
        env = {
            **os.environ,
            "NEO4J_URI": f"bolt://127.0.0.1:{proxy.port}",
            "NEO4J_PASSWORD": neo4j_settings.password.get_secret_value(),
        }
        run = subprocess.Popen(
            [PROVGRAPH, "run", "--plan", plan_id, "-j", "2", *SLOW],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        kills = 0
        try:
            while kills < len(KILL_AT) and run.poll() is None:
                if not killer.killed.wait(timeout=0.5):
                    continue
                time.sleep(1)
                server.start()
                kills += 1
                seen |= _succeeded(store, plan_id)  # what the next kill must not lose
                killer.restarted(proxy.commits)
        finally:
            if killer.killed.is_set():  # the run ended first: leave the server up for the rest
                server.start()
            out, err = run.communicate(timeout=600)

    assert kills == len(KILL_AT), f"the run ended after {kills} kills: {out}{err}"
    assert run.returncode == 0, out + err
    assert "Traceback" not in out + err
    reliability.count("database kill -9s survived by a run", kills)

    after = _succeeded(store, plan_id)
    lost = [q for q in seen if q not in after]
    twice = [q for q, n in after.items() if n != 1]
    reliability.count("records lost", len(lost))
    reliability.count("duplicates found", len(twice))
    assert not lost and not twice, (lost, twice)
    [statuses] = rows(
        store,
        "MATCH (q:Quantum {plan_id: $p}) RETURN collect(coalesce(q.status, 'pending')) AS s",
        p=plan_id,
    )
    assert len(statuses["s"]) == total and set(statuses["s"]) <= {"succeeded", "skipped"}, statuses
    assert _checksums_hold(store, plan_id)
