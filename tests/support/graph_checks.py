"""What tests look at from outside: rows of raw Cypher, and the checksums of files on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from provenance_graph.store import GraphStore


def rows(store: GraphStore, cypher: str, **params: Any) -> list[dict[str, Any]]:
    """The records of one Cypher query, run as a user would in Neo4j Browser."""
    with store.driver.session(database=store.settings.database) as session:
        return session.run(cypher, **params).data()  # type: ignore[arg-type]


def file_checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by path relative to it."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
