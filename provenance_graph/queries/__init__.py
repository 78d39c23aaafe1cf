"""Named Cypher queries, loaded from the ``cypher/`` directory shipped with the package."""

from provenance_graph.queries.loader import NamedQuery, QueryLibrary, cypher_dir, queries

__all__ = ["NamedQuery", "QueryLibrary", "cypher_dir", "queries"]
