"""The lsst-pipe-base side of the pre-flight benchmark: build a DRP-shaped QuantumGraph.

Run by `benchmarks/preflight.py` in a fresh subprocess, with a Python that has
lsst-pipe-base installed; prints one JSON object on stdout. Standalone on
purpose: it imports nothing from provenance_graph, only the public API of
lsst-pipe-base and lsst-daf-butler, and its sibling `benchmarks/mock_drp.py`
(the mock sky and task table machinery it shares with the interop tests),
which holds to the same rule.

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
import resource
import sys
import time
from pathlib import Path
from typing import Any

from lsst.daf.butler import CollectionType, Timespan
from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
from lsst.pipe.base.tests.mocks import InMemoryRepo

# A sibling module (this script's directory is on sys.path); it too imports nothing from provenance_graph.
from mock_drp import MockSky, add_tasks, insert_dimension_records, insert_inputs, load_pipeline

SKY = MockSky(instrument="Cam", skymap="SkyMap", first_visit=1000)
PIPELINE = Path(__file__).with_name("lsst_drp_pipeline.yaml")
OUTPUT_RUN = "bench/drp/run"


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def insert_calibrations(repo: InMemoryRepo) -> None:
    """A bias per detector, certified for all time in a CALIBRATION collection."""
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
    insert_dimension_records(
        repo.butler,
        SKY,
        visits=args.visits,
        detectors=args.detectors,
        tracts=args.tracts,
        patches=args.patches,
    )
    add_tasks(repo, load_pipeline(PIPELINE))
    insert_calibrations(repo)
    insert_inputs(repo, ["raw", "skyMap"])
    record["setup_seconds"] = round(time.perf_counter() - started, 3)
    record["rss_before_build_mb"] = peak_rss_mb()

    # A range, not a list of ids: daf_butler turns a list into a chain of ORs that SQLite
    # refuses past about 1,000 values ("Expression tree is too large").
    first, last = SKY.visit_id(0), SKY.visit_id(args.visits - 1)
    where = f"instrument='{SKY.instrument}' AND skymap='{SKY.skymap}' AND visit IN ({first}..{last})"
    started, cpu_started = time.perf_counter(), time.process_time()
    builder = AllDimensionsQuantumGraphBuilder(
        repo.pipeline_graph,
        repo.butler,
        where=where,
        input_collections=[repo.input_chain],
        output_run=OUTPUT_RUN,
    )
    components = builder.finish(output="bench/drp", attach_datastore_records=False)
    record["build_seconds"] = round(time.perf_counter() - started, 3)
    record["build_cpu_seconds"] = round(time.process_time() - cpu_started, 3)
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
