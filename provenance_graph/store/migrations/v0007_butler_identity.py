"""Version 7: the Butler's identity, plan repositories, Butler UUIDs and repository-scoped dataset types.

``:Plan.repository`` (the canonical ``file:///root/`` URI of the data repository the plan
came from), ``repository`` and ``butler_id`` on ``:Quantum`` and ``:Dataset`` of plans
imported from a QuantumGraph, and ``exists`` on the inputs found in the Butler. Dataset
types become unique by ``key`` (``'<repository URI> <name>'`` for a Butler-backed plan's
types, the name otherwise) instead of by name. Keys the existing dataset types with their
names, creates the constraint ``dataset_type_key`` and drops ``dataset_type_name``,
creates the indexes ``plan_repository``, ``quantum_butler_id``, ``dataset_butler_id``,
and fills ``repository`` on existing plans from their ``repository`` metadata where it is
a plain path. Existing ids do not change: datasets and quanta without a repository keep
the formula without one.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=7,
    name="butler_identity",
    doc=__doc__ or "",
    queries=(
        "migrate_v7_dataset_type_keys",
        "migrate_v7_dataset_type_key",
        "migrate_v7_drop_dataset_type_name",
        "migrate_v7_plan_repository",
        "migrate_v7_quantum_butler_id",
        "migrate_v7_dataset_butler_id",
        "migrate_v7_plan_repositories",
    ),
)
