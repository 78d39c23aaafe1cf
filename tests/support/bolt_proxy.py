"""A loopback TCP proxy in front of a Bolt server that sees each COMMIT go by.

A user may reach Neo4j through anything that forwards TCP (an SSH tunnel, a port
forward). Tests put this proxy there to aim a fault at the worst moment: a server
killed while a client's COMMIT is in flight leaves the client unable to tell whether
its transaction committed (the driver's ``IncompleteCommit``).

The proxy forwards bytes unchanged. In what clients send it looks for Bolt's COMMIT
message, which is always the same six bytes on the wire (a 2-byte chunk holding the
empty struct ``0xB0`` with signature ``0x12``, then the ``00 00`` end of message), and
calls ``on_commit(n)`` with the count so far, right after forwarding the n-th one.
Connect with ``bolt://`` to it: a ``neo4j://`` client would be routed to the server's
own address, around the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

__all__ = ["COMMIT", "BoltProxy"]

#: Bolt's COMMIT message as sent: chunk size 2, ``B0 12``, end-of-message marker.
COMMIT = b"\x00\x02\xb0\x12\x00\x00"


class BoltProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target``, counting COMMIT messages.

    Parameters
    ----------
    target
        The server's Bolt port.
    on_commit
        Called (from a forwarding thread) with the number of COMMITs seen so far, each
        time one has been forwarded.
    """

    def __init__(self, target: int, on_commit: Callable[[int], None] = lambda _n: None) -> None:
        self.target = target
        self.on_commit = on_commit
        self.commits = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="bolt-proxy", daemon=True)

    def __enter__(self) -> BoltProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=10)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                server.settimeout(None)
            except OSError:  # the server is down: the client sees its connection closed
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        tail = b""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if upstream:
                    seen = tail + data
                    for _ in range(seen.count(COMMIT)):
                        with self._lock:
                            self.commits += 1
                            n = self.commits
                        self.on_commit(n)
                    tail = seen[-(len(COMMIT) - 1) :]
        except OSError:
            pass  # either side went away: close both, as a dropped connection does
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
