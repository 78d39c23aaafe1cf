"""Version 6: batch jobs, ``:Clustering`` and ``:BatchJob`` nodes and the job DAG.

``(:Clustering)-[:CLUSTERS]->(:Plan)``, ``(:BatchJob)-[:RUNS {position}]->(:Quantum)``
and ``(:BatchJob)-[:DEPENDS_ON]->(:BatchJob)``. Creates the unique constraints
``clustering_id``, ``batch_job_id`` and the indexes ``clustering_plan``,
``batch_job_clustering``. Changes no data.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=6,
    name="batch_jobs",
    doc=__doc__ or "",
    queries=(
        "migrate_v6_clustering_id",
        "migrate_v6_batch_job_id",
        "migrate_v6_clustering_plan",
        "migrate_v6_batch_job_clustering",
    ),
)
