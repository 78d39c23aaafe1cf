"""The demo: a twelve-task pipeline on synthetic images, a repository generator, and the README's job.

- `provenance_graph.demo.tasks`: the tasks (numpy computations);
- ``pipeline.yaml``: the pipeline definition (`demo_pipeline_path`);
- `make_demo_repo`: a repository of N visits x M detectors;
- `run_demo`: the README's main command.
"""

from provenance_graph.demo._run import DEMO_PLAN_ID, DemoResult, default_demo_repo, run_demo
from provenance_graph.demo.repo import CALIB_RUN, RAW_RUN, demo_pipeline_path, make_demo_repo

__all__ = [
    "CALIB_RUN",
    "DEMO_PLAN_ID",
    "RAW_RUN",
    "DemoResult",
    "default_demo_repo",
    "demo_pipeline_path",
    "make_demo_repo",
    "run_demo",
]
