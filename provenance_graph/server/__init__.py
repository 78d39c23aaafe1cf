"""The managed local Neo4j server: assembled with Maven, started, stopped and inspected."""

from provenance_graph.server.managed import (
    JavaRuntime,
    ManagedServer,
    ServerStatus,
    find_java,
    neo4j_version,
)

__all__ = ["JavaRuntime", "ManagedServer", "ServerStatus", "find_java", "neo4j_version"]
