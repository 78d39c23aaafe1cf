"""Real Butler repositories on disk for the Rubin bridge tests, and the real LSST commands.

`make_butler_repo` makes a repository as a Rubin user has one: ``Butler.makeRepo``
(SQLite registry, file datastore), the dimension records of daf_butler's test data
(instrument ``Cam1``: detectors 1-4, visits 1 and 2 with their regions; sky map
``SkyMap1`` with tracts and patches), ``raw`` datasets for every (visit, detector),
and a calibration prerequisite ``mock_bias`` certified in ``Cam1/calib``. The chain
``Cam1/defaults`` holds both. Datasets are pipe_base's ``MockDataset`` JSON files, read
and written by its mock tasks (real PipelineTasks) in `PIPELINE`.

Making one takes a few seconds; tests copy a module's pristine one (`copy_repo`).
`lsst` runs the real ``pipetask`` and ``butler`` commands of this environment.
Import this module only after ``pytest.importorskip("lsst.pipe.base")``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lsst.daf.butler import Butler, CollectionType, DatasetRef, DatasetType, Timespan
from lsst.pipe.base import Pipeline
from lsst.pipe.base.tests.mocks import DirectButlerRepo, MockDataset

#: The mock pipeline: six tasks, a prerequisite, two many-to-one gathers, a spatial join.
PIPELINE = Path(__file__).parents[1] / "rubin_pipeline.yaml"
#: Where the raws are, and the chain a graph reads its inputs from.
RAW_RUN = "Cam1/raw/all"
INPUTS = "Cam1/defaults"
CALIB_RUN = "Cam1/calib/bias"
CALIB = "Cam1/calib"
#: A data query of one visit: 16 quanta (4 isr, 4 calibrate, 2 gathers, 1 analyzeVisit, 5 makeCoadd).
ONE_VISIT = "instrument = 'Cam1' AND visit = 1"

_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class ButlerRepo:
    """A repository `make_butler_repo` made."""

    root: Path
    inputs: str = INPUTS


def make_butler_repo(root: Path) -> ButlerRepo:
    """Make a Butler repository at ``root`` with raws and certified biases; see the module docstring."""
    config = Butler.makeRepo(str(root))
    with Butler.from_config(config, writeable=True) as butler:
        repo = DirectButlerRepo(
            butler,
            "base.yaml",
            "spatial.yaml",
            input_run=RAW_RUN,
            input_chain=INPUTS,
            use_import_collections_as_input=False,
        )
        repo.pipeline_graph = Pipeline.from_uri(str(PIPELINE)).to_graph(registry=butler.registry)
        repo.insert_datasets("raw")
        bias: DatasetType = repo.pipeline_graph.dataset_types["mock_bias"].dataset_type
        butler.registry.registerDatasetType(bias)
        butler.collections.register(CALIB_RUN)
        butler.collections.register(CALIB, CollectionType.CALIBRATION)
        refs = []
        for data_id in butler.query_data_ids(["instrument", "detector"], with_dimension_records=True):
            ref = DatasetRef(bias, data_id, run=CALIB_RUN)
            mock = MockDataset(
                dataset_id=ref.id,
                dataset_type=bias.to_simple(),
                data_id=dict(ref.dataId.mapping),
                run=CALIB_RUN,
            )
            butler.put(mock, ref)
            refs.append(ref)
        butler.registry.certify(CALIB, refs, Timespan(None, None))
        butler.collections.extend_chain(INPUTS, [CALIB])
    return ButlerRepo(root)


def copy_repo(pristine: ButlerRepo, root: Path) -> ButlerRepo:
    """A copy of a repository (its registry and files) at ``root``."""
    shutil.copytree(pristine.root, root)
    return ButlerRepo(root, pristine.inputs)


def lsst(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``pipetask`` or ``butler`` of this environment; the test reads returncode and output."""
    return subprocess.run(
        [str(_BIN / command), *args], capture_output=True, text=True, timeout=600, check=False
    )


def build_qgraph(
    repo: ButlerRepo,
    path: Path,
    *,
    output: str,
    output_run: str,
    where: str = ONE_VISIT,
    config: tuple[str, ...] = (),
) -> Path:
    """``pipetask qgraph`` of `PIPELINE` over ``repo``, saved to ``path`` (a ``.qg`` file)."""
    overrides = [arg for item in config for arg in ("-c", item)]
    done = lsst(
        "pipetask",
        "qgraph",
        "-b",
        str(repo.root),
        "-p",
        str(PIPELINE),
        "-i",
        repo.inputs,
        "-o",
        output,
        "--output-run",
        output_run,
        "-d",
        where,
        "--qgraph-datastore-records",
        "--save-qgraph",
        str(path),
        *overrides,
    )
    assert done.returncode == 0, done.stderr
    return path


def registered(repo: ButlerRepo, run: str) -> set[tuple[str, str]]:
    """The datasets registered in ``run``: (dataset type, required data ID as text)."""
    import lsst.pipe.base.tests.mocks  # noqa: F401  (registers the mock storage classes)

    with Butler.from_config(str(repo.root)) as butler:
        refs = butler.query_all_datasets(run, find_first=False)
        return {(ref.datasetType.name, str(dict(ref.dataId.required))) for ref in refs}
