"""Version 14: a plan's quanta are counted by status as they change, per task and per dimension value.

Each complete plan has one ``:TaskSummary`` per task (``plan_id``, ``task``, the dataset types
its quanta read and write, an example data ID, ``quanta``, and how many are ``pending``,
``running``, ``succeeded``, ``failed``, ``blocked`` and ``skipped``) and one ``:StatusCell``
per task, dimension and value (the same six counts), indexes ``task_summary_plan`` and
``status_cell_plan``. Plans written from v14 on get them when they complete, and every
status change moves them in its own transaction (`provenance_graph.store.status_counts`).
The index ``attempt_execution_status`` on ``:Attempt(execution_id, status)`` counts an
execution's attempts per status without reading them.
This step counts the quanta of the complete plans an older database holds, one plan a
transaction, reading each quantum twice and each edge once (22 s for a million-quantum plan on
a 2-core machine); applied on connect.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=14,
    name="status_counts",
    doc=__doc__ or "",
    queries=(
        "migrate_v14_task_summary_plan",
        "migrate_v14_status_cell_plan",
        "migrate_v14_attempt_execution_status",
        "migrate_v14_status_counts",
    ),
)
