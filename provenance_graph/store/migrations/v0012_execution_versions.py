"""Version 12: executions record the software and the task versions they ran with.

An execution of a plan of provgraph's own carries ``software_json`` (Python's version and
those of the main packages) and ``tasks_json`` (per task label: ``config``, the digest of
its class, config and connections; ``source``, the digest of its module's file;
``package``, the distribution that installs it; ``git``, the commit of its work tree), by
which ``provgraph query stale`` finds outputs that a changed config or changed code would
make differently. The step adds the index ``dataset_execution`` on
``:Dataset(execution_id)``, so an execution's outputs are found without reading its plan.
Older executions lack the properties: their outputs' versions are unknown, never stale
for that reason. Applied on connect.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=12,
    name="execution_versions",
    doc=__doc__ or "",
    queries=("migrate_v12_dataset_execution",),
)
