"""The demo's camera and sky map: where each detector of each visit lands on the sky.

Everything is on one flat sky plane measured in pixels, so "resampling" is an
integer shift and the demo stays exact and fast:

- the camera has ``n_detectors`` square detectors of `DETECTOR_SIZE` pixels,
  laid out in a grid of ``ceil(sqrt(n))`` columns;
- visit ``v`` points the camera's corner at `visit_origin`; bands cycle over
  visits (`visit_band`); exposure ``10 * v`` is the one exposure of visit ``v``;
- the sky map ``demo`` has tracts of `PATCHES_PER_SIDE` x `PATCHES_PER_SIDE`
  patches of `PATCH_SIZE` pixels, tracts side by side along x;
- a fixed catalog of stars (`true_stars`) is what every image sees.

The repository generator and the demo tasks share these functions; the
generator writes the overlap join rows from `detector_patches`.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

__all__ = [
    "BANDS",
    "DETECTOR_SIZE",
    "INSTRUMENT",
    "PATCHES_PER_SIDE",
    "PATCH_SIZE",
    "SKYMAP",
    "Box",
    "detector_box",
    "detector_patches",
    "exposure_of",
    "patch_box",
    "true_stars",
    "visit_band",
    "visit_origin",
]

INSTRUMENT = "DemoCam"
SKYMAP = "demo"
BANDS = ("g", "r", "i")
DETECTOR_SIZE = 32
PATCH_SIZE = 48
PATCHES_PER_SIDE = 4
TRACT_SIZE = PATCH_SIZE * PATCHES_PER_SIDE

#: A box on the sky plane: (x0, y0, width, height), in pixels.
Box = tuple[int, int, int, int]


def exposure_of(visit: int) -> int:
    """The id of the (one) exposure of a visit."""
    return 10 * visit


def visit_band(visit: int) -> str:
    """The band a visit was taken in."""
    return BANDS[visit % len(BANDS)]


def _columns(n_detectors: int) -> int:
    return max(1, math.ceil(math.sqrt(n_detectors)))


def visit_origin(visit: int, n_detectors: int, n_tracts: int) -> tuple[int, int]:
    """Where the camera's corner points for a visit: dithered, within the sky map."""
    cols = _columns(n_detectors)
    rows = math.ceil(n_detectors / cols)
    span_x = max(1, n_tracts * TRACT_SIZE - cols * DETECTOR_SIZE)
    span_y = max(1, TRACT_SIZE - rows * DETECTOR_SIZE)
    return (visit * 37) % span_x, (visit * 23) % span_y


def detector_box(visit: int, detector: int, n_detectors: int, n_tracts: int) -> Box:
    """Where detector ``detector`` of visit ``visit`` lands on the sky."""
    x0, y0 = visit_origin(visit, n_detectors, n_tracts)
    cols = _columns(n_detectors)
    return (
        x0 + (detector % cols) * DETECTOR_SIZE,
        y0 + (detector // cols) * DETECTOR_SIZE,
        DETECTOR_SIZE,
        DETECTOR_SIZE,
    )


def patch_box(tract: int, patch: int) -> Box:
    """Where a patch of a tract is on the sky."""
    return (
        tract * TRACT_SIZE + (patch % PATCHES_PER_SIDE) * PATCH_SIZE,
        (patch // PATCHES_PER_SIDE) * PATCH_SIZE,
        PATCH_SIZE,
        PATCH_SIZE,
    )


def overlap(a: Box, b: Box) -> Box | None:
    """The intersection of two boxes, or None."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def detector_patches(visit: int, detector: int, n_detectors: int, n_tracts: int) -> list[tuple[int, int]]:
    """The (tract, patch) cells a detector image overlaps."""
    box = detector_box(visit, detector, n_detectors, n_tracts)
    found = []
    for tract in range(n_tracts):
        for patch in range(PATCHES_PER_SIDE * PATCHES_PER_SIDE):
            if overlap(box, patch_box(tract, patch)) is not None:
                found.append((tract, patch))
    return found


@cache
def true_stars(n_tracts: int, seed: int = 42) -> np.ndarray:
    """The sky's stars: x, y (sky pixels) and flux, the same for every image."""
    rng = np.random.default_rng(seed)
    area = n_tracts * TRACT_SIZE * TRACT_SIZE
    n = max(1, area // 400)
    stars = np.zeros(n, dtype=[("x", "f8"), ("y", "f8"), ("flux", "f8")])
    stars["x"] = rng.uniform(0, n_tracts * TRACT_SIZE, n)
    stars["y"] = rng.uniform(0, TRACT_SIZE, n)
    stars["flux"] = 10 ** rng.uniform(2.5, 4.0, n)
    return stars
