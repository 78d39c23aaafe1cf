"""Version 8: pre-flight notes tell root causes: kind ``upstream`` and ``upstream_task``.

A ``:PlanNote`` of kind ``upstream`` says a task's input was not planned because the
earlier task that would have produced it (``upstream_task``) dropped the data ID; the
other kinds are now root causes only. Creates the index ``note_plan_task`` on
``:PlanNote(plan_id, task)``. Changes no data: notes written before lack ``upstream_task``.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(version=8, name="note_causes", doc=__doc__ or "", queries=("migrate_v8_note_plan_task",))
