"""DRP-shaped mock repositories for lsst-pipe-base: a sky of visits and tracts, and mock tasks from YAML.

Shared by the pre-flight benchmark's pipe_base side (`benchmarks/lsst_qgraph_build.py`,
which imports it as a sibling module) and the interop tests (`tests/lsst_graphs.py`,
as ``benchmarks.mock_drp``). Like the benchmark, it imports only lsst-pipe-base
and what that depends on (lsst-daf-butler, lsst-sphgeom, astropy, PyYAML), never
provenance_graph, so the benchmark still runs under any Python that has
lsst-pipe-base (``--lsst-python``).

The sky: tracts are `TRACT_DEG` boxes side by side along RA, cut into patches;
visit ``i`` points at the centre of tract ``i % tracts``, dithered by up to 0.3
degree, and its detectors tile a `FOCAL_PLANE_DEG` box in a
``ceil(sqrt(detectors))``-column grid. Bands cycle over visits.

A pipeline is data, a YAML file (`load_pipeline`; ``benchmarks/lsst_drp_pipeline.yaml``
and ``tests/qg_pipeline.yaml``): each task's quantum dimensions and connections,
each connection naming a dataset type, whose dimensions come from one table; a
connection is ``multiple`` exactly when its dataset type has a dimension the
task lacks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from astropy.time import Time, TimeDelta
from lsst.daf.butler import Butler, Timespan
from lsst.pipe.base.tests.mocks import DynamicConnectionConfig, InMemoryRepo
from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

BANDS = ("g", "r", "i")
TRACT_DEG = 2.0  # tracts: 2 x 2 degree boxes side by side along RA
FOCAL_PLANE_DEG = 1.0  # a visit's detectors tile a 1 x 1 degree box


@dataclass(frozen=True)
class MockSky:
    """The names a mock repository's sky goes by."""

    instrument: str
    skymap: str
    first_visit: int
    """The id of the first visit; the others follow it."""

    def visit_id(self, index: int) -> int:
        return self.first_visit + index

    def visit_ids(self, visits: int) -> list[int]:
        return [self.visit_id(v) for v in range(visits)]


@dataclass(frozen=True)
class MockTask:
    """One mock task: its quantum dimensions and connections (connection name: dataset type name)."""

    dimensions: Sequence[str]
    inputs: Mapping[str, str]
    outputs: Mapping[str, str]
    prerequisite_inputs: Mapping[str, str] = field(default_factory=dict)
    init_inputs: Mapping[str, str] = field(default_factory=dict)
    init_outputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MockPipeline:
    """Mock tasks by label, in order, and what their dataset types are."""

    tasks: Mapping[str, MockTask]
    dimensions: Mapping[str, Sequence[str]]
    """Every dataset type's dimensions."""
    calibrations: frozenset[str] = frozenset()
    """The dataset types that are calibrations (looked up by validity range)."""


def load_pipeline(path: Path) -> MockPipeline:
    """Read a mock pipeline from YAML: ``dimensions``, ``tasks`` and, optionally, ``calibrations``."""
    data = yaml.safe_load(path.read_text())
    return MockPipeline(
        tasks={label: MockTask(**task) for label, task in data["tasks"].items()},
        dimensions=data["dimensions"],
        calibrations=frozenset(data.get("calibrations", ())),
    )


def sky_box(ra0: float, dec0: float, width: float, height: float) -> ConvexPolygon:
    corners = [(ra0, dec0), (ra0 + width, dec0), (ra0 + width, dec0 + height), (ra0, dec0 + height)]
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(ra, dec)) for ra, dec in corners])


def _insert_observations(butler: Butler, sky: MockSky, visits: int, detectors: int, tracts: int) -> None:
    """The instrument, its detectors and filters, and the visits with their detectors' regions."""
    registry = butler.registry
    instrument = sky.instrument
    registry.insertDimensionData(
        "instrument",
        {
            "name": instrument,
            "visit_max": 10**7,
            "exposure_max": 10**7,
            "detector_max": 10**4,
            "class_name": "not.a.real.Instrument",
        },
    )
    registry.insertDimensionData(
        "physical_filter",
        *[{"instrument": instrument, "name": f"{instrument}-{band}", "band": band} for band in BANDS],
    )
    registry.insertDimensionData(
        "detector", *[{"instrument": instrument, "id": d, "full_name": f"D{d:03d}"} for d in range(detectors)]
    )
    start = Time("2025-01-01T00:00:00", scale="tai")
    day_obs = 20250101
    registry.insertDimensionData(
        "day_obs",
        {
            "instrument": instrument,
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
        visit = sky.visit_id(v)
        visit_records.append(
            {
                "instrument": instrument,
                "id": visit,
                "name": f"v{visit}",
                "day_obs": day_obs,
                "physical_filter": f"{instrument}-{BANDS[v % len(BANDS)]}",
                "exposure_time": 30.0,
                "region": sky_box(ra0, dec0, FOCAL_PLANE_DEG, FOCAL_PLANE_DEG),
                "timespan": Timespan(begin, begin + TimeDelta(30, format="sec")),
            }
        )
        for d in range(detectors):
            i, j = d % columns, d // columns
            region = sky_box(ra0 + i * detector_deg, dec0 + j * detector_deg, detector_deg, detector_deg)
            region_records.append({"instrument": instrument, "visit": visit, "detector": d, "region": region})
    registry.insertDimensionData("visit", *visit_records)
    registry.insertDimensionData("visit_detector_region", *region_records)


def _insert_sky_map(butler: Butler, sky: MockSky, tracts: int, patches: int) -> None:
    """The sky map's tracts, each cut into ``patches`` x ``patches`` patches."""
    registry = butler.registry
    registry.insertDimensionData(
        "skymap",
        {
            "name": sky.skymap,
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
        tract_records.append(
            {"skymap": sky.skymap, "id": t, "region": sky_box(ra0, dec0, TRACT_DEG, TRACT_DEG)}
        )
        for py in range(patches):
            for px in range(patches):
                region = sky_box(ra0 + px * patch_deg, dec0 + py * patch_deg, patch_deg, patch_deg)
                patch_records.append(
                    {
                        "skymap": sky.skymap,
                        "tract": t,
                        "id": py * patches + px,
                        "cell_x": px,
                        "cell_y": py,
                        "region": region,
                    }
                )
    registry.insertDimensionData("tract", *tract_records)
    registry.insertDimensionData("patch", *patch_records)


def insert_dimension_records(
    butler: Butler, sky: MockSky, *, visits: int, detectors: int, tracts: int, patches: int
) -> None:
    """Visits dithered around tract centres; detectors tile the focal plane; patches tile tracts."""
    _insert_observations(butler, sky, visits, detectors, tracts)
    _insert_sky_map(butler, sky, tracts, patches)


def add_tasks(repo: InMemoryRepo, pipeline: MockPipeline) -> None:
    """Add the pipeline's tasks to ``repo``, in order."""

    def connections(task: MockTask, mapping: Mapping[str, str]) -> dict[str, DynamicConnectionConfig]:
        return {
            name: DynamicConnectionConfig(
                dataset_type_name=dataset_type,
                dimensions=list(pipeline.dimensions[dataset_type]),
                multiple=not set(pipeline.dimensions[dataset_type]) <= set(task.dimensions),
                is_calibration=dataset_type in pipeline.calibrations,
            )
            for name, dataset_type in mapping.items()
        }

    for label, task in pipeline.tasks.items():
        repo.add_task(
            label,
            dimensions=task.dimensions,
            inputs=connections(task, task.inputs),
            prerequisite_inputs=connections(task, task.prerequisite_inputs),
            init_inputs=connections(task, task.init_inputs),
            init_outputs=connections(task, task.init_outputs),
            outputs=connections(task, task.outputs),
        )


def insert_inputs(repo: InMemoryRepo, dataset_types: Sequence[str]) -> None:
    """Insert a dataset of each of ``dataset_types`` at every data ID, then register the outputs' types."""
    for name in dataset_types:
        # limit=None: the default query limit would silently truncate (and warn) above 20,000 rows.
        repo.insert_datasets(name, limit=None)
    # The returned builder (it has no data query) is discarded.
    repo.make_quantum_graph_builder(insert_mocked_inputs=False, register_output_dataset_types=True)
