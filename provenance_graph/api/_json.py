"""The store's typed answers as JSON: every data ID as an object and in its human form.

A data ID leaves the API in two forms side by side: ``data_id``, the JSON object
(``{"detector": 1, "instrument": "DemoCam", "visit": 2}``), and ``data_id_display``, the
project's one human form as graph nodes carry it (``visit=2 detector=1``: instrument and
skymap left out; `provenance_graph.model.DataId.display`).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from pydantic import BaseModel

from provenance_graph.model import DataId

__all__ = ["data_id_forms", "jsonable"]


def data_id_forms(data_id: DataId | str) -> dict[str, Any]:
    """``{"data_id": object, "data_id_display": human form}`` of a data ID or its canonical JSON."""
    value = DataId.trusted_key(data_id) if isinstance(data_id, str) else data_id
    return {"data_id": value.to_dict(), "data_id_display": value.display()}


def _is_key(value: object) -> bool:
    return isinstance(value, str) and value.startswith("{")


def jsonable(value: Any) -> Any:
    """``value`` (dataclasses, mappings, sequences, pydantic models, times...) as plain JSON values.

    A field or key named ``data_id`` that holds a data ID (or its canonical JSON) becomes
    the two forms of `data_id_forms`.
    """
    if isinstance(value, DataId):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "data_id" and (isinstance(v, DataId) or _is_key(v)):
                out.update(data_id_forms(v))
            else:
                out[str(k)] = jsonable(v)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    """A value that is no container, as JSON can hold it."""
    if isinstance(value, Fraction):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if hasattr(value, "iso_format"):  # the driver's DateTime
        return str(value.iso_format())
    return value
