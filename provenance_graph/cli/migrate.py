"""``provgraph migrate``: bring the database's graph schema up to this version's, step by step."""

from __future__ import annotations

from typing import Annotated

import typer

from provenance_graph import __version__
from provenance_graph.cli._output import console, err_console
from provenance_graph.store import Upgrade, migrate, open_store, pending_upgrade


def migrate_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the steps it would apply; change nothing.")
    ] = False,
) -> None:
    """Apply the pending graph-schema migration steps, in order; rerun it after a crash.

    Connecting upgrades a database by itself, except for steps that rewrite much
    data: those only this command applies.
    """
    with open_store(say=err_console.print, check_schema=False) as store:
        upgrade = pending_upgrade(store)
        print_upgrade(upgrade)
        if not upgrade.steps:
            return
        if dry_run:
            console.print("Dry run: nothing changed.")
            return
        migrate(store, upgrade, say=console.print)
    console.print(f"The database is at graph schema version {upgrade.target}.")


def print_upgrade(upgrade: Upgrade) -> None:
    """Say which version the database holds, and list the steps still to apply."""
    held = "no graph schema (new)" if upgrade.found is None else f"graph schema version {upgrade.found}"
    console.print(
        f"The database at {upgrade.uri} holds {held}; provenance-graph {__version__} uses "
        f"version {upgrade.target}."
    )
    if not upgrade.steps:
        console.print("Nothing to do.")
        return
    console.print(f"Steps to apply ({len(upgrade.steps)}):")
    for step in upgrade.steps:
        heavy = " [rewrites much data]" if step.heavy else ""
        console.print(f"  {step.label}{heavy}: {step.summary}")
