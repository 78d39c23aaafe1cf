"""Under a data query on the sky (``tract = T``), our pre-flight plans the quanta pipe_base plans.

Both sides plan the DRP-shaped ``tests/qg_pipeline.yaml`` over the same dimension
records: pipe_base's mock tasks over its in-memory Butler (`tests.lsst_graphs`),
and our tasks of the same shape (`tests.support.qg_tasks`) over a repository given
that Butler's records and its own spatial join's overlaps. pipe_base's one big
query constrains every task by the tract; so must ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provenance_graph.model import DatasetType
from provenance_graph.pipeline import Pipeline
from provenance_graph.preflight import preflight
from provenance_graph.repository import Repository
from tests.support.qg_tasks import DATASET_DIMENSIONS, pipeline_yaml

pytest.importorskip("lsst.pipe.base", reason="needs lsst-pipe-base (the [lsst] extra)")

DataIds = dict[str, set[tuple[tuple[str, Any], ...]]]


def _theirs(path: Path) -> DataIds:
    from lsst.pipe.base.pipeline_graph import TaskImportMode
    from lsst.pipe.base.quantum_graph import PredictedQuantumGraph

    with PredictedQuantumGraph.open(path, import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
        reader.read_all()
        qg = reader.finish()
    found: DataIds = {}
    for info in qg.quantum_only_xgraph.nodes.values():
        data_id = dict(info["data_id"].required)
        found.setdefault(info["task_label"], set()).add(tuple(sorted(data_id.items())))
    return found


def _our_repository(path: Path, sky: Any) -> Repository:
    repo = Repository.create(path)
    repo.insert_records("instrument", [{"instrument": sky.instrument}])
    repo.insert_records("detector", [{"instrument": sky.instrument, "detector": d} for d in sky.detectors])
    repo.insert_records("visit", sky.visits)
    repo.insert_records("skymap", [{"skymap": sky.skymap}])
    repo.insert_records("tract", [{"skymap": sky.skymap, "tract": t} for t in sky.tracts])
    repo.insert_records("patch", [{"skymap": sky.skymap, "tract": t, "patch": p} for t, p in sky.patches])
    repo.insert_join_rows("visit_detector_patch", sky.overlaps)
    for name in ("qg_raw", "qg_bias", "qg_skyMap"):
        dims = tuple(DATASET_DIMENSIONS[name])
        repo.register_dataset_type(DatasetType(name=name, dimensions=dims, storage_class="StructuredData"))
    for visit in sky.visits:
        for d in sky.detectors:
            data_id = {"instrument": sky.instrument, "visit": visit["visit"], "detector": d}
            repo.put({}, repo.ref("qg_raw", data_id, "inputs"))
    for d in sky.detectors:
        repo.put({}, repo.ref("qg_bias", {"instrument": sky.instrument, "detector": d}, "inputs"))
    repo.put({}, repo.ref("qg_skyMap", {"skymap": sky.skymap}, "inputs"))
    return repo


@pytest.mark.parametrize("tract", [0, 1])
def test_under_a_tract_query_we_plan_the_quanta_pipe_base_plans(tmp_path: Path, tract: int) -> None:
    from tests.lsst_graphs import build_drp_sky_graph

    built, sky = build_drp_sky_graph(
        tmp_path / "drp.qg",
        input_run="inputs",
        output_run="run",
        visits=6,
        detectors=4,
        tracts=2,
        patches=2,
        also_where=f"tract = {tract}",
    )
    theirs = _theirs(built.path)
    assert {label for label, ids in theirs.items() if ids} >= {"qg_isr", "qg_assembleCoadd"}
    visits_elsewhere = {o["visit"] for o in sky.overlaps} - {
        o["visit"] for o in sky.overlaps if o["tract"] == tract
    }
    assert visits_elsewhere, "the sky has visits that do not touch the tract, so the query matters"

    repo = _our_repository(tmp_path / "repo", sky)
    where = f"instrument = '{sky.instrument}' AND skymap = '{sky.skymap}' AND tract = {tract}"
    graph = preflight(Pipeline.from_yaml(pipeline_yaml()), repo, where, output_run="u/test/run")
    ours: DataIds = {}
    for q in graph.quanta.values():
        ours.setdefault(q.task_label, set()).add(tuple(sorted(q.data_id.to_dict().items())))
    assert ours == theirs
    assert not graph.notes
