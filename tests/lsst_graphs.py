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
    with InMemoryRepo(input_run=input_run, input_chain=f"{input_run}-chain") as repo:
        insert_dimension_records(
            repo.butler, SKY, visits=visits, detectors=detectors, tracts=1, patches=patches
        )
        add_tasks(repo, load_pipeline(PIPELINE))
        insert_inputs(repo, ["qg_raw", "qg_bias", "qg_skyMap"])
        visit_ids = ", ".join(str(v) for v in SKY.visit_ids(visits))
        where = f"instrument = '{SKY.instrument}' AND skymap = '{SKY.skymap}' AND visit IN ({visit_ids})"
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
