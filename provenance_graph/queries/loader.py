"""Loads the named Cypher queries of ``cypher/*.cypher``.

A query file holds any number of queries, each introduced by a header comment::

    // name: plan_summary
    // Per-task quantum counts of one complete plan.
    MATCH (p:Plan {id: $plan_id}) ...

The comment lines right after the ``name:`` line are the query's documentation.
Query text is never formatted: every value reaches Neo4j as a ``$parameter``.
`NamedQuery.metadata` is the tag the store sends with each query as transaction
metadata, so the server's query log says which named query ran. This module
never sees the driver: turning a `NamedQuery` into what the driver runs is
`provenance_graph.store`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from provenance_graph.errors import QueryError

__all__ = ["NamedQuery", "QueryLibrary", "cypher_dir", "queries"]

_HEADER = re.compile(r"^//\s*name:\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*$")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class NamedQuery:
    """One named Cypher query, as read from a ``.cypher`` file."""

    name: str
    """The query's name, unique across all files."""
    text: str
    """The Cypher text, without its header comments."""
    doc: str
    """What the query does, from the comment lines under its name."""
    source: str
    """The file it came from."""
    parameters: frozenset[str] = field(default_factory=frozenset)
    """The ``$parameters`` the text refers to."""

    @property
    def metadata(self) -> dict[str, str]:
        """Transaction metadata naming the query; it shows in the server's query log."""
        return {"app": "provenance-graph", "query_name": self.name}


def cypher_dir() -> Path:
    """Return the directory of the ``.cypher`` files: inside an installed wheel or the checkout."""
    packaged = Path(str(resources.files("provenance_graph"))) / "cypher"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "cypher"


def parse_cypher_file(path: Path) -> list[NamedQuery]:
    """Split one ``.cypher`` file into its named queries."""
    found: list[NamedQuery] = []
    name: str | None = None
    doc: list[str] = []
    body: list[str] = []
    in_doc = False

    def flush() -> None:
        if name is None:
            if any(line.strip() and not line.strip().startswith("//") for line in body):
                raise QueryError(f"{path.name}: Cypher text before the first '// name:' header")
            return
        text = "\n".join(body).strip().rstrip(";").strip()
        if not text:
            raise QueryError(f"{path.name}: query {name!r} has no Cypher text")
        found.append(
            NamedQuery(
                name=name,
                text=text,
                doc=" ".join(doc).strip(),
                source=path.name,
                parameters=frozenset(_PARAMETER.findall(text)),
            )
        )

    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _HEADER.match(raw.strip())
        if match:
            flush()
            name, doc, body, in_doc = match["name"], [], [], True
            continue
        stripped = raw.strip()
        if in_doc and stripped.startswith("//"):
            doc.append(stripped.lstrip("/").strip())
            continue
        in_doc = False
        body.append(raw)
    flush()
    return found


class QueryLibrary:
    """Every named query of a directory of ``.cypher`` files, looked up by name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._queries: dict[str, NamedQuery] = {}
        files = sorted(directory.glob("*.cypher"))
        if not files:
            raise QueryError(f"no .cypher files in {directory}")
        for path in files:
            for q in parse_cypher_file(path):
                if q.name in self._queries:
                    raise QueryError(
                        f"query {q.name!r} is defined in both {self._queries[q.name].source} and {q.source}"
                    )
                self._queries[q.name] = q

    def __getitem__(self, name: str) -> NamedQuery:
        try:
            return self._queries[name]
        except KeyError:
            from provenance_graph.model import suggest  # here only: the model is slow to import

            raise QueryError(
                f"no named query {name!r} in {self.directory}",
                hint=suggest(name, list(self._queries)) or None,
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    def names(self) -> list[str]:
        """All query names, sorted."""
        return sorted(self._queries)


@cache
def queries() -> QueryLibrary:
    """Return the package's query library, loaded once."""
    return QueryLibrary(cypher_dir())
