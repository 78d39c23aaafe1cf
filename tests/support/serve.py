"""``provgraph serve`` as a real process in tests: a free loopback port, and waiting until it listens."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

from tests.support.servers import free_port

__all__ = ["free_port", "wait_until_listening"]


def wait_until_listening(server: subprocess.Popen[str], port: int, timeout: float = 120) -> None:
    """Return once ``server`` accepts connections on loopback ``port``; fail if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        assert server.poll() is None, server.communicate()
        assert time.monotonic() < deadline, "provgraph serve did not start listening"
        time.sleep(0.2)
