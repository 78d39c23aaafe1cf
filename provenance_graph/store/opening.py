"""`open_store`: connect to the configured Neo4j (or the managed one), then bring its schema up to date.

It sits above both `provenance_graph.store.connection` (the driver) and
`provenance_graph.store.schema` (versions and migration steps), so that imports
point one way: opening → schema → migrations → connection.
"""

from __future__ import annotations

from provenance_graph.errors import NoServerError
from provenance_graph.settings import ConnectionSettings, connection_from_env
from provenance_graph.store.connection import GraphStore, Say, quiet
from provenance_graph.store.schema import ensure_schema

__all__ = ["NO_SERVER", "open_store"]

#: What a command that never starts the managed server says when there is no server to use.
NO_SERVER = "no server configured or running: start one with 'provgraph server start' (or set NEO4J_URI)"


def open_store(
    settings: ConnectionSettings | None = None,
    *,
    start_managed: bool = True,
    say: Say = quiet,
    check_schema: bool = True,
    read_only: bool = False,
) -> GraphStore:
    """Open a `GraphStore` on the configured server, or on the managed one.

    With no ``settings`` and no ``NEO4J_URI`` or config file, the managed local
    server is used, and started if it is not running; with ``start_managed`` False
    (read-only commands, and whatever runs on a compute node) nothing is started, and a
    managed server that is not running is a `NoServerError` saying how to start one.

    Unless ``check_schema`` is False, the graph schema is created in a new database, an
    older one is upgraded (`ensure_schema`), and a newer one, or one whose upgrade needs
    ``provgraph migrate``, is refused.

    Parameters
    ----------
    settings
        Where to connect; None for the environment, the config file or the managed server.
    start_managed
        Start the managed server if it is the one to use and it is not running (else
        `NoServerError`).
    say
        Where to report starting the server and creating or upgrading the schema.
    check_schema
        Create, upgrade or check the schema. ``provgraph migrate`` passes False.
    read_only
        Once the schema is checked, open every session in read access mode: the server
        refuses any write (`GraphStore.read_only`).

    Returns
    -------
    GraphStore
        An open store; close it, or use it as a context manager.
    """
    if settings is None:
        settings = connection_from_env()
    if settings is None:
        # Imported here: only the managed-server case needs it, and it is slow to import.
        from provenance_graph.server import ManagedServer

        server = ManagedServer()
        if start_managed:
            server.start(say=say)
        elif not server.status().running:
            raise NoServerError(NO_SERVER)
        settings = server.connection()
    store = GraphStore(settings)
    try:
        store.verify()
        if check_schema:
            ensure_schema(store, say=say)
        store.read_only = read_only
    except BaseException:
        store.close()
        raise
    return store
