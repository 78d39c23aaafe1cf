"""Version 2: pre-flight notes, the pipeline definition and dataset URIs.

``(:Plan)-[:HAS_NOTE]->(:PlanNote)`` nodes record the data IDs pre-flight dropped and
why; ``:Plan.pipeline`` holds the pipeline YAML; ``:Dataset.uri`` the file. Creates the
index ``note_plan``. Changes no data: plans written before simply lack the new properties.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(version=2, name="plan_notes", doc=__doc__ or "", queries=("migrate_v2_note_plan",))
