"""Activators: run stored plans and record what really ran.

- `Activator`: the template every Activator shares (claims, records, resume);
- `LocalActivator`: the command-line Activator, local worker processes;
- `ParslActivator`: batch jobs of a clustering on Parsl (this machine, or a cluster by `SiteConfig`);
- `JobActivator`: one batch job in this process (``provgraph run-job``, a DAGMan node);
- `plan_pipeline`: a pipeline made into a stored plan (repository, pre-flight, store);
- `plan_pipeline_in_parts`: the same, pre-flighted and stored one part at a time (``--split-by``);
- `plan_rubin_pipeline`: the same for a Rubin pipeline (Butler, pipe_base's builder, ``.qg`` file, import).

What a worker does to run one quantum is `provenance_graph.quantum_runner`.
"""

from provenance_graph.activators._base import Activator, Failure, Progress, RunReport
from provenance_graph.activators._batch import JobActivator, ParslActivator
from provenance_graph.activators._job_files import JobFileRun, run_job_file, write_job_files
from provenance_graph.activators._local import LocalActivator
from provenance_graph.activators._planning import (
    PartPlanned,
    PlannedPipeline,
    PlannedRubinPipeline,
    default_output_run,
    default_qgraph_path,
    plan_pipeline,
    plan_pipeline_in_parts,
    plan_rubin_pipeline,
)
from provenance_graph.activators._rerun import (
    ExtendedRun,
    PlannedRerun,
    RerunSelection,
    extend_run,
    plan_rerun,
)
from provenance_graph.activators._site import SiteConfig, load_site

__all__ = [
    "Activator",
    "ExtendedRun",
    "Failure",
    "JobActivator",
    "JobFileRun",
    "LocalActivator",
    "ParslActivator",
    "PartPlanned",
    "PlannedPipeline",
    "PlannedRerun",
    "PlannedRubinPipeline",
    "Progress",
    "RerunSelection",
    "RunReport",
    "SiteConfig",
    "default_output_run",
    "default_qgraph_path",
    "extend_run",
    "load_site",
    "plan_pipeline",
    "plan_pipeline_in_parts",
    "plan_rerun",
    "plan_rubin_pipeline",
    "run_job_file",
    "write_job_files",
]
