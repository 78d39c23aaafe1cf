"""`Plan`: the header of an execution plan (who, when, from what, under which constraints)."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from provenance_graph.errors import ModelError
from provenance_graph.model._identity import check_repository_uri, repository_uri
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
    repository: str | None = None
    """The data repository the plan came from, as the canonical URI of its root
    (``file:///abs/path/``, `repository_uri`). By default that of the ``repository``
    metadata (our own plans record their repository's resolved path there); for a plan
    imported from a QuantumGraph, the Butler repository given or recorded. None when
    unknown. Not part of the plan's digest: it is in its ids (Butler-backed plans) or its
    metadata (our own)."""

    def identity_json(self) -> str:
        """The header as a plan's digest reads it: canonical JSON without ``created`` and ``repository``.

        Planning the same thing again gives the same text (see `PlanGraph.digest`).
        """
        return json.dumps(self.model_dump(mode="json", exclude={"created", "repository"}), sort_keys=True)

    @model_validator(mode="before")
    @classmethod
    def _repository_from_metadata(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("repository") is None:
            root = (data.get("metadata") or {}).get("repository")
            if isinstance(root, str) and os.path.isabs(root):
                data = {**data, "repository": repository_uri(root, resolve=False)}
        return data

    @field_validator("repository")
    @classmethod
    def _check_repository(cls, value: str | None) -> str | None:
        return None if value is None else check_repository_uri(value)

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
