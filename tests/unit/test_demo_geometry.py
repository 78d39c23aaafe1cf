"""The demo geometry: the sky map is sized to the camera, so every detector image lands on it."""

from __future__ import annotations

import pytest

from provenance_graph.demo.geometry import Camera, SkyMap, overlap
from provenance_graph.errors import RepositoryError


@pytest.mark.parametrize(("detectors", "tracts"), [(1, 1), (5, 1), (8, 3), (49, 2), (189, 4)])
def test_every_detector_image_lands_inside_one_tract(detectors: int, tracts: int) -> None:
    camera = Camera.on_sky_map(detectors, tracts)
    skymap = camera.skymap
    assert skymap.tract_size == 2 * camera.side, "a focal plane is half a tract's side"
    for visit in range(1, 60):
        tracts_hit = set()
        for detector in range(detectors):
            x0, y0, width, height = camera.detector_box(visit, detector)
            assert x0 >= 0 and x0 + width <= tracts * skymap.tract_size
            assert y0 >= 0 and y0 + height <= skymap.tract_size
            tracts_hit |= {x0 // skymap.tract_size, (x0 + width - 1) // skymap.tract_size}
            assert camera.detector_patches(visit, detector), "every detector image overlaps a patch"
        assert tracts_hit == {visit % tracts}


@pytest.mark.parametrize(("detectors", "tracts"), [(3, 1), (16, 2), (50, 3)])
def test_overlapping_patches_are_those_sharing_pixels(detectors: int, tracts: int) -> None:
    camera = Camera.on_sky_map(detectors, tracts)
    skymap = camera.skymap
    cells = [(t, p) for t in range(tracts) for p in range(skymap.patches_per_side**2)]
    boxes = [camera.detector_box(v, d) for v in range(1, 20) for d in range(detectors)]
    boxes += [(-5, -5, 10, 10), (skymap.patch_size, 0, skymap.patch_size, 1), (0, 0, 1, 10**6)]
    for box in boxes:
        expected = [cell for cell in cells if overlap(box, skymap.patch_box(*cell)) is not None]
        assert skymap.patches_overlapping(box) == expected, box


def test_datasets_describe_the_geometry_and_old_ones_are_refused() -> None:
    camera = Camera.on_sky_map(12, 2)
    assert Camera.from_dataset(camera.dataset()) == camera
    assert SkyMap.from_dataset(camera.skymap.dataset()) == camera.skymap
    before = {"instrument": "DemoCam", "n_detectors": 12, "n_tracts": 2, "detector_size": 32}
    with pytest.raises(RepositoryError, match="'camera' dataset has no 'skymap'") as caught:
        Camera.from_dataset(before)
    assert "make the demo repository again" in (caught.value.hint or "")
