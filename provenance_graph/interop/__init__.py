"""Reading plans written by other tools into our model.

Each module here turns one foreign file format into our model: a `PlanGraph`
(``qgraph``: a predicted QuantumGraph), a `ProvenanceRun` (``qg_provenance``: what a run
of one did), or the other way, a W3C PROV document (``prov``). None of them talks to the
database. Foreign libraries are optional extras, imported only when a reader is called.
"""

from provenance_graph.interop.qg_provenance import load_provenance_graph
from provenance_graph.interop.qgraph import LSST_INSTALL_HINT, load_quantum_graph

__all__ = ["LSST_INSTALL_HINT", "load_provenance_graph", "load_quantum_graph"]
