"""Version 4: the composite index ``quantum_plan_task`` on ``:Quantum(plan_id, task)``.

A subgraph pull by task then reads only those quanta. Changes no data.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(version=4, name="quantum_plan_task", doc=__doc__ or "", queries=("migrate_v4_quantum_plan_task",))
