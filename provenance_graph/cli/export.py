"""``provgraph export``: stored plans and their execution for other tools.

``export openlineage`` writes (or sends) OpenLineage run events of a plan's quantum attempts;
``export prov`` is ``provgraph query prov`` (W3C PROV), listed here beside it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from provenance_graph.cli._output import err_console
from provenance_graph.cli.query import prov_command
from provenance_graph.errors import ExportError
from provenance_graph.store import open_store

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Export plans and their execution for other tools.")
app.command("prov")(prov_command)


@app.command("openlineage")
def openlineage_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the events here, one JSON per line.")
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send the events with the OpenLineage client's configured transport (openlineage.yml, "
            "OPENLINEAGE_CONFIG, OPENLINEAGE_URL or OPENLINEAGE__TRANSPORT__* variables) instead of "
            "writing them.",
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Send the events over HTTP to this OpenLineage endpoint (e.g. Marquez)."),
    ] = None,
) -> None:
    """OpenLineage run events of each quantum attempt: a START, then a COMPLETE or FAIL."""
    from openlineage.client.serde import Serde  # the client, for this command only

    from provenance_graph.export import openlineage_events

    if out is not None and (send or url):
        raise ExportError("--out and --send/--url both given", hint="write to a file or send, not both")
    with contextlib.ExitStack() as stack:
        sink: TextIO | None = None
        client = _client(url) if send or url else None  # a missing config is refused before any work
        partial = None if out is None else out.with_name(f".{out.name}.partial")
        if partial is not None:
            # Written beside --out and renamed over it at the end: a failure (an unknown plan, a
            # lost connection) leaves no empty or half-written file, and an old one as it was.
            try:
                sink = stack.enter_context(partial.open("w", encoding="utf-8"))
            except OSError as err:
                raise ExportError(
                    f"cannot write {out}: {err.strerror}", hint="give --out a path in a writable directory"
                ) from None
            stack.callback(partial.unlink, missing_ok=True)
        with open_store(start_managed=False) as store:
            events = openlineage_events(store, plan_id)  # read now; made one by one below
        count = 0
        for event in events:
            count += 1
            if client is not None:
                _emit(client, event, url)
            elif sink is None:
                typer.echo(Serde.to_json(event))
            else:
                sink.write(Serde.to_json(event) + "\n")
        if sink is not None and out is not None and partial is not None:
            sink.close()
            partial.replace(out)
        if client is not None:
            err_console.print(f"sent {count} OpenLineage events")
        elif out is not None:
            err_console.print(f"wrote {out} ({count} OpenLineage events)")


def _client(url: str | None) -> OpenLineageClient:
    """The client: HTTP to ``url``, else the transport of the client's own config (refused if none)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.console import ConsoleTransport
    from openlineage.client.transport.http import HttpConfig, HttpTransport
    from openlineage.client.transport.noop import NoopTransport

    if url is not None:
        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, retry={"total": 1})))
    client = OpenLineageClient()
    if client.transport is None or isinstance(client.transport, ConsoleTransport):
        raise ExportError(
            "no OpenLineage transport is configured",
            hint="set OPENLINEAGE_URL, write an openlineage.yml (or OPENLINEAGE_CONFIG), or give --url",
        )
    if isinstance(client.transport, NoopTransport):
        raise ExportError(
            "OpenLineage is disabled (OPENLINEAGE_DISABLED=true): nothing would be sent",
            hint="unset OPENLINEAGE_DISABLED, or write the events with --out",
        )
    return client


def _emit(client: OpenLineageClient, event: RunEvent, url: str | None) -> None:
    """Send one event with the client's transport; its errors become one line naming the endpoint."""
    try:
        client.emit(event)
    except Exception as err:  # the transport's own errors: requests', or the endpoint's status
        where = url or str(getattr(client.transport, "url", "the configured endpoint"))
        raise ExportError(
            f"cannot send OpenLineage events to {where}: {type(err).__name__}",
            hint="check that the endpoint is up and the URL is right (openlineage.yml, OPENLINEAGE_URL)",
        ) from None
