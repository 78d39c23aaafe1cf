"""Helpers for tests that run managed Neo4j servers of their own: free ports, reused jars."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ServerSettings

__all__ = ["default_user_server", "free_port", "port_free", "reuse_assembled_jars"]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """True when ``port`` can be bound on loopback now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def default_user_server() -> ManagedServer:
    """The user's default managed server (default home and ports), which tests only read from."""
    import platformdirs

    return ManagedServer(ServerSettings(home=Path(platformdirs.user_data_dir("provenance-graph")) / "neo4j"))


def reuse_assembled_jars(home: Path, *sources: ManagedServer) -> None:
    """Hard-link the jars of the first assembled server of ``sources`` into ``home``.

    A new home otherwise assembles its own with Maven (about 15 s from a warm ~/.m2, a
    minute from a cold one). The jars are only read: the one jar a server rewrites (the
    Browser's, for our style and guide) is replaced, not changed in place, so the source's
    files stay as they are. Nothing is linked when ``home`` is assembled already.
    """
    target = ManagedServer(ServerSettings(home=home))
    if target.is_assembled():
        return
    for source in sources:
        if source.is_assembled():
            shutil.rmtree(target.dist, ignore_errors=True)
            home.mkdir(parents=True, exist_ok=True)
            shutil.copytree(source.dist, target.dist, copy_function=_link_or_copy)
            return
