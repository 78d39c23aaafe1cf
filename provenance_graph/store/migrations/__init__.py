"""Migration steps of the graph schema: one step a schema version, applied in order.

Step N brings a database of schema version N-1 to version N; a new database gets
every step from 1. Each step is a module ``v<NNNN>_<name>`` whose docstring says
what the step changes and whose ``STEP`` lists the named queries of
``cypher/migrations.cypher`` it runs (values always as ``$parameters``).
`provenance_graph.store.schema` decides when steps run: on connect, or, for a
step marked ``heavy`` (it rewrites much data), only by ``provgraph migrate``.
`apply_step` records the version after each step.

Rules for steps:

- **Every later schema change adds one step** (the next version, a new module
  here, listed in `STEPS`, its queries in ``cypher/migrations.cypher``), bumps
  ``SCHEMA_VERSION`` and the changelog in `provenance_graph.store.schema`, and
  **adds a test that migrates a database of the previous version with plans in
  it** (``tests/integration/test_migrations.py`` shows how to build one).
- A step never changes once released: a database may have applied it already.
- Every query of a step is safe to rerun after a crash at any point: rules are
  created ``IF NOT EXISTS`` (a rule a step replaces is dropped ``IF EXISTS``);
  nodes are merged, not created; rewrites change only nodes not yet migrated,
  in batches (``CALL { ... } IN TRANSACTIONS OF $batch_size ROWS``), and return
  how many they changed.
- A step that rewrites much data is marked ``heavy=True``.
"""

from provenance_graph.store.migrations import (
    v0001_initial,
    v0002_plan_notes,
    v0003_execution,
    v0004_quantum_plan_task,
    v0005_status_labels,
    v0006_batch_jobs,
    v0007_butler_identity,
    v0008_note_causes,
    v0009_data_id_display,
    v0010_attempt_journals,
    v0011_lost_attempts,
    v0012_execution_versions,
    v0013_input_checksums,
    v0014_status_counts,
    v0015_signatures,
)
from provenance_graph.store.migrations._step import BATCH_SIZE, Step, StepResult, apply_step

__all__ = ["BATCH_SIZE", "STEPS", "Step", "StepResult", "apply_step"]

STEPS: tuple[Step, ...] = (
    v0001_initial.STEP,
    v0002_plan_notes.STEP,
    v0003_execution.STEP,
    v0004_quantum_plan_task.STEP,
    v0005_status_labels.STEP,
    v0006_batch_jobs.STEP,
    v0007_butler_identity.STEP,
    v0008_note_causes.STEP,
    v0009_data_id_display.STEP,
    v0010_attempt_journals.STEP,
    v0011_lost_attempts.STEP,
    v0012_execution_versions.STEP,
    v0013_input_checksums.STEP,
    v0014_status_counts.STEP,
    v0015_signatures.STEP,
)
"""Every step, in version order: ``STEPS[n - 1].version == n``."""
