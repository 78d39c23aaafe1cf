"""`Plan`: the header of an execution plan (who, when, from what, under which constraints)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from provenance_graph.errors import ModelError
from provenance_graph.model._names import check_plan_id, check_run_name, check_text

__all__ = ["MetadataValue", "Plan", "new_plan_id"]

#: A metadata value; plans keep only JSON scalars so the graph can store them.
MetadataValue = str | int | float | bool | None


def new_plan_id() -> str:
    """Return a fresh, unique plan id."""
    return uuid.uuid4().hex


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Plan(BaseModel):
    """What an execution plan is: its id and where it came from.

    The quanta and datasets of the plan live in a `PlanGraph`; this header is
    what the ``:Plan`` node of the graph stores.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_plan_id)
    """Unique id of the plan; by default a random hex UUID."""
    output_run: str
    """The run every quantum of the plan writes its outputs to."""
    created: dt.datetime = Field(default_factory=_utcnow)
    """When pre-flight made the plan (timezone-aware, UTC)."""
    pipeline_digest: str = ""
    """A digest of the pipeline definition the plan was made from."""
    pipeline: str = ""
    """The pipeline definition the plan was made from, as YAML text (what an Activator runs)."""
    constraints: str = ""
    """The data query the plan was made under, e.g. ``instrument='HSC' AND visit IN (1..10)``."""
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    """Free-form scalar metadata: user, host, software versions, ..."""

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return check_plan_id(value)

    @field_validator("output_run")
    @classmethod
    def _check_run(cls, value: str) -> str:
        return check_run_name(value)

    @field_validator("pipeline_digest", "pipeline", "constraints")
    @classmethod
    def _check_text(cls, value: str, info: ValidationInfo) -> str:
        return check_text(value, f"the plan's {info.field_name}")

    @field_validator("created")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ModelError(
                f"plan creation time {value.isoformat()} is out of range in UTC",
                hint="give a time between the years 1 and 9999 in UTC",
            ) from None
