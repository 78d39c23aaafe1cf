"""One lease protocol for every long write: claim, heartbeat, liveness and take-over.

Three things in the graph are written by one process at a time over many transactions: a
plan (``:Plan``, `store.plan_write`), a clustering (``:Clustering``, `store.clustering`)
and the quanta an execution holds (``:Execution``, `store.execution`). Each records its
holder's *lease* on the node it claims: a random ``token``, the holder's ``host`` and
``pid``, and a ``heartbeat`` time the holder refreshes. This module is the one place that
decides what a lease means.

Policy
------
- **Claim.** A holder claims with a compare-and-set in Cypher (the claim queries live with
  their node's other queries); it holds the lease while the node carries its token. Every
  write batch re-checks the token under the node's lock, so a holder that lost its lease
  writes nothing more.
- **Heartbeat.** While it works, the holder refreshes its heartbeat every
  `HEARTBEAT_EVERY` seconds from a background thread (`Lease.heartbeat`). A beat that
  finds the lease gone marks it `Lease.lost`; a beat that fails (the server is away) is
  only a missed beat.
- **Liveness** (`Holder.alive`). A holder is dead when its heartbeat is older than
  `STALE_AFTER`, wherever it runs. On this host it is also dead as soon as its process is
  gone (or a zombie), and this process's own holders are alive exactly while their lease
  is open (`Lease`), so a ``kill -9`` is noticed at once on the same machine. On another
  host only the heartbeat tells.
- **Contention** (`contend`). A live holder is never taken over: a contender doing the
  same work (same content digest) waits for it and then finds the work done, one doing
  other work is refused with an error naming the holder. A dead holder's lease is taken
  over with a compare-and-set on its token, and the new holder deletes its partial work.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil

__all__ = [
    "HEARTBEAT_EVERY",
    "STALE_AFTER",
    "WAIT_FOR_HOLDER",
    "Contention",
    "Holder",
    "Lease",
    "contend",
]

logger = logging.getLogger(__name__)

#: Seconds without a heartbeat after which a holder counts as dead, wherever it runs.
STALE_AFTER = 120.0
#: Seconds between a holder's heartbeats.
HEARTBEAT_EVERY = 5.0
#: Seconds between looks at a live holder doing the same work as a contender.
WAIT_FOR_HOLDER = 0.5

#: Tokens of the leases open in this process (any thread).
_OPEN_TOKENS: set[str] = set()
_OPEN_LOCK = threading.Lock()

Contention = Literal["wait", "refuse", "take_over"]
"""What a contender does about a lease held by another: see `contend`."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as the graph records it."""

    token: str | None
    """The holder's random token (an execution's id for executions)."""
    host: str | None
    """The host the holder runs on."""
    pid: int | None
    """The holder's process id on that host."""
    idle_seconds: float
    """Seconds since its last heartbeat, by the server's clock."""

    @classmethod
    def from_row(cls, row: dict[str, Any], prefix: str = "writer") -> Holder:
        """Read ``{prefix}``, ``{prefix}_host``, ``{prefix}_pid`` and ``idle_seconds`` of a row."""
        return cls(row.get(prefix), row.get(f"{prefix}_host"), row.get(f"{prefix}_pid"), row["idle_seconds"])

    def alive(self, stale_after: float = STALE_AFTER) -> bool:
        """Whether the holder may still be working (see the policy in the module docstring)."""
        if self.idle_seconds > stale_after:
            return False
        if self.host == socket.gethostname():
            if self.pid == os.getpid():
                with _OPEN_LOCK:
                    return self.token in _OPEN_TOKENS
            return self.pid is not None and _process_runs(self.pid)
        return True

    def describe(self) -> str:
        """``pid 123 on host (last active 4 s ago)``, for messages."""
        return f"pid {self.pid} on {self.host} (last active {self.idle_seconds:.0f} s ago)"


def _process_runs(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's live process
        return True


def contend(holder: Holder, same_work: bool, stale_after: float = STALE_AFTER) -> Contention:
    """What a contender does about ``holder``: wait for it, be refused, or take over."""
    if not holder.alive(stale_after):
        return "take_over"
    return "wait" if same_work else "refuse"


@dataclass
class Lease:
    """One lease as its holder sees it: its identity, open while in use, and its heartbeat.

    Use it as a context manager around the claim and the work: while open, this process
    counts its holder as alive (`Holder.alive`); on exit the heartbeat stops.
    """

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The random token written on the claimed node."""
    host: str = field(default_factory=socket.gethostname)
    """This host."""
    pid: int = field(default_factory=os.getpid)
    """This process."""
    lost: bool = False
    """Set when a heartbeat finds the lease gone (taken over, or its node deleted)."""
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def identity(self) -> dict[str, Any]:
        """``token``, ``host`` and ``pid``, as claim queries take them."""
        return {"token": self.token, "host": self.host, "pid": self.pid}

    def open(self) -> None:
        """From now on this process counts the lease's holder as alive."""
        with _OPEN_LOCK:
            _OPEN_TOKENS.add(self.token)

    def close(self) -> None:
        """Stop the heartbeat; from now on this process counts the holder as dead."""
        self.stop_heartbeat()
        with _OPEN_LOCK:
            _OPEN_TOKENS.discard(self.token)

    def __enter__(self) -> Lease:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_heartbeat(self, beat: Callable[[], bool], name: str, every: float = HEARTBEAT_EVERY) -> None:
        """Call ``beat()`` every ``every`` seconds until `stop_heartbeat`.

        ``beat`` refreshes the heartbeat in the graph and returns whether the lease is still
        held; False marks the lease `lost`. An exception (the server is away) is a missed beat.
        """
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.wait(every):
                try:
                    held = beat()
                except Exception as err:
                    logger.debug("heartbeat %s missed (the lease stays held): %s", name, err)
                    continue
                if not held:
                    logger.warning("lease %s was lost: taken over or deleted by another process", name)
                    self.lost = True

        self._thread = threading.Thread(target=run, name=f"heartbeat-{name}", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread, if any, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @contextmanager
    def heartbeat(
        self, beat: Callable[[], bool], name: str, every: float = HEARTBEAT_EVERY
    ) -> Iterator[None]:
        """`start_heartbeat` for the duration of a ``with`` block."""
        self.start_heartbeat(beat, name, every)
        try:
            yield
        finally:
            self.stop_heartbeat()
