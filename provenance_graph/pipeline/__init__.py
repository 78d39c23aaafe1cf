"""Tasks and pipelines: the task interface, connections, and pipeline YAML definitions.

A task class (`PipelineTask`) declares its quantum dimensions, its connections
(`Input`, `PrerequisiteInput`, `Output`) and a config model (`TaskConfig`). A
`Pipeline` loads tasks from YAML, checks them and orders them. Nothing here
talks to a database or to a repository.
"""

from provenance_graph.pipeline._connections import (
    Connection,
    ConnectionKind,
    Input,
    Output,
    PrerequisiteInput,
)
from provenance_graph.pipeline._pipeline import (
    DuplicateKeyError,
    Pipeline,
    PipelineFile,
    TaskEntry,
    TaskNode,
    YamlLoader,
)
from provenance_graph.pipeline._task import PipelineTask, QuantaContext, QuantumIO, TaskConfig
from provenance_graph.pipeline._versions import config_digest, software_versions, task_versions

__all__ = [
    "Connection",
    "ConnectionKind",
    "DuplicateKeyError",
    "Input",
    "Output",
    "Pipeline",
    "PipelineFile",
    "PipelineTask",
    "PrerequisiteInput",
    "QuantaContext",
    "QuantumIO",
    "TaskConfig",
    "TaskEntry",
    "TaskNode",
    "YamlLoader",
    "config_digest",
    "software_versions",
    "task_versions",
]
