"""Version 3: execution provenance, ``:Execution`` and ``:Attempt`` nodes and quantum status.

``(:Execution)-[:EXECUTES]->(:Plan)``, ``(:Quantum)-[:HAS_ATTEMPT]->(:Attempt)``,
``:Quantum.status`` (with ``execution_id``, ``attempt_count``, ``blocked_by``) and, on
produced datasets, ``exists``, ``size``, ``checksum``, ``created``. Creates the unique
constraints ``execution_id``, ``attempt_id`` and the indexes ``attempt_plan``,
``execution_plan``, ``quantum_status``. Changes no data: quanta without a status read
as pending.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=3,
    name="execution",
    doc=__doc__ or "",
    queries=(
        "migrate_v3_execution_id",
        "migrate_v3_attempt_id",
        "migrate_v3_attempt_plan",
        "migrate_v3_execution_plan",
        "migrate_v3_quantum_status",
    ),
)
