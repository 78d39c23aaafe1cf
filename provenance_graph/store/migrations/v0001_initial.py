"""Version 1: plans, quanta, datasets and dataset types, with their ids and lookup indexes.

Creates the unique constraints ``plan_id``, ``quantum_id``, ``dataset_id``,
``dataset_type_name`` and ``schema_version_name``; the indexes ``plan_status``,
``quantum_plan``, ``quantum_task``, ``dataset_type``, ``dataset_plan``, ``dataset_run``,
and one index per common data-ID dimension (``dataset_<dim>`` for instrument, visit,
exposure, detector, tract, patch, band; ``quantum_<dim>`` for the same but instrument).
Changes no data.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=1,
    name="initial",
    doc=__doc__ or "",
    queries=(
        "migrate_v1_plan_id",
        "migrate_v1_quantum_id",
        "migrate_v1_dataset_id",
        "migrate_v1_dataset_type_name",
        "migrate_v1_schema_version_name",
        "migrate_v1_plan_status",
        "migrate_v1_quantum_plan",
        "migrate_v1_quantum_task",
        "migrate_v1_dataset_type",
        "migrate_v1_dataset_plan",
        "migrate_v1_dataset_run",
        "migrate_v1_dataset_instrument",
        "migrate_v1_dataset_visit",
        "migrate_v1_dataset_exposure",
        "migrate_v1_dataset_detector",
        "migrate_v1_dataset_tract",
        "migrate_v1_dataset_patch",
        "migrate_v1_dataset_band",
        "migrate_v1_quantum_visit",
        "migrate_v1_quantum_exposure",
        "migrate_v1_quantum_detector",
        "migrate_v1_quantum_tract",
        "migrate_v1_quantum_patch",
        "migrate_v1_quantum_band",
    ),
)
