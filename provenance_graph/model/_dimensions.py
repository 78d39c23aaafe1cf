"""`DimensionUniverse`: which dimensions exist and how they relate.

Dimensions are the axes of data IDs. Some dimensions *require* others to be
meaningful (a detector number means nothing without its instrument), some
*imply* others through their records (a visit has one band; an exposure
belongs to one visit), and some are related by a *join* that is not an
implication: which (visit, detector) images overlap which (tract, patch) sky
cells. Pre-flight follows these relationships to group inputs into quanta.

The default universe (`DEFAULT_UNIVERSE`) is the survey-astronomy one of FIELD.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from provenance_graph.errors import InvalidDataIdError, ModelError
from provenance_graph.model._data_id import DataId
from provenance_graph.model._names import suggest

__all__ = ["DEFAULT_UNIVERSE", "Dimension", "DimensionJoin", "DimensionUniverse"]


_KINDS = {"int": "an integer", "str": "a string"}


class Dimension(BaseModel):
    """One dimension: its name, the type of its values, and its relationships."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The dimension name, e.g. ``visit``."""
    value_type: Literal["int", "str"]
    """The type of its values: ``int`` (visit, detector, tract) or ``str`` (instrument, band)."""
    requires: tuple[str, ...] = ()
    """Dimensions that must accompany it in every data ID (detector requires instrument)."""
    implies: tuple[str, ...] = ()
    """Dimensions whose values its records determine (visit implies band)."""
    has_records: bool = True
    """Whether the repository keeps a record per value (band does not: its values are free)."""
    temporal: bool = False
    """Whether its records may carry an observation time span (visit, exposure): the time
    by which a calibration's validity range is chosen."""
    doc: str = ""
    """What the dimension means."""


class DimensionJoin(BaseModel):
    """A many-to-many relation between two groups of dimensions, kept as rows in the repository.

    The spatial join of the default universe says which (instrument, visit,
    detector) images overlap which (skymap, tract, patch) sky cells.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The relation's name, e.g. ``visit_detector_patch``."""
    left: tuple[str, ...]
    """One side's dimensions."""
    right: tuple[str, ...]
    """The other side's dimensions."""

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Both sides' dimensions, in column order."""
        return self.left + self.right


class DimensionUniverse:
    """The set of known dimensions and the joins between them.

    Parameters
    ----------
    dimensions
        Every dimension; ``requires`` and ``implies`` must name dimensions of the set.
    joins
        The many-to-many relations between groups of dimensions.
    """

    def __init__(self, dimensions: Iterable[Dimension], joins: Iterable[DimensionJoin] = ()) -> None:
        self.dimensions = {d.name: d for d in dimensions}
        self.joins = tuple(joins)
        for dim in self.dimensions.values():
            for other in dim.requires + dim.implies:
                if other not in self.dimensions:
                    raise ModelError(f"dimension {dim.name!r} relates to unknown dimension {other!r}")
        for join in self.joins:
            self.check(join.dimensions, f"join {join.name!r}")

    def __contains__(self, name: object) -> bool:
        return name in self.dimensions

    def __getitem__(self, name: str) -> Dimension:
        return self.dimensions[name]

    def check(self, names: Iterable[str], owner: str) -> tuple[str, ...]:
        """Return ``names`` sorted if every one is a known dimension; else raise `ModelError`.

        A dimension whose required dimensions are absent is also an error: a
        ``detector`` without its ``instrument`` is not a data ID.
        """
        found = tuple(sorted(set(names)))
        for name in found:
            if name not in self.dimensions:
                raise ModelError(
                    f"{owner} names unknown dimension {name!r}",
                    hint=suggest(name, sorted(self.dimensions))
                    or f"known dimensions: {', '.join(sorted(self.dimensions))}",
                )
        for name in found:
            missing = [r for r in self.dimensions[name].requires if r not in found]
            if missing:
                raise ModelError(
                    f"{owner} has dimension {name!r} without {', '.join(repr(m) for m in missing)}, "
                    f"which {name!r} requires",
                    hint=f"add {', '.join(missing)} to the dimensions of {owner}",
                )
        return found

    def closure(self, names: Iterable[str]) -> frozenset[str]:
        """Return ``names`` plus every dimension they imply, directly or not (and what those require)."""
        found = set(names)
        todo = list(found)
        while todo:
            dim = self.dimensions[todo.pop()]
            for other in dim.implies + dim.requires:
                if other not in found:
                    found.add(other)
                    todo.append(other)
        return frozenset(found)

    def key_dimensions(self, name: str) -> tuple[str, ...]:
        """The dimensions that identify one record of ``name``: what it requires, then itself."""
        dims: list[str] = []
        for required in self.dimensions[name].requires:
            for d in self.key_dimensions(required):
                if d not in dims:
                    dims.append(d)
        dims.append(name)
        return tuple(dims)

    def check_values(self, data_id: DataId, owner: str) -> None:
        """Raise `InvalidDataIdError` if a value of ``data_id`` is not of its dimension's type.

        Dimensions this universe does not know (those of an imported QuantumGraph) are not
        checked.
        """
        for name, value in data_id.root:
            dim = self.dimensions.get(name)
            if dim is not None and type(value).__name__ != dim.value_type:
                raise InvalidDataIdError(
                    f"{owner}: data ID value {value!r} of {name!r} is {_KINDS[type(value).__name__]}, "
                    f"not {_KINDS[dim.value_type]}",
                    hint=f"{name} values are {_KINDS[dim.value_type]}s",
                )

    def value_type(self, name: str) -> type:
        """The Python type of the dimension's values."""
        return int if self.dimensions[name].value_type == "int" else str


_D = Dimension
#: The survey-astronomy universe of FIELD.md.
DEFAULT_UNIVERSE = DimensionUniverse(
    [
        _D(name="instrument", value_type="str", doc="the camera, e.g. HSC or LSSTCam"),
        _D(name="band", value_type="str", has_records=False, doc="a filter band, e.g. g, r, i"),
        _D(name="detector", value_type="int", requires=("instrument",), doc="one CCD of the camera"),
        _D(
            name="visit",
            value_type="int",
            requires=("instrument",),
            implies=("band",),
            temporal=True,
            doc="one pointing of the telescope",
        ),
        _D(
            name="exposure",
            value_type="int",
            requires=("instrument",),
            implies=("visit",),
            temporal=True,
            doc="one readout of the camera; one or more exposures make a visit",
        ),
        _D(name="skymap", value_type="str", doc="a tessellation of the sky into tracts and patches"),
        _D(name="tract", value_type="int", requires=("skymap",), doc="a large tile of the sky map"),
        _D(name="patch", value_type="int", requires=("skymap", "tract"), doc="a sub-tile of a tract"),
    ],
    [
        DimensionJoin(
            name="visit_detector_patch",
            left=("instrument", "visit", "detector"),
            right=("skymap", "tract", "patch"),
        )
    ],
)
