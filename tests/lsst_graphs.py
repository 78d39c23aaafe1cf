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

The pipeline is ``tests/qg_pipeline.yaml``; the sky (one tract) and the code
that turns the pipeline into mock tasks are `benchmarks/mock_drp.py`'s,
shared with the pre-flight benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
from lsst.pipe.base.tests.mocks import InMemoryRepo

from benchmarks.mock_drp import MockSky, add_tasks, insert_dimension_records, insert_inputs, load_pipeline

SKY = MockSky(instrument="QgCam", skymap="QgSkyMap", first_visit=100)
PIPELINE = Path(__file__).with_name("qg_pipeline.yaml")


@dataclass(frozen=True)
class BuiltGraph:
    """What `build_drp_graph` wrote."""

    path: Path
    """The ``.qg`` file."""
    output_run: str
    """The graph's output run."""
    where: str
    """The data query the graph was built with (recorded as ``data_query``)."""


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
    built, _sky = build_drp_sky_graph(
        path, input_run=input_run, output_run=output_run, visits=visits, detectors=detectors, patches=patches
    )
    return built


@dataclass(frozen=True)
class SkyRecords:
    """The dimension records of the mock repository, as plain rows for our own repository."""

    instrument: str
    skymap: str
    visits: list[dict[str, Any]]
    """``{instrument, visit, band}``."""
    detectors: list[int]
    tracts: list[int]
    patches: list[tuple[int, int]]
    """``(tract, patch)``."""
    overlaps: list[dict[str, Any]]
    """``{instrument, visit, detector, skymap, tract, patch}``: pipe_base's spatial join."""


def build_drp_sky_graph(
    path: Path,
    *,
    input_run: str,
    output_run: str,
    visits: int = 6,
    detectors: int = 6,
    tracts: int = 1,
    patches: int = 2,
    also_where: str = "",
) -> tuple[BuiltGraph, SkyRecords]:
    """`build_drp_graph` over ``tracts`` tracts, its query AND ``also_where``; and the records it used."""
    with InMemoryRepo(input_run=input_run, input_chain=f"{input_run}-chain") as repo:
        insert_dimension_records(
            repo.butler, SKY, visits=visits, detectors=detectors, tracts=tracts, patches=patches
        )
        add_tasks(repo, load_pipeline(PIPELINE))
        insert_inputs(repo, ["qg_raw", "qg_bias", "qg_skyMap"])
        visit_ids = ", ".join(str(v) for v in SKY.visit_ids(visits))
        where = f"instrument = '{SKY.instrument}' AND skymap = '{SKY.skymap}' AND visit IN ({visit_ids})"
        if also_where:
            where = f"{where} AND {also_where}"
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
        registry = repo.butler.registry
        bands = {
            d["visit"]: d["band"]
            for d in registry.queryDataIds(["visit"], instrument=SKY.instrument).expanded()
        }
        overlaps = [
            {
                "instrument": SKY.instrument,
                "visit": d["visit"],
                "detector": d["detector"],
                "skymap": SKY.skymap,
                "tract": d["tract"],
                "patch": d["patch"],
            }
            for d in registry.queryDataIds(
                ["visit", "detector", "patch"], instrument=SKY.instrument, skymap=SKY.skymap
            )
        ]
        sky = SkyRecords(
            instrument=SKY.instrument,
            skymap=SKY.skymap,
            visits=[{"instrument": SKY.instrument, "visit": v, "band": b} for v, b in sorted(bands.items())],
            detectors=list(range(detectors)),
            tracts=list(range(tracts)),
            patches=[(t, p) for t in range(tracts) for p in range(patches * patches)],
            overlaps=overlaps,
        )
    return BuiltGraph(path=path, output_run=output_run, where=where), sky
