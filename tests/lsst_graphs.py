"""Small DRP-shaped QuantumGraphs built with lsst-pipe-base's mock tasks, for interop tests.

Needs ``lsst-pipe-base`` (import this module after ``pytest.importorskip``).
The repository is a registry-only in-memory butler: dimension records with
sky regions for visits, detectors, tracts and patches, then ``qg_raw``,
``qg_bias`` (a prerequisite) and ``qg_skyMap`` as overall inputs. Every task
label and dataset type starts with ``qg_`` so the graph never clashes with
the dataset types of our own demo (``raw``, ``calexp``...) in a shared database.

The pipeline has per-detector tasks, per-visit gathers (many-to-one), a
spatial visit x patch join (warps), per-band coadds, a cross-band merge, a
per-tract gather and a per-detector task that reads the tract tables that
overlap it, so upstream sets cross every kind of edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astropy.time import Time, TimeDelta
from lsst.daf.butler import Butler, Timespan
from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
from lsst.pipe.base.tests.mocks import DynamicConnectionConfig, InMemoryRepo
from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

INSTRUMENT = "QgCam"
SKYMAP = "QgSkyMap"
BANDS = ("g", "r", "i")
TRACT_DEG = 2.0
FOCAL_PLANE_DEG = 1.0

VD = ("instrument", "visit", "detector")
VIS = ("instrument", "visit")
TP = ("skymap", "tract", "patch")
TPB = (*TP, "band")


@dataclass(frozen=True)
class BuiltGraph:
    """What `build_drp_graph` wrote."""

    path: Path
    """The ``.qg`` file."""
    output_run: str
    """The graph's output run."""
    where: str
    """The data query the graph was built with (recorded as ``data_query``)."""


def _box(ra0: float, dec0: float, width: float, height: float) -> ConvexPolygon:
    corners = [(ra0, dec0), (ra0 + width, dec0), (ra0 + width, dec0 + height), (ra0, dec0 + height)]
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(ra, dec)) for ra, dec in corners])


def _insert_dimension_records(butler: Butler, visits: int, detectors: int, patches: int) -> None:
    registry = butler.registry
    registry.insertDimensionData(
        "instrument",
        {
            "name": INSTRUMENT,
            "visit_max": 10**6,
            "exposure_max": 10**6,
            "detector_max": 1000,
            "class_name": "not.a.real.Instrument",
        },
    )
    registry.insertDimensionData(
        "physical_filter",
        *[{"instrument": INSTRUMENT, "name": f"{INSTRUMENT}-{b}", "band": b} for b in BANDS],
    )
    registry.insertDimensionData(
        "detector",
        *[{"instrument": INSTRUMENT, "id": d, "full_name": f"D{d:02d}"} for d in range(detectors)],
    )
    start = Time("2025-01-01T00:00:00", scale="tai")
    day_obs = 20250101
    registry.insertDimensionData(
        "day_obs",
        {
            "instrument": INSTRUMENT,
            "id": day_obs,
            "timespan": Timespan(start, start + TimeDelta(1, format="jd")),
        },
    )
    per_side = math.ceil(math.sqrt(detectors))
    detector_deg = FOCAL_PLANE_DEG / per_side
    visit_rows: list[dict[str, Any]] = []
    region_rows: list[dict[str, Any]] = []
    for v in range(visits):
        # Dither by up to +-0.3 deg around the tract center, differently for each visit.
        ra0 = TRACT_DEG / 2 + ((v * 37) % 7 - 3) * 0.1 - FOCAL_PLANE_DEG / 2
        dec0 = ((v * 53) % 7 - 3) * 0.1 - FOCAL_PLANE_DEG / 2
        begin = start + TimeDelta(60 * v, format="sec")
        visit_id = 100 + v
        visit_rows.append(
            {
                "instrument": INSTRUMENT,
                "id": visit_id,
                "name": f"v{visit_id}",
                "day_obs": day_obs,
                "physical_filter": f"{INSTRUMENT}-{BANDS[v % len(BANDS)]}",
                "exposure_time": 30.0,
                "region": _box(ra0, dec0, FOCAL_PLANE_DEG, FOCAL_PLANE_DEG),
                "timespan": Timespan(begin, begin + TimeDelta(30, format="sec")),
            }
        )
        for d in range(detectors):
            i, j = d % per_side, d // per_side
            region_rows.append(
                {
                    "instrument": INSTRUMENT,
                    "visit": visit_id,
                    "detector": d,
                    "region": _box(
                        ra0 + i * detector_deg, dec0 + j * detector_deg, detector_deg, detector_deg
                    ),
                }
            )
    registry.insertDimensionData("visit", *visit_rows)
    registry.insertDimensionData("visit_detector_region", *region_rows)
    registry.insertDimensionData(
        "skymap",
        {
            "name": SKYMAP,
            "hash": b"qg-test",
            "tract_max": 10,
            "patch_nx_max": patches,
            "patch_ny_max": patches,
        },
    )
    registry.insertDimensionData(
        "tract", {"skymap": SKYMAP, "id": 0, "region": _box(0.0, -TRACT_DEG / 2, TRACT_DEG, TRACT_DEG)}
    )
    patch_deg = TRACT_DEG / patches
    registry.insertDimensionData(
        "patch",
        *[
            {
                "skymap": SKYMAP,
                "tract": 0,
                "id": py * patches + px,
                "cell_x": px,
                "cell_y": py,
                "region": _box(px * patch_deg, -TRACT_DEG / 2 + py * patch_deg, patch_deg, patch_deg),
            }
            for py in range(patches)
            for px in range(patches)
        ],
    )


def _c(name: str, *dimensions: str, multiple: bool = False) -> DynamicConnectionConfig:
    return DynamicConnectionConfig(dataset_type_name=name, dimensions=list(dimensions), multiple=multiple)


def _add_tasks(repo: InMemoryRepo) -> None:
    repo.add_task(
        "qg_isr",
        dimensions=VD,
        inputs={"raw": _c("qg_raw", *VD)},
        prerequisite_inputs={"bias": _c("qg_bias", "instrument", "detector")},
        outputs={"exposure": _c("qg_postISRCCD", *VD)},
    )
    repo.add_task(
        "qg_calibrate",
        dimensions=VD,
        inputs={"exposure": _c("qg_postISRCCD", *VD)},
        outputs={"calexp": _c("qg_calexp", *VD), "src": _c("qg_src", *VD)},
        init_outputs={"schema": _c("qg_src_schema")},
    )
    repo.add_task(
        "qg_consolidateSourceTable",
        dimensions=VIS,
        inputs={"sources": _c("qg_src", *VD, multiple=True)},
        init_inputs={"schema": _c("qg_src_schema")},
        outputs={"table": _c("qg_sourceTable_visit", *VIS)},
    )
    repo.add_task(
        "qg_consolidateVisitSummary",
        dimensions=VIS,
        inputs={"calexps": _c("qg_calexp", *VD, multiple=True)},
        outputs={"summary": _c("qg_visitSummary", *VIS)},
    )
    repo.add_task(
        "qg_makeWarp",
        dimensions=("instrument", "visit", *TP),
        inputs={
            "calexps": _c("qg_calexp", *VD, multiple=True),
            "summary": _c("qg_visitSummary", *VIS),
            "skyMap": _c("qg_skyMap", "skymap"),
        },
        outputs={"warp": _c("qg_directWarp", "instrument", "visit", *TP)},
    )
    repo.add_task(
        "qg_assembleCoadd",
        dimensions=TPB,
        inputs={
            "warps": _c("qg_directWarp", "instrument", "visit", *TP, multiple=True),
            "skyMap": _c("qg_skyMap", "skymap"),
        },
        outputs={"coadd": _c("qg_deepCoadd", *TPB)},
    )
    repo.add_task(
        "qg_mergeDetections",
        dimensions=TP,
        inputs={"coadds": _c("qg_deepCoadd", *TPB, multiple=True)},
        outputs={"merged": _c("qg_mergeDet", *TP)},
    )
    repo.add_task(
        "qg_consolidateObjectTable",
        dimensions=("skymap", "tract"),
        inputs={"parts": _c("qg_mergeDet", *TP, multiple=True)},
        outputs={"table": _c("qg_objectTable_tract", "skymap", "tract")},
    )
    repo.add_task(
        "qg_forcedPhotCcd",
        dimensions=VD,
        inputs={
            "exposure": _c("qg_calexp", *VD),
            "references": _c("qg_objectTable_tract", "skymap", "tract", multiple=True),
        },
        outputs={"forced": _c("qg_forced_src", *VD)},
    )


def build_drp_graph(
    path: Path,
    *,
    input_run: str,
    output_run: str,
    visits: int = 6,
    detectors: int = 6,
    patches: int = 2,
) -> BuiltGraph:
    """Build a DRP-shaped predicted QuantumGraph with mock tasks and write it to ``path`` (``.qg``).

    Parameters
    ----------
    path
        Where to write the graph; must end in ``.qg``.
    input_run
        The run the overall inputs (raws, biases, sky map) are inserted into.
    output_run
        The graph's output run.
    visits, detectors, patches
        Size: visits, detectors per visit, and patches per side of the one tract.
    """
    with InMemoryRepo(input_run=input_run, input_chain=f"{input_run}-chain") as repo:
        _insert_dimension_records(repo.butler, visits, detectors, patches)
        _add_tasks(repo)
        # limit=None: the butler's data-ID queries otherwise stop at a default limit.
        for name in ("qg_raw", "qg_bias", "qg_skyMap"):
            repo.insert_datasets(name, limit=None)
        repo.make_quantum_graph_builder(insert_mocked_inputs=False, register_output_dataset_types=True)
        visit_ids = ", ".join(str(100 + v) for v in range(visits))
        where = f"instrument = '{INSTRUMENT}' AND skymap = '{SKYMAP}' AND visit IN ({visit_ids})"
        builder = AllDimensionsQuantumGraphBuilder(
            repo.pipeline_graph,
            repo.butler,
            where=where,
            input_collections=[repo.input_chain],
            output_run=output_run,
        )
        components = builder.finish(
            output=f"{output_run}-chain", metadata={"data_query": where}, attach_datastore_records=False
        )
        components.write(str(path))
    return BuiltGraph(path=path, output_run=output_run, where=where)
