"""Batch job files: everything one batch job needs to run with no database, in one JSON file.

``provgraph export-dagman`` writes one per job (``jobs/<job>.json``) beside the submit
descriptions, and the job runs ``provgraph run-job --job-file jobs/<job>.json`` on its
compute node: the plan's pipeline and repository, the run-time config overrides, the job's
quanta in run order (each with its inputs and outputs), the execution the attempts belong
to, and the journal to write them to (`provenance_graph.journal`). The submitting host
loads the journal into the graph (``provgraph record``, the DAG's POST script).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from provenance_graph.errors import ExecutionError
from provenance_graph.model import Quantum

__all__ = ["JobFile"]


class JobFile(BaseModel):
    """One batch job, ready to run anywhere its repository is mounted."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["provgraph-job/1"] = "provgraph-job/1"
    plan_id: str
    clustering: str
    job: str
    execution_id: str
    """The execution its attempts are recorded under: one per export."""
    repository_root: str
    pipeline_yaml: str
    overrides: dict[str, dict[str, Any]] = {}
    journal: str
    """Where its attempts go (absolute): a folder of the run, beside its outputs."""
    quanta: list[Quantum]
    """In run order."""

    def save(self, path: Path) -> None:
        """Write under a temporary name, then rename: a crash never leaves half a file."""
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.model_dump_json(), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> JobFile:
        """Read a job file; `ExecutionError` naming it if it is missing or not one."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ExecutionError(
                f"cannot read the job file {path}: {err.strerror or err}",
                hint="give a jobs/<job>.json that provgraph export-dagman wrote",
            ) from err
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            raise ExecutionError(
                f"{path} is not a provgraph job file ({where}: {first['msg']})",
                hint="export the DAG again with provgraph export-dagman (same provgraph version as run-job)",
            ) from None
