"""The one lease policy (`store._lease`): who counts as alive, and what a contender does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from provenance_graph.store._lease import STALE_AFTER, Holder, Lease, contend

HERE = socket.gethostname()


def test_a_holder_on_another_host_is_alive_until_its_heartbeat_is_stale() -> None:
    assert Holder("t", "some-other-host", 1, idle_seconds=0).alive()
    assert Holder("t", "some-other-host", 1, idle_seconds=STALE_AFTER).alive()
    assert not Holder("t", "some-other-host", 1, idle_seconds=STALE_AFTER + 1).alive()
    assert not Holder("t", "some-other-host", 1, idle_seconds=11).alive(stale_after=10)


def test_on_this_host_a_holder_is_dead_once_its_process_is_gone_or_a_zombie() -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert Holder("t", HERE, live.pid, idle_seconds=0).alive()
        # A live process with a stale heartbeat is taken for a reused pid.
        assert not Holder("t", HERE, live.pid, idle_seconds=STALE_AFTER + 1).alive()
    finally:
        live.kill()
    # Killed but not yet reaped: a zombie holds nothing.
    deadline = time.monotonic() + 30
    while Holder("t", HERE, live.pid, idle_seconds=0).alive():
        assert time.monotonic() < deadline, "a zombie counted as alive"
        time.sleep(0.05)
    live.wait()
    assert not Holder("t", HERE, live.pid, idle_seconds=0).alive()
    assert not Holder("t", HERE, None, idle_seconds=0).alive()


def test_in_this_process_a_holder_is_alive_exactly_while_its_lease_is_open() -> None:
    lease = Lease()
    holder = Holder(lease.token, HERE, os.getpid(), idle_seconds=0)
    assert not holder.alive()
    with lease:
        assert holder.alive()
        assert not Holder("another-token", HERE, os.getpid(), idle_seconds=0).alive()
    assert not holder.alive()


def test_a_contender_waits_for_the_same_work_is_refused_other_work_and_takes_over_the_dead() -> None:
    with Lease() as lease:
        alive = Holder(lease.token, HERE, os.getpid(), idle_seconds=0)
        assert contend(alive, same_work=True) == "wait"
        assert contend(alive, same_work=False) == "refuse"
    dead = Holder("gone", "some-other-host", 1, idle_seconds=STALE_AFTER + 1)
    assert contend(dead, same_work=True) == contend(dead, same_work=False) == "take_over"


def test_the_heartbeat_beats_marks_a_lost_lease_and_survives_failed_beats() -> None:
    beats: list[float] = []
    answers = iter([True, RuntimeError("server away"), False])

    def beat() -> bool:
        beats.append(time.monotonic())
        answer = next(answers, False)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with Lease() as lease, lease.heartbeat(beat, "test", every=0.01):
        deadline = time.monotonic() + 30
        while not lease.lost:
            assert time.monotonic() < deadline, "the lost lease was never noticed"
            time.sleep(0.01)
    assert len(beats) >= 3
    count = len(beats)
    time.sleep(0.1)
    assert len(beats) == count, "the heartbeat went on after the lease closed"
