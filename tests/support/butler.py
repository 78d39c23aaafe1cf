"""A real on-disk Butler repository (SQLite registry, file datastore) with mock inputs, for tests.

`make_butler_repo` builds one under a test's ``tmp_path`` with public daf_butler and
pipe_base API only: ``Butler.makeRepo``, then ``lsst.pipe.base.tests.mocks.DirectButlerRepo``
imports daf_butler's test dimension data (instrument ``Cam1``, detectors 1-4, visits 1
and 2, sky map ``SkyMap1``), puts one ``raw`` per (visit, detector) into a RUN, and puts
and certifies one ``mock_bias`` calibration per detector (a prerequisite input of
``isr``). `build_qgraph` writes a predicted QuantumGraph (``.qg``) of the mock pipeline
``butler_pipeline.yaml`` (isr -> calibrate -> consolidateVisitSummary, makeCoadd) over
it, recording ``butler_argument`` and ``data_query`` in its header as ``pipetask qgraph``
does.

Needs ``lsst-pipe-base`` (import this module after ``pytest.importorskip``). Importing
it imports ``lsst.pipe.base.tests.mocks``, which registers the mock storage classes in
this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsst.daf.butler import Butler, CollectionType, DatasetRef, Timespan
from lsst.pipe.base import Pipeline
from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
from lsst.pipe.base.tests.mocks import DirectButlerRepo, MockDataset

__all__ = ["PIPELINE", "ButlerRepoInfo", "build_qgraph", "make_butler_repo", "prefixed_pipeline"]

#: The mock pipeline: raw + mock_bias (prerequisite) -> isr -> calibrate -> visit summary, coadds.
PIPELINE = Path(__file__).with_name("butler_pipeline.yaml")


@dataclass(frozen=True)
class ButlerRepoInfo:
    """What `make_butler_repo` built."""

    root: Path
    """The repository root (holds ``butler.yaml`` and ``gen3.sqlite3``)."""
    input_run: str
    """The RUN of the raws."""
    calib_run: str
    """The RUN the biases were put into."""
    calib_collection: str
    """The CALIBRATION collection they are certified in."""
    input_chain: str
    """The CHAINED collection of both: what ``-i`` takes."""
    inputs: dict[str, int]
    """Datasets put, by dataset type: each overall input of the pipeline, one per data ID
    (``raw``: 8, one per visit and detector; ``mock_bias``: 4, one per detector)."""


def make_butler_repo(
    root: Path,
    *,
    prefix: str = "Cam1",
    pipeline: Path = PIPELINE,
) -> ButlerRepoInfo:
    """Create a Butler repository at ``root`` with the overall inputs of ``pipeline``.

    Regular inputs (``raw``) get one dataset per data ID of their dimensions in the RUN
    ``<prefix>/raw/all``; calibration inputs (the prerequisite ``mock_bias``) one per
    data ID in ``<prefix>/calib/bias``, certified in ``<prefix>/calib`` for all time.

    Parameters
    ----------
    root
        A directory that does not exist yet, or is empty.
    prefix
        What every collection name starts with: raws in ``<prefix>/raw/all``, biases in
        ``<prefix>/calib/bias`` certified in ``<prefix>/calib``, both chained in
        ``<prefix>/defaults``. A test's namespace here lets its cleanup find the inputs.
    pipeline
        The pipeline whose overall inputs are put; by default `PIPELINE`.
    """
    input_run = f"{prefix}/raw/all"
    calib_run = f"{prefix}/calib/bias"
    calib_collection = f"{prefix}/calib"
    input_chain = f"{prefix}/defaults"
    config = Butler.makeRepo(str(root))
    with Butler.from_config(config, writeable=True) as butler:
        repo = DirectButlerRepo(
            butler,
            "base.yaml",
            "spatial.yaml",
            input_run=input_run,
            input_chain=input_chain,
            use_import_collections_as_input=False,
        )
        repo.pipeline_graph = Pipeline.from_uri(str(pipeline)).to_graph(registry=butler.registry)
        butler.collections.register(calib_run)
        butler.collections.register(calib_collection, CollectionType.CALIBRATION)
        inputs: dict[str, int] = {}
        for name, node in repo.pipeline_graph.iter_overall_inputs():
            if not node.is_calibration:
                inputs[name] = len(repo.insert_datasets(name))  # registers the type, puts one per data ID
                continue
            dataset_type = node.dataset_type
            butler.registry.registerDatasetType(dataset_type)
            refs = []
            # Expanded data IDs: the file template needs their dimension records.
            for data_id in butler.query_data_ids(dataset_type.dimensions, with_dimension_records=True):
                ref = DatasetRef(dataset_type, data_id, run=calib_run)
                mock = MockDataset(
                    dataset_id=ref.id,
                    dataset_type=dataset_type.to_simple(),
                    data_id=dict(ref.dataId.mapping),
                    run=ref.run,
                )
                butler.put(mock, ref)
                refs.append(ref)
            butler.registry.certify(calib_collection, refs, Timespan(None, None))
            inputs[name] = len(refs)
        butler.collections.extend_chain(input_chain, [calib_collection])
    return ButlerRepoInfo(
        root=Path(root),
        input_run=input_run,
        calib_run=calib_run,
        calib_collection=calib_collection,
        input_chain=input_chain,
        inputs=inputs,
    )


def prefixed_pipeline(path: Path, prefix: str, pipeline: Path = PIPELINE) -> Path:
    """Write a copy of ``pipeline`` to ``path`` with every dataset type name prefixed by ``prefix``.

    For a test that stores a plan without a Butler repository: such a plan's dataset types
    are unscoped (one per name in the database), so a mock ``raw`` would block the real
    ``raw`` of other tests.
    """
    text = pipeline.read_text().replace('dataset_type_name="', f'dataset_type_name="{prefix}')
    path.write_text(text)
    return path


def build_qgraph(
    info: ButlerRepoInfo,
    path: Path,
    *,
    output_run: str,
    where: str = "instrument = 'Cam1' AND visit = 1",
    pipeline: Path = PIPELINE,
    butler_argument: str | None = None,
) -> Path:
    """Write a predicted QuantumGraph of ``pipeline`` over the repository to ``path`` (``.qg``).

    ``butler_argument`` is what the header records as the ``-b`` given to ``pipetask
    qgraph``; default the repository root as a string.
    """
    with Butler.from_config(str(info.root)) as butler:
        pipeline_graph = Pipeline.from_uri(str(pipeline)).to_graph(registry=butler.registry)
        builder = AllDimensionsQuantumGraphBuilder(
            pipeline_graph,
            butler,
            where=where,
            input_collections=[info.input_chain],
            output_run=output_run,
        )
        metadata = {
            "butler_argument": str(info.root) if butler_argument is None else butler_argument,
            "data_query": where,
        }
        components = builder.finish(output=output_run.rpartition("/")[0] or None, metadata=metadata)
        components.write(str(path))
    return path
