"""Reading plans written by other tools into our model.

Each module here turns one foreign file format into a `PlanGraph`; none of
them talks to the database. Foreign libraries are optional extras, imported
only when a reader is called.
"""

from provenance_graph.interop.qgraph import LSST_INSTALL_HINT, load_quantum_graph

__all__ = ["LSST_INSTALL_HINT", "load_quantum_graph"]
