"""The demo pipeline's twelve tasks: small, real computations on synthetic images (numpy).

The pipeline follows the data-release shape of FIELD.md (see ``pipeline.yaml``):

- per (exposure, detector): `IsrTask` subtracts the bias;
- per (visit, detector): `CharacterizeImageTask` subtracts the background and
  finds bright sources, `CalibrateTask` applies the band's zero point and
  measures sources with sky positions, `TransformSourceTableTask` adds
  magnitudes;
- per visit: `ConsolidateSourceTableTask` and `ConsolidateVisitSummaryTask`;
- per (visit, tract, patch): `MakeWarpTask` pastes the overlapping calexps onto
  the patch grid;
- per (tract, patch, band): `AssembleCoaddTask` averages warps, `DetectionTask`
  finds sources on the coadd;
- per (tract, patch): `MergeDetectionsTask`; per tract: `ConsolidateObjectTableTask`;
- per (visit, detector, tract): `ForcedPhotCcdTask` measures every object on the calexp.

Images are ``float64`` arrays; catalogs are structured arrays. Sky geometry
comes from the ``camera`` and ``skyMap`` prerequisite datasets, read through
`provenance_graph.demo.geometry`: where a detector lands from ``camera``
(which holds the sky map its visits point at), where a patch is from ``skyMap``.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from provenance_graph.demo import geometry
from provenance_graph.model import DataId
from provenance_graph.pipeline import Input, Output, PipelineTask, PrerequisiteInput, QuantumIO, TaskConfig

__all__ = [
    "AssembleCoaddTask",
    "BadCalibrationError",
    "CalibrateTask",
    "CharacterizeImageTask",
    "ConsolidateObjectTableTask",
    "ConsolidateSourceTableTask",
    "ConsolidateVisitSummaryTask",
    "DemoConfig",
    "DemoTask",
    "DetectionTask",
    "ForcedPhotCcdTask",
    "InjectedFailure",
    "IsrTask",
    "MakeWarpTask",
    "MergeDetectionsTask",
    "TransformSourceTableTask",
]

VISIT_DETECTOR = ("instrument", "visit", "detector")
EXPOSURE_DETECTOR = ("instrument", "exposure", "detector")
VISIT = ("instrument", "visit")
WARP = ("instrument", "visit", "skymap", "tract", "patch")
PATCH_BAND = ("skymap", "tract", "patch", "band")
PATCH = ("skymap", "tract", "patch")
TRACT = ("skymap", "tract")

_CATALOG = [("x", "f8"), ("y", "f8"), ("flux", "f8")]
#: Zero point per band: calibrated flux = counts * 10 ** (0.4 * (zp - 27)).
ZERO_POINTS = {"g": 27.2, "r": 27.0, "i": 26.7}


def find_peaks(image: np.ndarray, threshold: float, box: int = 2) -> np.ndarray:
    """Local maxima above ``threshold``, with the flux summed in a (2*box+1)^2 square."""
    img = np.nan_to_num(image, nan=0.0)
    pad = np.pad(img, 1, constant_values=-np.inf)
    core = pad[1:-1, 1:-1]
    is_peak = core > threshold
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx or dy:
                is_peak &= core >= pad[1 + dy : pad.shape[0] - 1 + dy, 1 + dx : pad.shape[1] - 1 + dx]
    ys, xs = np.nonzero(is_peak)
    out = np.zeros(len(xs), dtype=_CATALOG)
    out["x"], out["y"] = xs, ys
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        out["flux"][i] = img[max(0, y - box) : y + box + 1, max(0, x - box) : x + box + 1].sum()
    return out


class InjectedFailure(RuntimeError):
    """Raised by a demo task on a data ID its ``fail_on`` config names (failure injection for tests)."""


#: The largest count DemoCam's 16-bit ADC gives: no raw pixel, so no bias, can be beyond it.
ADC_MAX = 65535


class BadCalibrationError(ValueError):
    """Raised by `IsrTask` on a calibration that cannot be right (non-finite or absurd pixels)."""


class DemoConfig(TaskConfig):
    """Config every demo task has."""

    fail_on: list[dict[str, int | str]] = []
    """Failure injection: fail on a quantum whose data ID has all the values of one entry, e.g.
    ``[{"visit": 2, "detector": 1}]``, or as data IDs are printed, ``["visit=2 detector=1"]``.
    Empty: never fail."""
    sleep: float = 0.0
    """Seconds to wait before running each quantum: makes a run slow enough to interrupt (tests)."""
    allocate_mb: int = Field(default=0, ge=0, exclude_if=lambda mb: mb == 0)
    """Megabytes to allocate and touch before running each quantum, held while it sleeps (`sleep`):
    makes a quantum use more memory than its batch job asked for (tests of memory limits). Left out
    of the config's dump while 0, so pipelines (and their digests) without it are as before."""

    @field_validator("fail_on", mode="before")
    @classmethod
    def _typed_data_ids(cls, value: Any) -> Any:
        """Entries typed in the human form (``"visit=2 detector=1"``) become mappings."""
        if isinstance(value, list):
            return [DataId.parse(v).to_dict() if isinstance(v, str) else v for v in value]
        return value


class DemoTask(PipelineTask):
    """Base of the demo tasks: failure injection, then `run`."""

    ConfigClass: ClassVar[type[TaskConfig]] = DemoConfig

    def run_quantum(self, io: QuantumIO) -> None:
        """Fail if the config says so for this data ID; otherwise `run`."""
        assert isinstance(self.config, DemoConfig)
        data_id = io.data_id.to_dict()
        for entry in self.config.fail_on:
            if all(data_id.get(k) == v for k, v in entry.items()):
                raise InjectedFailure(f"{self.label}: failure injected at {io.data_id} (config fail_on)")
        held = np.ones(self.config.allocate_mb * 2**20, dtype=np.uint8) if self.config.allocate_mb else None
        if self.config.sleep > 0:
            time.sleep(self.config.sleep)
        del held
        self.run(io)

    def run(self, io: QuantumIO) -> None:
        """Read the inputs, compute, write the outputs."""
        raise NotImplementedError


def _sky_box(camera: dict[str, Any], visit: int | str, detector: int | str) -> geometry.Box:
    """Where a detector of a visit lands on the sky, for the camera described by the ``camera`` dataset."""
    return geometry.Camera.from_dataset(camera).detector_box(int(visit), int(detector))


def _patch_box(skymap: dict[str, Any], tract: int | str, patch: int | str) -> geometry.Box:
    """Where a patch is on the sky, for the sky map described by the ``skyMap`` dataset."""
    return geometry.SkyMap.from_dataset(skymap).patch_box(int(tract), int(patch))


def robust_sigma(image: np.ndarray) -> float:
    """The noise level, from the median absolute deviation."""
    values = image[np.isfinite(image)]
    if values.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


class IsrConfig(DemoConfig):
    """Config of `IsrTask`."""

    saturation: float = 65000.0
    """Pixels above this (after bias subtraction) are clipped to it."""


class IsrTask(DemoTask):
    """Instrument signature removal: raw minus bias, clipped at saturation."""

    dimensions = EXPOSURE_DETECTOR
    ConfigClass = IsrConfig
    connections = {
        "raw": Input("raw", EXPOSURE_DETECTOR, "Image", doc="the raw detector image"),
        "bias": PrerequisiteInput("bias", ("instrument", "detector"), "Image", doc="the master bias"),
        "exposure": Output("postISRCCD", EXPOSURE_DETECTOR, "Image", doc="the bias-subtracted image"),
    }

    def run(self, io: QuantumIO) -> None:
        """Check the bias is sane (finite, within the ADC's range), then subtract it."""
        config: Any = self.config
        bias = io.get("bias")
        insane = int(np.count_nonzero(~np.isfinite(bias) | (np.abs(np.nan_to_num(bias)) > ADC_MAX)))
        if insane:
            where = DataId({k: io.data_id[k] for k in ("instrument", "detector")})
            raise BadCalibrationError(
                f"bias ({where}) has {insane} of {bias.size} pixels non-finite or beyond the "
                f"{ADC_MAX} counts of the ADC: a corrupt calibration"
            )
        image = io.get("raw").astype("f8") - bias
        io.put("exposure", np.minimum(image, config.saturation))


class CharacterizeConfig(DemoConfig):
    """Config of `CharacterizeImageTask`."""

    threshold: float = 10.0
    """Detection threshold for the bright sources, in units of the noise."""


class CharacterizeImageTask(DemoTask):
    """Background subtraction and detection of bright sources."""

    dimensions = VISIT_DETECTOR
    ConfigClass = CharacterizeConfig
    connections = {
        "exposure": Input("postISRCCD", EXPOSURE_DETECTOR, "Image", doc="the visit's exposure"),
        "characterized": Output("icExp", VISIT_DETECTOR, "Image"),
        "sources": Output("icSrc", VISIT_DETECTOR, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Subtract the median background; find sources above threshold."""
        config: Any = self.config
        image = io.get("exposure")
        image = image - np.median(image)
        io.put("characterized", image)
        io.put("sources", find_peaks(image, config.threshold * robust_sigma(image)))


class CalibrateConfig(DemoConfig):
    """Config of `CalibrateTask`."""

    threshold: float = 5.0
    """Detection threshold, in units of the noise."""


class CalibrateTask(DemoTask):
    """Photometric calibration and source measurement with sky positions."""

    dimensions = VISIT_DETECTOR
    ConfigClass = CalibrateConfig
    connections = {
        "exposure": Input("icExp", VISIT_DETECTOR, "Image"),
        "icSources": Input("icSrc", VISIT_DETECTOR, "Catalog"),
        "camera": PrerequisiteInput("camera", ("instrument",), "StructuredData"),
        "calexp": Output("calexp", VISIT_DETECTOR, "Image"),
        "sources": Output("src", VISIT_DETECTOR, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Scale to calibrated flux; measure sources; put them on the sky."""
        config: Any = self.config
        data_id = io.data_id
        camera = io.get("camera")
        band = geometry.visit_band(int(data_id["visit"]))
        scale = 10 ** (0.4 * (ZERO_POINTS[band] - 27.0))
        calexp = io.get("exposure") * scale
        io.put("calexp", calexp)
        sources = find_peaks(calexp, config.threshold * robust_sigma(calexp))
        x0, y0, _w, _h = _sky_box(camera, data_id["visit"], data_id["detector"])
        sources["x"] += x0
        sources["y"] += y0
        io.put("sources", sources)


class TransformSourceTableTask(DemoTask):
    """Source catalog to source table: adds magnitudes, visit and detector columns."""

    dimensions = VISIT_DETECTOR
    connections = {
        "sources": Input("src", VISIT_DETECTOR, "Catalog"),
        "table": Output("sourceTable", VISIT_DETECTOR, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Add columns."""
        src = io.get("sources")
        table = np.zeros(len(src), dtype=[*_CATALOG, ("mag", "f8"), ("visit", "i8"), ("detector", "i8")])
        for name in ("x", "y", "flux"):
            table[name] = src[name]
        table["mag"] = 27.0 - 2.5 * np.log10(np.maximum(src["flux"], 1e-9))
        table["visit"] = int(io.data_id["visit"])
        table["detector"] = int(io.data_id["detector"])
        io.put("table", table)


class ConsolidateSourceTableTask(DemoTask):
    """All detectors' source tables of a visit, in one table."""

    dimensions = VISIT
    connections = {
        "tables": Input("sourceTable", VISIT_DETECTOR, "Catalog", multiple=True),
        "table": Output("sourceTable_visit", VISIT, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Concatenate."""
        io.put("table", np.concatenate(io.get("tables")))


class ConsolidateVisitSummaryTask(DemoTask):
    """Per-detector image statistics of a visit."""

    dimensions = VISIT
    connections = {
        "calexps": Input("calexp", VISIT_DETECTOR, "Image", multiple=True),
        "summary": Output("visitSummary", VISIT, "StructuredData"),
    }

    def run(self, io: QuantumIO) -> None:
        """Median and noise of every calexp."""
        detectors = {}
        for ref, image in zip(io.refs("calexps"), io.get("calexps"), strict=True):
            detectors[str(ref.data_id["detector"])] = {
                "median": float(np.median(image)),
                "sigma": robust_sigma(image),
            }
        io.put("summary", {"visit": int(io.data_id["visit"]), "detectors": detectors})


class MakeWarpTask(DemoTask):
    """Paste a visit's calexps that overlap a patch onto the patch grid (NaN where no data).

    Each calexp is pasted less its background level from the visit summary, as Rubin's
    makeWarp reads its calibrations from visitSummary: a warp depends on the whole visit.
    """

    dimensions = WARP
    connections = {
        "calexps": Input("calexp", VISIT_DETECTOR, "Image", multiple=True),
        "summary": Input("visitSummary", VISIT, "StructuredData"),
        "camera": PrerequisiteInput("camera", ("instrument",), "StructuredData"),
        "skyMap": PrerequisiteInput("skyMap", ("skymap",), "StructuredData"),
        "warp": Output("warp", WARP, "Image"),
    }

    def run(self, io: QuantumIO) -> None:
        """Shift each calexp into the patch's frame."""
        camera = io.get("camera")
        data_id = io.data_id
        pbox = _patch_box(io.get("skyMap"), data_id["tract"], data_id["patch"])
        warp = np.full((pbox[3], pbox[2]), np.nan)
        levels = io.get("summary")["detectors"]
        for ref, calexp in zip(io.refs("calexps"), io.get("calexps"), strict=True):
            dbox = _sky_box(camera, data_id["visit"], ref.data_id["detector"])
            image = calexp - levels[str(ref.data_id["detector"])]["median"]
            common = geometry.overlap(dbox, pbox)
            if common is None:
                continue
            x, y, w, h = common
            warp[y - pbox[1] : y - pbox[1] + h, x - pbox[0] : x - pbox[0] + w] = image[
                y - dbox[1] : y - dbox[1] + h, x - dbox[0] : x - dbox[0] + w
            ]
        io.put("warp", warp)


class AssembleCoaddTask(DemoTask):
    """The mean of a patch's warps in one band."""

    dimensions = PATCH_BAND
    connections = {
        "warps": Input("warp", WARP, "Image", multiple=True),
        "coadd": Output("deepCoadd", PATCH_BAND, "Image"),
    }

    def run(self, io: QuantumIO) -> None:
        """Average, ignoring pixels a warp does not cover."""
        stack = np.stack(io.get("warps"))
        covered = np.isfinite(stack).sum(axis=0)
        total = np.nansum(stack, axis=0)
        io.put("coadd", np.where(covered > 0, total / np.maximum(covered, 1), np.nan))


class DetectionConfig(DemoConfig):
    """Config of `DetectionTask`."""

    threshold: float = 5.0
    """Detection threshold, in units of the noise."""


class DetectionTask(DemoTask):
    """Source detection on a coadd; positions on the sky."""

    dimensions = PATCH_BAND
    ConfigClass = DetectionConfig
    connections = {
        "coadd": Input("deepCoadd", PATCH_BAND, "Image"),
        "skyMap": PrerequisiteInput("skyMap", ("skymap",), "StructuredData"),
        "detections": Output("deepCoadd_det", PATCH_BAND, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Find peaks; move them to sky coordinates."""
        config: Any = self.config
        coadd = io.get("coadd")
        found = find_peaks(coadd, config.threshold * robust_sigma(coadd))
        x0, y0, _w, _h = _patch_box(io.get("skyMap"), io.data_id["tract"], io.data_id["patch"])
        found["x"] += x0
        found["y"] += y0
        io.put("detections", found)


class MergeDetectionsConfig(DemoConfig):
    """Config of `MergeDetectionsTask`."""

    radius: float = 2.0
    """Detections closer than this (pixels) in different bands are one object."""


class MergeDetectionsTask(DemoTask):
    """One list of objects from every band's detections of a patch."""

    dimensions = PATCH
    ConfigClass = MergeDetectionsConfig
    connections = {
        "detections": Input("deepCoadd_det", PATCH_BAND, "Catalog", multiple=True),
        "merged": Output("deepCoadd_mergeDet", PATCH, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Keep a detection unless an earlier one lies within the radius."""
        config: Any = self.config
        kept: list[tuple[float, float, float]] = []
        for cat in io.get("detections"):
            for x, y, flux in zip(cat["x"], cat["y"], cat["flux"], strict=True):
                if all((x - kx) ** 2 + (y - ky) ** 2 > config.radius**2 for kx, ky, _f in kept):
                    kept.append((float(x), float(y), float(flux)))
        merged = np.array(kept, dtype=_CATALOG) if kept else np.zeros(0, dtype=_CATALOG)
        io.put("merged", merged)


class ConsolidateObjectTableTask(DemoTask):
    """All patches' objects of a tract, with object ids."""

    dimensions = TRACT
    connections = {
        "merged": Input("deepCoadd_mergeDet", PATCH, "Catalog", multiple=True),
        "objects": Output("objectTable_tract", TRACT, "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Concatenate and number."""
        merged = np.concatenate(io.get("merged"))
        objects = np.zeros(len(merged), dtype=[("id", "i8"), *_CATALOG])
        objects["id"] = np.arange(len(merged))
        for name in ("x", "y", "flux"):
            objects[name] = merged[name]
        io.put("objects", objects)


class ForcedPhotCcdTask(DemoTask):
    """Flux of every object of the tract at its position on a calexp."""

    dimensions = ("instrument", "visit", "detector", "skymap", "tract")
    connections = {
        "calexp": Input("calexp", VISIT_DETECTOR, "Image"),
        "objects": Input("objectTable_tract", TRACT, "Catalog"),
        "camera": PrerequisiteInput("camera", ("instrument",), "StructuredData"),
        "forced": Output("forced_src", ("instrument", "visit", "detector", "skymap", "tract"), "Catalog"),
    }

    def run(self, io: QuantumIO) -> None:
        """Sum a 5x5 box at each object inside the detector."""
        camera = io.get("camera")
        data_id = io.data_id
        image = io.get("calexp")
        objects = io.get("objects")
        x0, y0, w, h = _sky_box(camera, data_id["visit"], data_id["detector"])
        xs = np.rint(objects["x"]).astype(int) - x0
        ys = np.rint(objects["y"]).astype(int) - y0
        inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        forced = np.zeros(int(inside.sum()), dtype=[("id", "i8"), ("flux", "f8")])
        forced["id"] = objects["id"][inside]
        for i, (x, y) in enumerate(zip(xs[inside], ys[inside], strict=True)):
            forced["flux"][i] = image[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].sum()
        io.put("forced", forced)
