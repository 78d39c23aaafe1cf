"""``provgraph server``: start, stop and inspect the managed local Neo4j."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Annotated

import typer

from provenance_graph.cli._output import console, err_console
from provenance_graph.errors import NoServerError
from provenance_graph.server import ManagedServer, ServerStatus
from provenance_graph.settings import server_settings
from provenance_graph.store.opening import NO_SERVER

app = typer.Typer(help="Manage the local Neo4j server that provgraph runs when none is configured.")


@app.command()
def start() -> None:
    """Start the managed server (assembling it with Maven the first time); idempotent."""
    server = ManagedServer(server_settings(create_home=True))  # the one command that may make it
    status = server.start(say=err_console.print)
    console.print(f"Neo4j {status.version} {status.edition} is running (pid {status.pid}).")
    console.print(f"bolt:    {status.bolt_uri}")
    console.print(_tls_line(status), markup=False)
    console.print(
        f"browser: {status.browser_url}   (user neo4j; password: provgraph server status --show-password)"
    )


def _tls_line(status: ServerStatus) -> str:
    if status.ca_certificate is None:
        return f"tls:     {status.tls}"
    return f"tls:     {status.tls}  (CA certificate: {status.ca_certificate}; clients: NEO4J_TRUSTED_CA)"


@app.command()
def stop() -> None:
    """Stop the managed server cleanly."""
    if ManagedServer().stop():
        console.print("Neo4j stopped.")
    else:
        console.print("Neo4j was not running.")


@app.command()
def status(
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Also print the neo4j user's password.")
    ] = False,
) -> None:
    """Tell whether the managed server runs: pid, ports, version. Exit 3 when it is stopped."""
    server = ManagedServer()
    st = server.status()
    state = "running" if st.running else ("starting" if st.pid else "stopped")
    console.print(f"state:   {state}")
    if st.pid:
        console.print(f"pid:     {st.pid}")
    if st.version:
        console.print(f"version: Neo4j {st.version} {st.edition}")
    console.print(f"bolt:    {st.bolt_uri}")
    console.print(_tls_line(st), markup=False)
    console.print(f"browser: {st.browser_url}")
    console.print(f"home:    {st.home}")
    if show_password:
        console.print(f"password: {server.password()}")
    if not st.running:
        raise typer.Exit(3)


@app.command()
def logs(
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many lines to show.")] = 50,
    file: Annotated[
        str, typer.Option(help="Which log: neo4j.log, debug.log, console.log, query.log.")
    ] = "neo4j.log",
) -> None:
    """Show the end of one of the managed server's logs."""
    console.print(ManagedServer().log_tail(lines, file), markup=False)


def has_desktop() -> bool:
    """Whether a web browser window can be opened here (macOS, Windows, or an X/Wayland display)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def browse(
    no_open: Annotated[bool, typer.Option("--no-open", help="Only print the URL.")] = False,
) -> None:
    """Open Neo4j Browser on the running managed server, or print where it is ('server start' first).

    On connect, Browser loads provenance-graph's style (quanta green with task and data ID,
    datasets blue with type and data ID) and opens a guide of clickable provenance queries.
    """
    server = ManagedServer()
    status = server.status()
    if not status.running:  # starting a 5 GB server is 'provgraph server start''s job, not a browser's
        raise NoServerError(NO_SERVER)
    url = f"{status.browser_url}?dbms=neo4j://neo4j@127.0.0.1:{server.settings.bolt_port}&preselectAuthMethod=USERNAME_PASSWORD"
    console.print(f"Neo4j Browser: {url}")
    console.print("user neo4j; password: provgraph server status --show-password")
    if not no_open and has_desktop():
        webbrowser.open(url)
        err_console.print("opened it in your web browser")
    elif not no_open:
        err_console.print(
            "no desktop here: open the URL above in a browser on this machine (it listens on 127.0.0.1)"
        )
