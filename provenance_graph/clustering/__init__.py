"""Clustering quanta into batch jobs, the job-level DAG, and HTCondor DAGMan files.

The pure half of the production Activator: rules (`ClusteringSpec`, read from YAML),
`cluster_quanta` (quanta to `BatchJob` s and a `JobGraph`), `write_dagman`, and the
graph algorithms over jobs and quanta (dependency order, `BlastRadius`, `descendants`,
`scratch_peak`).
Storing jobs in Neo4j and reading what the blast radius needs live in
`provenance_graph.store.clustering`; nothing here talks to a database.
"""

from provenance_graph.clustering._blast import BlastRadius, LostQuantum, descendants
from provenance_graph.clustering._dagman import DagmanFiles, write_dagman
from provenance_graph.clustering._jobs import (
    BatchJob,
    ClusteringSummary,
    JobGraph,
    QuantumDag,
    QuantumNode,
    cluster_quanta,
)
from provenance_graph.clustering._scratch import ScratchPeak, scratch_peak
from provenance_graph.clustering._spec import ClusteringSpec, ClusterRule, load_clustering

__all__ = [
    "BatchJob",
    "BlastRadius",
    "ClusterRule",
    "ClusteringSpec",
    "ClusteringSummary",
    "DagmanFiles",
    "JobGraph",
    "LostQuantum",
    "QuantumDag",
    "QuantumNode",
    "ScratchPeak",
    "cluster_quanta",
    "descendants",
    "load_clustering",
    "scratch_peak",
    "write_dagman",
]
