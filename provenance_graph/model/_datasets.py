"""`DatasetType` and `DatasetRef`: what a dataset is, and one dataset at one data ID."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from provenance_graph.errors import InvalidDataIdError, ModelError
from provenance_graph.model._data_id import DataId
from provenance_graph.model._identity import ID_NAMESPACE, check_repository_uri, dataset_id, stable_id
from provenance_graph.model._names import (
    check_dataset_type_name,
    check_dimension_name,
    check_run_name,
    check_text,
)

__all__ = ["ID_NAMESPACE", "DatasetRef", "DatasetType", "check_butler_id", "stable_id"]


def check_butler_id(value: Any) -> str | None:
    """Return a Butler UUID as canonical text (lower-case, hyphenated), or None for None."""
    if value is None:
        return None
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        raise ModelError(
            f"Butler id {str(value)[:80]!r} is not a UUID", hint="e.g. 3f2b1c4e-0000-4000-8000-00000000abcd"
        ) from None


class DatasetType(BaseModel):
    """A kind of dataset: a name, the dimensions of its data IDs, and a storage class.

    Examples: ``raw`` (instrument, exposure, detector), ``calexp`` (instrument,
    visit, detector), ``deepCoadd`` (skymap, tract, patch, band).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The dataset type name, e.g. ``calexp``."""
    dimensions: tuple[str, ...]
    """The dimensions every data ID of this type has, sorted."""
    storage_class: str = "Unknown"
    """How a dataset of this type is stored and read, e.g. ``ExposureF`` or ``DataFrame``."""

    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, value: Any) -> str:
        return check_dataset_type_name(value)

    @field_validator("dimensions", mode="before")
    @classmethod
    def _sort_dimensions(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ModelError(
                f"dataset type dimensions must be a list of dimension names, not {value!r}",
                hint="e.g. [instrument, visit, detector]",
            )
        dims = [check_dimension_name(d) for d in value]
        if len(set(dims)) != len(dims):
            raise InvalidDataIdError(f"dataset type dimensions repeat a name: {list(value)!r}")
        return tuple(sorted(dims))

    @field_validator("storage_class", mode="before")
    @classmethod
    def _check_storage_class(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ModelError(
                f"a storage class is a name, not {value!r}", hint="e.g. Image, Catalog or StructuredData"
            )
        return check_text(value, "storage class")


class DatasetRef(BaseModel):
    """One dataset: a dataset type at one fully specified data ID, in one run.

    Its `id` is stable: the same run, type and data ID (and, for a dataset of a
    Butler repository, the same `repository`) always give the same id, so a
    pre-existing dataset used by several plans is one node in the graph.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_type: DatasetType
    """What kind of dataset this is."""
    data_id: DataId
    """Its data ID; it names exactly the dimensions of `dataset_type`."""
    run: str
    """The run (collection) it lives in, e.g. ``HSC/raw/all`` or the plan's output run."""
    repository: str | None = None
    """The Butler repository it belongs to (`repository_uri`), for datasets of a Butler-backed
    plan; part of its `id`. None for datasets of our own repositories (told apart by run)."""
    butler_id: str | None = None
    """Its UUID in that Butler repository, where known; not part of its `id`."""

    @field_validator("run")
    @classmethod
    def _check_run(cls, value: str) -> str:
        return check_run_name(value)

    @field_validator("repository")
    @classmethod
    def _check_repository(cls, value: str | None) -> str | None:
        return None if value is None else check_repository_uri(value)

    @field_validator("butler_id", mode="before")
    @classmethod
    def _check_butler_id(cls, value: Any) -> str | None:
        return check_butler_id(value)

    @model_validator(mode="after")
    def _fully_specified(self) -> DatasetRef:
        expected = self.dataset_type.dimensions
        if self.data_id.dimensions != expected:
            have = set(self.data_id.dimensions)
            missing = sorted(set(expected) - have)
            extra = sorted(have - set(expected))
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise InvalidDataIdError(
                f"data ID {self.data_id} does not fit dataset type "
                f"{self.dataset_type.name!r}: {'; '.join(parts)}",
                hint=f"{self.dataset_type.name!r} needs exactly: {', '.join(expected)}",
            )
        return self

    @classmethod
    def trusted(
        cls,
        dataset_type: DatasetType,
        data_id: DataId,
        run: str,
        *,
        repository: str | None = None,
        butler_id: str | None = None,
    ) -> DatasetRef:
        """Build a ref from checked parts (data ID fitting the type, valid run and ids); no validation."""
        return cls.model_construct(
            _fields_set=_ALL_REF_FIELDS,
            dataset_type=dataset_type,
            data_id=data_id,
            run=run,
            repository=repository,
            butler_id=butler_id,
        )

    @cached_property
    def id(self) -> str:
        """The stable id of this dataset (`dataset_id`: UUID5 of [repository,] run, type and data ID)."""
        return dataset_id(self.run, self.dataset_type.name, self.data_id.key(), self.repository)

    def __str__(self) -> str:
        return f"{self.dataset_type.name} ({self.data_id}) [{self.run}]"


_ALL_REF_FIELDS = set(DatasetRef.model_fields)
"""Every field, set: the fields-set of each `DatasetRef.trusted` (one set shared, not one per ref)."""
