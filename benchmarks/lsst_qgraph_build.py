"""The lsst-pipe-base side of the pre-flight benchmark: build a DRP-shaped QuantumGraph.

Run by `benchmarks/preflight.py` in a fresh subprocess, with a Python that has
lsst-pipe-base installed; prints one JSON object on stdout. Standalone on
purpose: it imports nothing from provenance_graph, only the public API of
lsst-pipe-base and lsst-daf-butler.

    python benchmarks/lsst_qgraph_build.py --visits 10 --detectors 16 --tracts 1
    python benchmarks/lsst_qgraph_build.py --visits 40 --detectors 49 --tracts 2 --write /tmp/g.qg

What it does, in one process:

1. *populate* (timed separately, not part of the build): a registry-only butler
   on in-memory SQLite (`lsst.pipe.base.tests.mocks.InMemoryRepo`), with
   dimension records (visits and visit-detector regions, a sky map's tracts and
   patches, all with sky regions), a twelve-task mock pipeline of the DRP shape
   of shared/FIELD.md (isr -> characterizeImage -> calibrate -> transformSourceTable,
   consolidateSourceTable, consolidateVisitSummary, makeWarp, assembleCoadd,
   detection, mergeDetections, consolidateObjectTable, forcedPhotCcd), a ``raw``
   per (visit, detector), a ``skyMap``, a ``bias`` per detector certified in a
   CALIBRATION collection, and the output dataset types registered;
2. *build* (the measured figure): `AllDimensionsQuantumGraphBuilder(...).finish()`,
   which runs the big registry query, the spatial joins, the prerequisite (calibration)
   lookups, resolves every quantum, and adds init-outputs and config datasets;
3. *write* (optional, timed separately): `PredictedQuantumGraphComponents.write`
   to a ``.qg`` file.

Peak RSS is `ru_maxrss` of this process, read after each phase, so it includes
the in-memory registry and everything imported.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

from astropy.time import Time, TimeDelta
from lsst.daf.butler import Butler, CollectionType, Timespan
from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
from lsst.pipe.base.tests.mocks import DynamicConnectionConfig, InMemoryRepo
from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

INSTRUMENT = "Cam"
SKYMAP = "SkyMap"
BANDS = ("g", "r", "i")
TRACT_DEG = 2.0  # tracts: 2 x 2 degree boxes side by side along RA
FOCAL_PLANE_DEG = 1.0  # a visit's detectors tile a 1 x 1 degree box
OUTPUT_RUN = "bench/drp/run"

VISIT_DETECTOR = ("instrument", "visit", "detector")
VISIT = ("instrument", "visit")
PATCH = ("skymap", "tract", "patch")
PATCH_BAND = ("skymap", "tract", "patch", "band")
WARP = ("instrument", "visit", "skymap", "tract", "patch")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def sky_box(ra0: float, dec0: float, width: float, height: float) -> ConvexPolygon:
    corners = [(ra0, dec0), (ra0 + width, dec0), (ra0 + width, dec0 + height), (ra0, dec0 + height)]
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(ra, dec)) for ra, dec in corners])


def visit_id(index: int) -> int:
    return 1000 + index


def insert_dimension_records(butler: Butler, visits: int, detectors: int, tracts: int, patches: int) -> None:
    """Visits dithered around tract centres; detectors tile the focal plane; patches tile tracts."""
    registry = butler.registry
    registry.insertDimensionData(
        "instrument",
        {
            "name": INSTRUMENT,
            "visit_max": 10**7,
            "exposure_max": 10**7,
            "detector_max": 10**4,
            "class_name": "not.a.real.Instrument",
        },
    )
    registry.insertDimensionData(
        "physical_filter",
        *[{"instrument": INSTRUMENT, "name": f"{INSTRUMENT}-{band}", "band": band} for band in BANDS],
    )
    registry.insertDimensionData(
        "detector", *[{"instrument": INSTRUMENT, "id": d, "full_name": f"D{d:03d}"} for d in range(detectors)]
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
    columns = math.ceil(math.sqrt(detectors))
    detector_deg = FOCAL_PLANE_DEG / columns
    visit_records: list[dict[str, Any]] = []
    region_records: list[dict[str, Any]] = []
    for v in range(visits):
        tract = v % tracts
        ra_centre = tract * TRACT_DEG + TRACT_DEG / 2 + ((v * 37) % 7 - 3) * 0.1
        dec_centre = ((v * 53) % 7 - 3) * 0.1
        ra0, dec0 = ra_centre - FOCAL_PLANE_DEG / 2, dec_centre - FOCAL_PLANE_DEG / 2
        begin = start + TimeDelta(60 * v, format="sec")
        visit_records.append(
            {
                "instrument": INSTRUMENT,
                "id": visit_id(v),
                "name": f"v{visit_id(v)}",
                "day_obs": day_obs,
                "physical_filter": f"{INSTRUMENT}-{BANDS[v % len(BANDS)]}",
                "exposure_time": 30.0,
                "region": sky_box(ra0, dec0, FOCAL_PLANE_DEG, FOCAL_PLANE_DEG),
                "timespan": Timespan(begin, begin + TimeDelta(30, format="sec")),
            }
        )
        for d in range(detectors):
            i, j = d % columns, d // columns
            region_records.append(
                {
                    "instrument": INSTRUMENT,
                    "visit": visit_id(v),
                    "detector": d,
                    "region": sky_box(
                        ra0 + i * detector_deg, dec0 + j * detector_deg, detector_deg, detector_deg
                    ),
                }
            )
    registry.insertDimensionData("visit", *visit_records)
    registry.insertDimensionData("visit_detector_region", *region_records)
    registry.insertDimensionData(
        "skymap",
        {
            "name": SKYMAP,
            "hash": b"bench",
            "tract_max": 1000,
            "patch_nx_max": patches,
            "patch_ny_max": patches,
        },
    )
    patch_deg = TRACT_DEG / patches
    tract_records: list[dict[str, Any]] = []
    patch_records: list[dict[str, Any]] = []
    for t in range(tracts):
        ra0, dec0 = t * TRACT_DEG, -TRACT_DEG / 2
        tract_records.append({"skymap": SKYMAP, "id": t, "region": sky_box(ra0, dec0, TRACT_DEG, TRACT_DEG)})
        for py in range(patches):
            for px in range(patches):
                patch_records.append(
                    {
                        "skymap": SKYMAP,
                        "tract": t,
                        "id": py * patches + px,
                        "cell_x": px,
                        "cell_y": py,
                        "region": sky_box(ra0 + px * patch_deg, dec0 + py * patch_deg, patch_deg, patch_deg),
                    }
                )
    registry.insertDimensionData("tract", *tract_records)
    registry.insertDimensionData("patch", *patch_records)


def connection(
    name: str, *dimensions: str, multiple: bool = False, calibration: bool = False
) -> DynamicConnectionConfig:
    return DynamicConnectionConfig(
        dataset_type_name=name, dimensions=list(dimensions), multiple=multiple, is_calibration=calibration
    )


def add_drp_tasks(repo: InMemoryRepo) -> None:
    """The twelve tasks, as mock tasks with the connections of the DRP shape."""
    c = connection
    repo.add_task(
        "isr",
        dimensions=VISIT_DETECTOR,
        inputs={"raw": c("raw", *VISIT_DETECTOR)},
        prerequisite_inputs={"bias": c("bias", "instrument", "detector", calibration=True)},
        outputs={"postISRCCD": c("postISRCCD", *VISIT_DETECTOR)},
    )
    repo.add_task(
        "characterizeImage",
        dimensions=VISIT_DETECTOR,
        inputs={"exposure": c("postISRCCD", *VISIT_DETECTOR)},
        outputs={"icExp": c("icExp", *VISIT_DETECTOR), "icSrc": c("icSrc", *VISIT_DETECTOR)},
    )
    repo.add_task(
        "calibrate",
        dimensions=VISIT_DETECTOR,
        inputs={"exposure": c("icExp", *VISIT_DETECTOR), "icSrc": c("icSrc", *VISIT_DETECTOR)},
        outputs={"calexp": c("calexp", *VISIT_DETECTOR), "src": c("src", *VISIT_DETECTOR)},
        init_outputs={"schema": c("src_schema")},
    )
    repo.add_task(
        "transformSourceTable",
        dimensions=VISIT_DETECTOR,
        inputs={"src": c("src", *VISIT_DETECTOR)},
        init_inputs={"schema": c("src_schema")},
        outputs={"table": c("sourceTable", *VISIT_DETECTOR)},
    )
    repo.add_task(
        "consolidateSourceTable",
        dimensions=VISIT,
        inputs={"tables": c("sourceTable", *VISIT_DETECTOR, multiple=True)},
        outputs={"table": c("sourceTable_visit", *VISIT)},
    )
    repo.add_task(
        "consolidateVisitSummary",
        dimensions=VISIT,
        inputs={"calexps": c("calexp", *VISIT_DETECTOR, multiple=True)},
        outputs={"summary": c("visitSummary", *VISIT)},
    )
    repo.add_task(
        "makeWarp",
        dimensions=WARP,
        inputs={
            "calexps": c("calexp", *VISIT_DETECTOR, multiple=True),
            "summary": c("visitSummary", *VISIT),
            "skyMap": c("skyMap", "skymap"),
        },
        outputs={"warp": c("deepCoadd_directWarp", *WARP)},
    )
    repo.add_task(
        "assembleCoadd",
        dimensions=PATCH_BAND,
        inputs={"warps": c("deepCoadd_directWarp", *WARP, multiple=True), "skyMap": c("skyMap", "skymap")},
        outputs={"coadd": c("deepCoadd", *PATCH_BAND)},
    )
    repo.add_task(
        "detection",
        dimensions=PATCH_BAND,
        inputs={"coadd": c("deepCoadd", *PATCH_BAND)},
        outputs={"det": c("deepCoadd_det", *PATCH_BAND)},
    )
    repo.add_task(
        "mergeDetections",
        dimensions=PATCH,
        inputs={"dets": c("deepCoadd_det", *PATCH_BAND, multiple=True)},
        outputs={"merged": c("deepCoadd_mergeDet", *PATCH)},
    )
    repo.add_task(
        "consolidateObjectTable",
        dimensions=("skymap", "tract"),
        inputs={"parts": c("deepCoadd_mergeDet", *PATCH, multiple=True)},
        outputs={"table": c("objectTable_tract", "skymap", "tract")},
    )
    # Per (visit, detector); the tract's object table is joined spatially.
    repo.add_task(
        "forcedPhotCcd",
        dimensions=VISIT_DETECTOR,
        inputs={
            "exposure": c("calexp", *VISIT_DETECTOR),
            "refCat": c("objectTable_tract", "skymap", "tract", multiple=True),
        },
        outputs={"forced": c("forced_src", *VISIT_DETECTOR)},
    )


def insert_inputs(repo: InMemoryRepo) -> None:
    """Raws, the sky map, and a bias per detector certified for all time in a CALIBRATION collection."""
    butler = repo.butler
    repo.pipeline_graph.resolve(butler.registry)
    bias_type = repo.pipeline_graph.dataset_types["bias"].dataset_type
    butler.registry.registerDatasetType(bias_type)
    butler.collections.register("calib/run")
    butler.collections.register("calib", CollectionType.CALIBRATION)
    detector_ids = butler.query_data_ids(["instrument", "detector"], explain=False, limit=None)
    biases = butler.registry.insertDatasets(bias_type, detector_ids, run="calib/run")
    butler.registry.certify("calib", biases, Timespan(None, None))
    butler.collections.redefine_chain(repo.input_chain, [repo.input_run, "calib"])
    # limit=None: the default query limit would silently truncate (and warn) above 20,000 rows.
    repo.insert_datasets("raw", limit=None)
    repo.insert_datasets("skyMap", limit=None)
    # Register the output dataset types; the returned builder (it has no data query) is discarded.
    repo.make_quantum_graph_builder(insert_mocked_inputs=False, register_output_dataset_types=True)


def versions() -> dict[str, str]:
    return {
        name: importlib.metadata.version(name)
        for name in ("lsst-pipe-base", "lsst-daf-butler", "lsst-sphgeom")
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, required=True)
    parser.add_argument("--detectors", type=int, required=True)
    parser.add_argument("--tracts", type=int, required=True)
    parser.add_argument("--patches", type=int, default=4, help="patches per side of a tract (default 4)")
    parser.add_argument("--write", metavar="PATH", help="also write the graph to PATH (.qg) and time it")
    args = parser.parse_args()
    record: dict[str, Any] = {
        "tool": "lsst-pipe-base",
        "version": versions()["lsst-pipe-base"],
        "versions": versions(),
        "python": sys.version.split()[0],
        "visits": args.visits,
        "detectors": args.detectors,
        "tracts": args.tracts,
        "patches_per_side": args.patches,
        "rss_after_import_mb": peak_rss_mb(),
    }

    started = time.perf_counter()
    repo = InMemoryRepo()
    insert_dimension_records(repo.butler, args.visits, args.detectors, args.tracts, args.patches)
    add_drp_tasks(repo)
    insert_inputs(repo)
    record["setup_seconds"] = round(time.perf_counter() - started, 3)
    record["rss_before_build_mb"] = peak_rss_mb()

    visits = ",".join(str(visit_id(v)) for v in range(args.visits))
    where = f"instrument='{INSTRUMENT}' AND skymap='{SKYMAP}' AND visit IN ({visits})"
    started = time.perf_counter()
    builder = AllDimensionsQuantumGraphBuilder(
        repo.pipeline_graph,
        repo.butler,
        where=where,
        input_collections=[repo.input_chain],
        output_run=OUTPUT_RUN,
    )
    components = builder.finish(output="bench/drp", attach_datastore_records=False)
    record["build_seconds"] = round(time.perf_counter() - started, 3)
    record["peak_rss_mb"] = peak_rss_mb()
    header = components.header
    record["quanta"] = header.n_quanta
    record["datasets"] = header.n_datasets
    record["quanta_per_task"] = dict(header.n_task_quanta)

    if args.write:
        started = time.perf_counter()
        components.write(args.write)
        record["write_seconds"] = round(time.perf_counter() - started, 3)
        record["write_bytes"] = Path(args.write).stat().st_size
        record["peak_rss_with_write_mb"] = peak_rss_mb()
    print(json.dumps(record))


if __name__ == "__main__":
    main()
