"""Each session of a store starts from the store's last commit (driver bookmarks).

On one server this changes nothing a user can see, but on a cluster (Enterprise or Aura
through a ``neo4j://`` URI) a read may go to a secondary: the bookmark makes it wait until
it has the commits this process made before, so a command reads what it just wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance_graph.errors import DatabaseError
from provenance_graph.queries import QueryLibrary
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore

PROBES = """\
// name: probe_touch
// Sets a probe node's token: a commit.
MERGE (n:CausalProbe) SET n.token = $token RETURN n.token AS token;

// name: probe_clear
// Removes the probe node.
MATCH (n:CausalProbe) DELETE n RETURN count(*) AS removed;

// name: probe_read
// A read transaction.
RETURN $token AS token;
"""


def test_every_session_begins_at_the_store_s_last_commit(
    neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    (tmp_path / "probes.cypher").write_text(PROBES)
    library = QueryLibrary(tmp_path)
    with GraphStore(neo4j_settings, library) as store, GraphStore(neo4j_settings, library) as other:
        assert store.write("probe_touch", token="a") == [{"token": "a"}]
        first = store.bookmarks.get_bookmarks()
        assert len(first) == 1
        assert store.write("probe_touch", token="b") == [{"token": "b"}]
        second = store.bookmarks.get_bookmarks()
        assert len(second) == 1 and second != first  # the newest commit replaces the one before

        # The server sees what the store's sessions begin from: a bookmark it cannot parse
        # fails the next read (public API only: a bookmark manager takes any string).
        store.bookmarks.update_bookmarks(list(second), ["FB:not-a-bookmark"])
        with pytest.raises(DatabaseError, match="bookmark"):
            store.read("probe_read", token="c")
        assert other.read("probe_read", token="c") == [{"token": "c"}]  # another process: its own chain
        assert other.write("probe_clear") == [{"removed": 1}]
