"""Version 5: a quantum's status is mirrored by a label, for Neo4j Browser's colours.

``:Running``, ``:Succeeded``, ``:Failed``, ``:Blocked`` or ``:Skipped``; none while
pending. Labels every quantum that has a status and not yet its label, in batches of
`BATCH_SIZE` a transaction; a rerun labels only what an interrupted run left. Light
enough to apply on connect: one label per run quantum, found through the ``quantum_status``
index.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(version=5, name="status_labels", doc=__doc__ or "", queries=("migrate_v5_status_labels",))
