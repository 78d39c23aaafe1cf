"""provenance-graph: execution plans and provenance of data-processing pipelines, in Neo4j."""

import logging

__version__ = "0.1.0"

# A library configures no logging: what it logs goes nowhere until the application
# (such as the provgraph command, see provenance_graph.logs) sends it somewhere.
logging.getLogger(__name__).addHandler(logging.NullHandler())
