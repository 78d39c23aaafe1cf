"""`PlanNote`: why pre-flight made no quantum at some data IDs.

When a candidate data ID of a task lacks an input, pre-flight drops it and
records a note: which task, which connection and dataset type was missing,
and every data ID it dropped for that reason. The kind tells the root cause: an
input missing from the repository, a missing prerequisite, or an upstream task
that dropped the data ID first (then the note names that task). Notes are part of the plan: they
are stored with it in the graph and in plan files, not only in logs.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from provenance_graph.model._data_id import DataId
from provenance_graph.model._names import check_text

__all__ = ["NoteKind", "PlanNote"]


class NoteKind(StrEnum):
    """Why data IDs were dropped."""

    MISSING_INPUT = "missing_input"
    """A regular input had no dataset for the candidate data ID."""
    MISSING_PREREQUISITE = "missing_prerequisite"
    """A prerequisite input was not in the repository for the candidate data ID."""
    UPSTREAM = "upstream"
    """An input that an earlier task of the pipeline would have produced was not planned
    there: that task dropped the data ID (see its own note for the root cause)."""
    NO_QUANTA = "no_quanta"
    """The task got no quanta at all."""


class PlanNote(BaseModel):
    """One reason pre-flight dropped data IDs of one task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_label: str
    """The task whose quanta were dropped."""
    kind: NoteKind
    """Why."""
    connection: str = ""
    """The connection that lacked datasets (empty for `NoteKind.NO_QUANTA`)."""
    dataset_type: str = ""
    """Its dataset type."""
    upstream_task: str = ""
    """For `NoteKind.UPSTREAM`: the task that would have produced the missing input."""
    data_ids: tuple[DataId, ...] = ()
    """Every quantum data ID dropped for this reason, sorted."""
    message: str
    """A sentence for people, e.g. ``isr: no bias for 3 data IDs``."""

    @field_validator("task_label", "connection", "dataset_type", "upstream_task", "message")
    @classmethod
    def _check_text(cls, value: str, info: ValidationInfo) -> str:
        return check_text(value, f"the note's {info.field_name}")
