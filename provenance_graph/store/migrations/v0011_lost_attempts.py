"""Version 11: attempts the batch system lost, and what batch jobs asked it for.

An attempt whose batch job the batch system never started or killed (out of memory, wall
time, node lost) has ``status`` ``lost``, not ``failed``: its quantum is ``pending`` again and
blocks nothing. A lost attempt carries ``infrastructure`` (why), ``batch_job_id``,
``batch_state``, ``batch_exit_code`` and ``log``; an attempt of a batch job whose rule asks
for resources carries ``request_memory``, ``request_cpus`` and ``request_walltime``. The step
adds the composite index ``attempt_plan_status`` on ``:Attempt(plan_id, status)``, by which
``provgraph report`` and ``status`` find a plan's failed and lost attempts without reading
the rest. Older attempts lack the new properties, which nothing needs. Applied on connect.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(version=11, name="lost_attempts", doc=__doc__ or "", queries=("migrate_v11_attempt_plan_status",))
