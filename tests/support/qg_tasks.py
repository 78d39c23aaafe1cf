"""Our own tasks of the same shape as ``tests/qg_pipeline.yaml``'s pipe_base mock tasks.

One `PipelineTask` class per task of that file, made from it, with the same
labels, quantum dimensions and connections (a connection is ``multiple`` when
its dataset type has a dimension the task lacks, as in `benchmarks.mock_drp`),
so pre-flight and pipe_base can plan the same pipeline over the same records.
They only plan; running them is not needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from provenance_graph.pipeline import Input, Output, PipelineTask, PrerequisiteInput

QG_PIPELINE = Path(__file__).resolve().parents[1] / "qg_pipeline.yaml"
_SPEC = yaml.safe_load(QG_PIPELINE.read_text(encoding="utf-8"))
DATASET_DIMENSIONS: dict[str, list[str]] = _SPEC["dimensions"]


def _task_class(label: str, task: dict[str, Any]) -> type[PipelineTask]:
    dims = tuple(task["dimensions"])

    def connection(kind: Any, dataset_type: str) -> Any:
        dataset_dims = tuple(DATASET_DIMENSIONS[dataset_type])
        if kind is Output:
            return Output(dataset_type, dataset_dims, "StructuredData")
        return kind(dataset_type, dataset_dims, "StructuredData", multiple=not set(dataset_dims) <= set(dims))

    connections = {
        **{n: connection(Input, t) for n, t in task.get("inputs", {}).items()},
        **{n: connection(PrerequisiteInput, t) for n, t in task.get("prerequisite_inputs", {}).items()},
        **{n: connection(Output, t) for n, t in task.get("outputs", {}).items()},
    }
    return type(label, (PipelineTask,), {"dimensions": dims, "connections": connections, "__doc__": label})


TASKS: dict[str, type[PipelineTask]] = {label: _task_class(label, t) for label, t in _SPEC["tasks"].items()}
globals().update(TASKS)


def pipeline_yaml() -> str:
    """Our pipeline file of these tasks, labelled as pipe_base's."""
    return "tasks:\n" + "".join(f"  {label}:\n    class: {__name__}.{label}\n" for label in TASKS)
