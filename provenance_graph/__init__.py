"""provenance-graph: execution plans and provenance of data-processing pipelines, in Neo4j."""

__version__ = "0.1.0"
