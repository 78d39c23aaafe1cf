"""Reading a QuantumGraph file written by Rubin's ``lsst-pipe-base`` as a `PlanGraph`.

This module owns the mapping from a *predicted* QuantumGraph file (``.qg``,
the multi-block zip format of ``lsst.pipe.base.quantum_graph``) to our model:

- each quantum becomes a `Quantum` with its task label, the *required*
  dimensions of its data ID (implied ones such as ``band`` or ``day_obs`` of a
  visit are dropped), the graph's output run, its inputs (prerequisite inputs
  included) and its outputs;
- each dataset becomes a `DatasetRef` of its (parent) dataset type, its
  required data ID and its run;
- each dataset type becomes a `DatasetType` with its required dimensions and
  the storage class name registered in the file's pipeline graph;
- the graph's header becomes the `Plan`: its output run, the data query
  (``data_query`` in the header metadata, as ``pipetask qgraph`` records it),
  and provenance metadata (``source="lsst-pipe-base"``, the file, the
  pipe_base version that read it, the user and time that built it).

What is not kept, on purpose:

- init-input and init-output datasets (``<label>_config``, ``packages``,
  schemas): they have empty data IDs and belong to no quantum;
- pipe_base's dataset and quantum UUIDs: our ids are UUID5 of
  (run, dataset type, data ID) and (run, task label, data ID), so a dataset
  read by several plans is one node however each plan was made;
- task classes and configs, dimension records, datastore records.

Task classes are never imported (``TaskImportMode.DO_NOT_IMPORT``), so a
graph of any pipeline can be read without that pipeline's software. The old
``.qgraph`` format is not read. ``lsst-pipe-base`` is an optional dependency
(the ``[lsst]`` extra) imported only when `load_quantum_graph` is called.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance_graph.errors import ConfigurationError, ModelError, PlanFileError
from provenance_graph.model import (
    DataId,
    DatasetRef,
    DatasetType,
    DimensionValue,
    MetadataValue,
    Plan,
    PlanGraph,
    Quantum,
)

if TYPE_CHECKING:
    from lsst.pipe.base.pipeline_graph import PipelineGraph
    from lsst.pipe.base.quantum_graph import (
        HeaderModel,
        PredictedDatasetModel,
        PredictedQuantumDatasetsModel,
    )

__all__ = ["LSST_INSTALL_HINT", "load_quantum_graph"]

#: How to install the optional dependency that reads QuantumGraph files.
LSST_INSTALL_HINT = "pip install 'provenance-graph[lsst]'"

#: The value of the ``source`` metadata key of every imported plan.
SOURCE = "lsst-pipe-base"


def load_quantum_graph(path: str | os.PathLike[str], *, plan_id: str | None = None) -> PlanGraph:
    """Read a predicted QuantumGraph file (``.qg``) as a checked `PlanGraph`.

    Parameters
    ----------
    path
        The QuantumGraph file, as written by ``pipetask qgraph --save-qgraph``
        or ``PredictedQuantumGraphComponents.write``.
    plan_id
        The plan's id; by default the graph's output run.

    Returns
    -------
    PlanGraph
        The plan, checked like any other (one producer per dataset, no cycles).

    Raises
    ------
    PlanFileError
        The file is missing, is not a QuantumGraph file, is damaged, or holds
        names or data IDs our model does not accept.
    ConfigurationError
        ``lsst-pipe-base`` is not installed.
    InvalidNameError
        ``plan_id`` is not a valid plan id.
    """
    file = Path(path)
    _check_looks_like_qgraph(file)
    predicted_graph, import_mode, pipe_base_version = _import_lsst()
    try:
        with predicted_graph.open(str(file), import_mode=import_mode.DO_NOT_IMPORT) as reader:
            header: HeaderModel = reader.header
            pipeline_graph: PipelineGraph = reader.pipeline_graph
            reader.read_quantum_datasets()
            quanta = list(reader.components.quantum_datasets.values())
    except Exception as err:
        # A damaged file fails anywhere in zip, zstd, JSON or pydantic decoding (a garbled
        # block size even shows up as MemoryError); each is this one error for our users.
        raise PlanFileError(
            f"cannot read QuantumGraph file {file}: {type(err).__name__}: {err}",
            hint="check that the file is a complete predicted QuantumGraph (.qg) written by lsst-pipe-base",
        ) from err
    if not header.output_run:
        raise PlanFileError(f"QuantumGraph file {file} names no output run")
    try:
        plan = _plan(header, file, pipe_base_version)
    except ModelError as err:
        raise PlanFileError(f"QuantumGraph file {file}: {err.message}", hint=err.hint) from err
    if plan_id is not None:
        # Validated apart from the file's content: a bad id is the caller's error, not the file's.
        plan = Plan.model_validate({**plan.model_dump(), "id": plan_id})
    try:
        converter = _Converter(pipeline_graph, header.output_run)
        return PlanGraph(plan, (converter.quantum(q) for q in quanta))
    except ModelError as err:
        raise PlanFileError(f"QuantumGraph file {file}: {err.message}", hint=err.hint) from err
    except KeyError as err:
        raise PlanFileError(
            f"QuantumGraph file {file} is inconsistent: {err} is not in its pipeline graph"
        ) from err


def _check_looks_like_qgraph(file: Path) -> None:
    """Refuse what cannot be a ``.qg`` file before importing lsst (which takes seconds)."""
    if not file.exists():
        raise PlanFileError(f"no QuantumGraph file {file}")
    if not file.is_file():
        raise PlanFileError(f"QuantumGraph file {file} is not a file")
    if file.suffix == ".qgraph":
        raise PlanFileError(
            f"{file} is in the old QuantumGraph format (.qgraph), which is not read",
            hint="convert it with lsst-pipe-base: "
            "PredictedQuantumGraphComponents.from_old_quantum_graph(QuantumGraph.loadUri(path))"
            ".write('graph.qg')",
        )
    if not zipfile.is_zipfile(file):
        raise PlanFileError(
            f"{file} is not a QuantumGraph file (not a zip archive)",
            hint="pass a predicted QuantumGraph (.qg) written by lsst-pipe-base",
        )


def _import_lsst() -> tuple[Any, Any, str]:
    """Return ``PredictedQuantumGraph``, ``TaskImportMode`` and the pipe_base version."""
    try:
        import lsst.pipe.base
        from lsst.pipe.base.pipeline_graph import TaskImportMode
        from lsst.pipe.base.quantum_graph import PredictedQuantumGraph
    except ImportError as err:
        raise ConfigurationError(
            f"reading QuantumGraph files needs lsst-pipe-base, which cannot be imported: {err}",
            hint=LSST_INSTALL_HINT,
        ) from err
    return PredictedQuantumGraph, TaskImportMode, str(getattr(lsst.pipe.base, "__version__", "unknown"))


def _created(timestamp: dt.datetime) -> dt.datetime:
    # pipe_base writes a naive local time; read it as this machine's local time.
    return timestamp if timestamp.tzinfo is not None else timestamp.astimezone()


def _plan(header: HeaderModel, file: Path, pipe_base_version: str) -> Plan:
    """The plan header, with the output run as its id."""
    extra: Mapping[str, Any] = header.metadata or {}
    query = extra.get("data_query")
    metadata: dict[str, MetadataValue] = {
        "source": SOURCE,
        "file": str(file.resolve()),
        "pipe_base_version": pipe_base_version,
        "qgraph_format_version": header.version,
        "lsst_user": header.user or None,
        "lsst_timestamp": header.timestamp.isoformat(),
        "lsst_input_collections": ",".join(header.inputs),
        "lsst_output_collection": header.output or None,
    }
    return Plan(
        id=header.output_run,
        output_run=header.output_run,
        created=_created(header.timestamp),
        constraints=query if isinstance(query, str) else "",
        metadata={k: v for k, v in metadata.items() if v is not None and v != ""},
    )


class _Converter:
    """Turns pipe_base's per-quantum dataset models into our quanta, sharing equal parts.

    Every name from the file is validated once (each dataset type, run, task
    label and data ID through our model's checking constructors); what repeats
    is then built with the model's ``trusted`` constructors. Each dataset is
    converted once, by its pipe_base UUID, however many quanta read it.
    """

    def __init__(self, pipeline_graph: PipelineGraph, output_run: str) -> None:
        self._pipeline_graph = pipeline_graph
        self._output_run = output_run
        self._dataset_types: dict[str, tuple[DatasetType, tuple[str, ...]]] = {}
        self._task_dimensions: dict[str, tuple[str, ...]] = {}
        self._data_ids: dict[tuple[tuple[str, ...], tuple[DimensionValue, ...]], DataId] = {}
        self._refs: dict[uuid.UUID, DatasetRef] = {}
        self._checked_runs: set[str] = set()
        self._checked_labels: set[str] = set()

    def quantum(self, model: PredictedQuantumDatasetsModel) -> Quantum:
        """Convert one quantum with its inputs and outputs."""
        label: str = model.task_label
        dimensions = self._task_dimensions.get(label)
        if dimensions is None:
            dimensions = tuple(self._pipeline_graph.tasks[label].dimensions.required)
            self._task_dimensions[label] = dimensions
        data_id = self._data_id(dimensions, model.data_coordinate)
        inputs = [self._ref(d) for d in _flatten(model.inputs.values())]
        outputs = [self._ref(d) for d in _flatten(model.outputs.values())]
        if label in self._checked_labels:
            return Quantum.trusted(label, data_id, self._output_run, inputs, outputs)
        quantum = Quantum(
            task_label=label, data_id=data_id, run=self._output_run, inputs=inputs, outputs=outputs
        )
        self._checked_labels.add(label)
        return quantum

    def _ref(self, model: PredictedDatasetModel) -> DatasetRef:
        ref = self._refs.get(model.dataset_id)
        if ref is not None:
            return ref
        dataset_type, dimensions = self._dataset_type(model.dataset_type_name)
        data_id = self._data_id(dimensions, model.data_coordinate)
        run: str = model.run
        if run in self._checked_runs:
            # The data ID was made from the dataset type's own dimensions: it fits.
            ref = DatasetRef.trusted(dataset_type, data_id, run)
        else:
            ref = DatasetRef(dataset_type=dataset_type, data_id=data_id, run=run)
            self._checked_runs.add(run)
        self._refs[model.dataset_id] = ref
        return ref

    def _dataset_type(self, name: str) -> tuple[DatasetType, tuple[str, ...]]:
        known = self._dataset_types.get(name)
        if known is None:
            node = self._pipeline_graph.dataset_types[name]
            dimensions = tuple(node.dimensions.required)
            dataset_type = DatasetType(
                name=name, dimensions=dimensions, storage_class=node.storage_class_name
            )
            known = self._dataset_types[name] = (dataset_type, dimensions)
        return known

    def _data_id(self, dimensions: tuple[str, ...], values: Sequence[DimensionValue]) -> DataId:
        # pipe_base stores a data ID's full values, required dimensions first, in the
        # order of its dimension group's ``required``; the rest are implied ones.
        key = (dimensions, tuple(values[: len(dimensions)]))
        data_id = self._data_ids.get(key)
        if data_id is None:
            if len(key[1]) != len(dimensions):
                raise ModelError(f"data ID values {list(values)!r} do not cover dimensions {dimensions!r}")
            data_id = self._data_ids[key] = DataId(tuple(zip(*key, strict=True)))
        return data_id


def _flatten(groups: Iterable[list[PredictedDatasetModel]]) -> Iterable[PredictedDatasetModel]:
    return (d for group in groups for d in group)
