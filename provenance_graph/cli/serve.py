"""``provgraph serve``: the HTTP JSON API (`provenance_graph.api`) on this machine's loopback, or beyond.

FastAPI and uvicorn are imported when the command runs, not when ``provgraph`` starts.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from provenance_graph.cli._output import err_console
from provenance_graph.errors import ConfigurationError
from provenance_graph.store import open_store

__all__ = ["DEFAULT_PORT", "serve_command"]

#: The port ``provgraph serve`` listens on unless told otherwise.
DEFAULT_PORT = 8765


def _check_free(host: str, port: int) -> None:
    """Refuse, in one line, an address we cannot listen on (in use, or not this machine's)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ConfigurationError(
            f"cannot serve on host {host!r}: {err.strerror}", hint="give --host an address"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            raise ConfigurationError(
                f"cannot listen on {host}:{port}: {err.strerror}",
                hint="choose another with --port (or --host)",
            ) from None


def serve_command(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="The port to listen on.")
    ] = DEFAULT_PORT,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="The address to listen on. Beyond loopback (e.g. 0.0.0.0) every request must authenticate.",
        ),
    ] = "127.0.0.1",
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            metavar="FILE",
            help="Accept 'Authorization: Bearer TOKEN' with the token in FILE (mode 0600); then even "
            "loopback requests must authenticate.",
        ),
    ] = None,
    allow_writes: Annotated[
        bool,
        typer.Option("--allow-writes", help="Allow the API's changes (deleting a plan); default read-only."),
    ] = False,
) -> None:
    """Serve the explorer page at / and an HTTP JSON API at /api, docs at /docs (read-only by default).

    Besides a token, requests may authenticate with the Neo4j user's name and password (HTTP
    Basic). On loopback with no --token-file no authentication is asked for. Stop with Ctrl-C.
    """
    from provenance_graph.api import access_for, create_app, read_token_file

    token = read_token_file(token_file) if token_file is not None else None
    _check_free(host, port)
    with open_store(start_managed=False, read_only=not allow_writes) as store:
        access = access_for(host, store.settings.user, store.settings.password.get_secret_value(), token)
        app = create_app(store, access, allow_writes=allow_writes)
        import uvicorn

        shown = f"[{host}]" if ":" in host else host
        mode = "read-write" if allow_writes else "read-only"
        auth = "authentication required" if access.required else "no authentication (loopback)"
        err_console.print(
            f"serving the explorer page on http://{shown}:{port}/ and the API on /api (docs: /docs), "
            f"{mode}, {auth}; Ctrl-C stops",
            markup=False,
        )
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
