"""Every named query reaches Neo4j tagged with its name, in managed and auto-commit transactions."""

from __future__ import annotations

from pathlib import Path

from provenance_graph.queries import QueryLibrary
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore


def test_the_server_sees_each_query_name(neo4j_settings: ConnectionSettings, tmp_path: Path) -> None:
    (tmp_path / "probe.cypher").write_text(
        "// name: whoami\n// Returns the metadata of its own transaction.\n"
        "CALL tx.getMetaData() YIELD metadata\nRETURN metadata, $value AS value;\n"
    )
    tricky = "x'}) RETURN 1 //"
    with GraphStore(neo4j_settings, QueryLibrary(tmp_path)) as store:
        for rows in (
            store.read("whoami", value=tricky),
            store.write("whoami", value=tricky),
            store.autocommit("whoami", value=tricky),
        ):
            assert rows == [
                {"metadata": {"app": "provenance-graph", "query_name": "whoami"}, "value": tricky}
            ]
