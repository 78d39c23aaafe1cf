"""The demo's camera and sky map: where each detector of each visit lands on the sky.

Everything is on one flat sky plane measured in pixels, so "resampling" is an
integer shift and the demo stays exact and fast:

- the camera has ``n_detectors`` square detectors of `DETECTOR_SIZE` pixels,
  laid out in a grid of ``ceil(sqrt(n))`` columns; its focal plane is the
  square of that many detectors a side (`Camera.side`);
- the sky map ``demo`` (`SkyMap`) is sized to the camera, as the sky of
  lsst-pipe-base's benchmark (``benchmarks/lsst_qgraph_build.py``: 2 degree
  tracts, a 1 degree focal plane) is: a tract is `TRACT_PER_FOCAL_PLANE`
  focal planes a side, cut into `PATCHES_PER_SIDE` x `PATCHES_PER_SIDE`
  patches; tracts lie side by side along x;
- visit ``v`` points at the centre of tract ``v % n_tracts``, dithered by up
  to 3 steps of a tenth of the focal plane each way (`Camera.visit_origin`),
  so every detector image lands inside one tract; bands cycle over visits
  (`visit_band`); exposure ``10 * v`` is the one exposure of visit ``v``;
- a fixed catalog of stars (`true_stars`) is what every image sees.

The repository generator writes the overlap join rows from
`Camera.detector_patches` and stores both descriptions as datasets: ``camera``
(`Camera.dataset`, which includes the sky map the visits point at) and
``skyMap`` (`SkyMap.dataset`). The demo tasks read geometry only from those
datasets (`Camera.from_dataset`, `SkyMap.from_dataset`), never from this
module's constants.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from provenance_graph.errors import RepositoryError

__all__ = [
    "BANDS",
    "DETECTOR_SIZE",
    "INSTRUMENT",
    "PATCHES_PER_SIDE",
    "SKYMAP",
    "TRACT_PER_FOCAL_PLANE",
    "Box",
    "Camera",
    "SkyMap",
    "exposure_of",
    "overlap",
    "true_stars",
    "visit_band",
]

INSTRUMENT = "DemoCam"
SKYMAP = "demo"
BANDS = ("g", "r", "i")
DETECTOR_SIZE = 32
PATCHES_PER_SIDE = 4
#: A tract's side in focal planes (pipe_base's benchmark: 2 degree tracts, a 1 degree focal plane).
TRACT_PER_FOCAL_PLANE = 2
#: A dither step is this fraction of the focal plane's side (pipe_base's benchmark: 0.1 degree of 1).
_DITHER_STEPS_PER_FOCAL_PLANE = 10
#: Mean sky area per star, in square pixels.
_PIXELS_PER_STAR = 400

#: A box on the sky plane: (x0, y0, width, height), in pixels.
Box = tuple[int, int, int, int]


def exposure_of(visit: int) -> int:
    """The id of the (one) exposure of a visit."""
    return 10 * visit


def visit_band(visit: int) -> str:
    """The band a visit was taken in."""
    return BANDS[visit % len(BANDS)]


def overlap(a: Box, b: Box) -> Box | None:
    """The intersection of two boxes, or None."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _columns(n_detectors: int) -> int:
    return max(1, math.ceil(math.sqrt(n_detectors)))


def _field(data: Mapping[str, Any], key: str, dataset: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise RepositoryError(
            f"the {dataset!r} dataset has no {key!r}: it was written by an older demo",
            hint="make the demo repository again (provgraph repo make-demo)",
        ) from None


@dataclass(frozen=True)
class SkyMap:
    """The ``demo`` sky map: tracts of square patches, side by side along x."""

    n_tracts: int
    """Tracts 0..n-1."""
    patch_size: int
    """A patch's side, in pixels."""
    patches_per_side: int = PATCHES_PER_SIDE
    """A tract's side, in patches."""

    @property
    def tract_size(self) -> int:
        """A tract's side, in pixels."""
        return self.patch_size * self.patches_per_side

    def patch_box(self, tract: int, patch: int) -> Box:
        """Where a patch of a tract is on the sky."""
        return (
            tract * self.tract_size + (patch % self.patches_per_side) * self.patch_size,
            (patch // self.patches_per_side) * self.patch_size,
            self.patch_size,
            self.patch_size,
        )

    def patches_overlapping(self, box: Box) -> list[tuple[int, int]]:
        """The (tract, patch) cells that share pixels with ``box``, in order."""
        x0, y0, width, height = box
        size, per_side = self.patch_size, self.patches_per_side
        # Patch columns across the whole sky map, and patch rows, that the box reaches into.
        columns = range(max(0, x0 // size), min(self.n_tracts * per_side, -(-(x0 + width) // size)))
        rows = range(max(0, y0 // size), min(per_side, -(-(y0 + height) // size)))
        return sorted((c // per_side, r * per_side + c % per_side) for c in columns for r in rows)

    def dataset(self) -> dict[str, Any]:
        """The content of the ``skyMap`` dataset."""
        return {
            "skymap": SKYMAP,
            "n_tracts": self.n_tracts,
            "patch_size": self.patch_size,
            "patches_per_side": self.patches_per_side,
        }

    @classmethod
    def from_dataset(cls, data: Mapping[str, Any]) -> SkyMap:
        """The sky map a ``skyMap`` dataset describes."""
        return cls(
            n_tracts=_field(data, "n_tracts", "skyMap"),
            patch_size=_field(data, "patch_size", "skyMap"),
            patches_per_side=_field(data, "patches_per_side", "skyMap"),
        )


@dataclass(frozen=True)
class Camera:
    """The DemoCam camera, and the sky map its visits point at."""

    n_detectors: int
    """Detectors 0..n-1."""
    skymap: SkyMap
    """The sky map the visits point at."""
    detector_size: int = DETECTOR_SIZE
    """A detector's side, in pixels."""

    @classmethod
    def on_sky_map(cls, n_detectors: int, n_tracts: int) -> Camera:
        """A camera of ``n_detectors`` and a sky map of ``n_tracts`` tracts sized to it."""
        side = _columns(n_detectors) * DETECTOR_SIZE
        patch = TRACT_PER_FOCAL_PLANE * side // PATCHES_PER_SIDE  # exact: DETECTOR_SIZE is even
        return cls(n_detectors, SkyMap(n_tracts, patch))

    @property
    def columns(self) -> int:
        """Detectors along x."""
        return _columns(self.n_detectors)

    @property
    def side(self) -> int:
        """The focal plane's side, in pixels: ``columns`` detectors (rows never outnumber columns)."""
        return self.columns * self.detector_size

    def visit_origin(self, visit: int) -> tuple[int, int]:
        """Where the focal plane's corner points for a visit: near a tract's centre, within that tract."""
        tract = visit % self.skymap.n_tracts
        step = self.side // _DITHER_STEPS_PER_FOCAL_PLANE
        margin = (self.skymap.tract_size - self.side) // 2
        dx = ((visit * 37) % 7 - 3) * step
        dy = ((visit * 53) % 7 - 3) * step
        return tract * self.skymap.tract_size + margin + dx, margin + dy

    def detector_box(self, visit: int, detector: int) -> Box:
        """Where detector ``detector`` of visit ``visit`` lands on the sky."""
        x0, y0 = self.visit_origin(visit)
        return (
            x0 + (detector % self.columns) * self.detector_size,
            y0 + (detector // self.columns) * self.detector_size,
            self.detector_size,
            self.detector_size,
        )

    def detector_patches(self, visit: int, detector: int) -> list[tuple[int, int]]:
        """The (tract, patch) cells a detector image overlaps."""
        return self.skymap.patches_overlapping(self.detector_box(visit, detector))

    def dataset(self) -> dict[str, Any]:
        """The content of the ``camera`` dataset."""
        return {
            "instrument": INSTRUMENT,
            "n_detectors": self.n_detectors,
            "detector_size": self.detector_size,
            "skymap": self.skymap.dataset(),
        }

    @classmethod
    def from_dataset(cls, data: Mapping[str, Any]) -> Camera:
        """The camera a ``camera`` dataset describes."""
        return cls(
            n_detectors=_field(data, "n_detectors", "camera"),
            skymap=SkyMap.from_dataset(_field(data, "skymap", "camera")),
            detector_size=_field(data, "detector_size", "camera"),
        )


@cache
def true_stars(skymap: SkyMap, seed: int = 42) -> np.ndarray:
    """The sky's stars: x, y (sky pixels) and flux, the same for every image."""
    rng = np.random.default_rng(seed)
    width, height = skymap.n_tracts * skymap.tract_size, skymap.tract_size
    n = max(1, width * height // _PIXELS_PER_STAR)
    stars = np.zeros(n, dtype=[("x", "f8"), ("y", "f8"), ("flux", "f8")])
    stars["x"] = rng.uniform(0, width, n)
    stars["y"] = rng.uniform(0, height, n)
    stars["flux"] = 10 ** rng.uniform(2.5, 4.0, n)
    return stars
