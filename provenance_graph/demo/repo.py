"""A generator of demo repositories: N visits x M detectors of synthetic DemoCam data.

`make_demo_repo` creates a repository with the dimension records of DemoCam
and the ``demo`` sky map (sized to the camera, see `geometry`), the overlap
join rows, and the pre-existing inputs of the demo pipeline in run
``DemoCam/raw/all`` (raws) and ``DemoCam/calib`` (biases, the camera, the sky
map). Raws show the fixed star field of `geometry.true_stars` through each
detector, plus bias, sky and noise.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from importlib import resources
from pathlib import Path

import numpy as np

from provenance_graph.demo import geometry
from provenance_graph.model import DatasetType
from provenance_graph.repository import Repository

__all__ = ["CALIB_RUN", "RAW_RUN", "demo_pipeline_path", "make_demo_repo"]

RAW_RUN = "DemoCam/raw/all"
CALIB_RUN = "DemoCam/calib"
BIAS_LEVEL = 1000.0
SKY_LEVEL = {"g": 200.0, "r": 300.0, "i": 400.0}
PSF_SIGMA = 1.2

#: Templates of the demo repository: per-visit folders for per-detector data.
DEMO_TEMPLATES = {
    "raw": "{run}/{dataset_type}/{exposure}/{dataset_type}_{instrument}_{exposure}_{detector}",
    "postISRCCD": "{run}/{dataset_type}/{exposure}/{dataset_type}_{instrument}_{exposure}_{detector}",
    "calexp": "{run}/{dataset_type}/{visit}/{dataset_type}_{instrument}_{visit}_{detector}",
}

_INPUT_TYPES = [
    DatasetType(name="raw", dimensions=("instrument", "exposure", "detector"), storage_class="Image"),
    DatasetType(name="bias", dimensions=("instrument", "detector"), storage_class="Image"),
    DatasetType(name="camera", dimensions=("instrument",), storage_class="StructuredData"),
    DatasetType(name="skyMap", dimensions=("skymap",), storage_class="StructuredData"),
]


def demo_pipeline_path() -> Path:
    """The path of the shipped demo pipeline YAML."""
    return Path(str(resources.files("provenance_graph.demo") / "pipeline.yaml"))


def _render(box: geometry.Box, stars: np.ndarray) -> np.ndarray:
    x0, y0, w, h = box
    yy, xx = np.mgrid[y0 : y0 + h, x0 : x0 + w] + 0.5
    image = np.zeros((h, w))
    near = stars[
        (stars["x"] > x0 - 5) & (stars["x"] < x0 + w + 5) & (stars["y"] > y0 - 5) & (stars["y"] < y0 + h + 5)
    ]
    for star in near:
        r2 = (xx - star["x"]) ** 2 + (yy - star["y"]) ** 2
        image += star["flux"] / (2 * np.pi * PSF_SIGMA**2) * np.exp(-r2 / (2 * PSF_SIGMA**2))
    return image


def make_demo_repo(
    path: str | Path,
    visits: int = 6,
    detectors: int = 4,
    tracts: int = 1,
    *,
    missing_raws: Collection[tuple[int, int]] = (),
    missing_biases: Collection[int] = (),
    write_pixels: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> Repository:
    """Create a demo repository at ``path`` with ``visits`` x ``detectors`` raws.

    Parameters
    ----------
    path
        A new or empty directory.
    visits, detectors, tracts
        The size: visits 1..N, detectors 0..M-1, tracts 0..T-1 of the ``demo`` sky map.
    missing_raws
        (visit, detector) pairs to leave without a raw, to exercise pre-flight's notes.
    missing_biases
        Detectors to leave without a bias.
    write_pixels
        Write real pixel files; with False, datasets are registered pointing at
        one shared placeholder file, for benchmarks that only plan.
    """
    camera = geometry.Camera.on_sky_map(detectors, tracts)
    skymap = camera.skymap
    repo = Repository.create(path, templates=DEMO_TEMPLATES)
    for dtype in _INPUT_TYPES:
        repo.register_dataset_type(dtype)
    inst = geometry.INSTRUMENT
    repo.insert_records("instrument", [{"instrument": inst}])
    repo.insert_records("detector", [{"instrument": inst, "detector": d} for d in range(detectors)])
    visit_ids = list(range(1, visits + 1))
    repo.insert_records(
        "visit", [{"instrument": inst, "visit": v, "band": geometry.visit_band(v)} for v in visit_ids]
    )
    repo.insert_records(
        "exposure", [{"instrument": inst, "exposure": geometry.exposure_of(v), "visit": v} for v in visit_ids]
    )
    repo.insert_records("skymap", [{"skymap": geometry.SKYMAP}])
    repo.insert_records("tract", [{"skymap": geometry.SKYMAP, "tract": t} for t in range(tracts)])
    n_patches = skymap.patches_per_side**2
    repo.insert_records(
        "patch",
        [
            {"skymap": geometry.SKYMAP, "tract": t, "patch": p}
            for t in range(tracts)
            for p in range(n_patches)
        ],
    )
    repo.insert_join_rows(
        "visit_detector_patch",
        [
            {"instrument": inst, "visit": v, "detector": d, "skymap": geometry.SKYMAP, "tract": t, "patch": p}
            for v in visit_ids
            for d in range(detectors)
            for t, p in camera.detector_patches(v, d)
        ],
    )
    say(f"Writing {visits} x {detectors} raws and {detectors} biases to {path} ...")
    repo.put(camera.dataset(), repo.ref("camera", {"instrument": inst}, CALIB_RUN))
    repo.put(skymap.dataset(), repo.ref("skyMap", {"skymap": geometry.SKYMAP}, CALIB_RUN))
    rng = np.random.default_rng(1234)
    for d in range(detectors):
        if d in missing_biases:
            continue
        bias = BIAS_LEVEL + rng.normal(0.0, 2.0, (camera.detector_size, camera.detector_size))
        repo.put(bias, repo.ref("bias", {"instrument": inst, "detector": d}, CALIB_RUN))
    stars = geometry.true_stars(skymap)
    placeholder: Path | None = None
    for v in visit_ids:
        for d in range(detectors):
            if (v, d) in missing_raws:
                continue
            ref = repo.ref(
                "raw", {"instrument": inst, "exposure": geometry.exposure_of(v), "detector": d}, RAW_RUN
            )
            if not write_pixels:
                if placeholder is None:
                    placeholder = Path(path) / "placeholder.npy"
                    np.save(placeholder, np.zeros((1, 1)))
                repo.ingest(ref, str(placeholder))
                continue
            box = camera.detector_box(v, d)
            band = geometry.visit_band(v)
            sky = _render(box, stars) + SKY_LEVEL[band]
            pixels = rng.poisson(np.maximum(sky, 0)).astype("f8") + BIAS_LEVEL + rng.normal(0, 2.0, sky.shape)
            repo.put(np.round(pixels), ref)
    return repo
