"""Reading a QuantumGraph file written by Rubin's ``lsst-pipe-base`` as a `PlanGraph`.

This module owns the mapping from a *predicted* QuantumGraph file (``.qg``,
the multi-block zip format of ``lsst.pipe.base.quantum_graph``) to our model:

- each quantum becomes a `Quantum` with its task label, the *required*
  dimensions of its data ID (implied ones such as ``band`` or ``day_obs`` of a
  visit are dropped), the graph's output run, its inputs (prerequisite inputs
  included), its outputs, and its pipe_base UUID (``butler_id``);
- each dataset becomes a `DatasetRef` of its (parent) dataset type, its
  required data ID, its run and its Butler UUID (``butler_id``);
- each dataset type becomes a `DatasetType` with its required dimensions and
  the storage class name registered in the file's pipeline graph;
- the graph's header becomes the `Plan`: its output run, the data query
  (``data_query`` in the header metadata, as ``pipetask qgraph`` records it),
  and provenance metadata (``source="lsst-pipe-base"``, the file, the
  pipe_base version that read it, the user and time that built it).

The Butler repository the graph belongs to (`Plan.repository`, a canonical
``file:///root/`` URI) is the ``butler`` given (a repository root or its
``butler.yaml``), else the ``butler_argument`` that ``pipetask qgraph`` records
in the header, if that is an absolute path to a repository that opens here, else
unknown. When it is known, our ids of the graph's datasets and quanta include it
(`model.dataset_id`, `model.quantum_id`: UUID5 of repository, run, dataset type or
task label, data ID), so datasets of two repositories are never one node, while a
dataset read by several plans of one repository stays one node; when it is
unknown, the ids are those without a repository, as before. When the repository
opens, the graph's overall inputs are checked in it in one batch
(``Butler.stored_many``); those found are marked as existing (`PlanGraph.existing`).

What is not kept, on purpose:

- init-input and init-output datasets (``<label>_config``, ``packages``,
  schemas): they have empty data IDs and belong to no quantum;
- task classes and configs, dimension records, datastore records.

Task classes are never imported (``TaskImportMode.DO_NOT_IMPORT``), so a
graph of any pipeline can be read without that pipeline's software. The old
``.qgraph`` format is not read. ``lsst-pipe-base`` is an optional dependency
(the ``[lsst]`` extra) imported only when `load_quantum_graph` is called.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance_graph.errors import ConfigurationError, ModelError, PlanFileError, RepositoryError
from provenance_graph.model import (
    DataId,
    DatasetRef,
    DatasetType,
    DimensionValue,
    MetadataValue,
    Plan,
    PlanGraph,
    Quantum,
    check_repository_uri,
    dataset_id,
    quantum_id,
    repository_path,
    repository_uri,
)

if TYPE_CHECKING:
    from lsst.pipe.base.pipeline_graph import PipelineGraph
    from lsst.pipe.base.quantum_graph import (
        HeaderModel,
        PredictedDatasetModel,
        PredictedQuantumDatasetsModel,
    )

__all__ = [
    "LSST_INSTALL_HINT",
    "butler_repository_uri",
    "dataset_id",
    "load_quantum_graph",
    "quantum_id",
]

logger = logging.getLogger(__name__)

#: How to install the optional dependency that reads QuantumGraph files.
LSST_INSTALL_HINT = "pip install 'provenance-graph[lsst]'"

#: The value of the ``source`` metadata key of every imported plan.
SOURCE = "lsst-pipe-base"

#: Overall inputs checked in the Butler per ``stored_many`` call.
_EXISTS_BATCH = 50_000


def butler_repository_uri(config: str | os.PathLike[str]) -> str:
    """The canonical URI of the Butler repository a config path names (`model.repository_uri`).

    ``config`` is what ``pipetask -b/--butler-config`` takes: the repository's root
    directory or its ``butler.yaml`` (any file names the directory it is in). Symbolic
    links are resolved.

    Raises
    ------
    RepositoryError
        Nothing exists at ``config``.
    """
    path = Path(config).expanduser()
    if not path.exists():
        raise RepositoryError(
            f"no Butler repository at {str(config)!r}: the path does not exist",
            hint="give --butler the root directory of a Butler repository (or its butler.yaml)",
        )
    return repository_uri(path)


def load_quantum_graph(
    path: str | os.PathLike[str],
    *,
    plan_id: str | None = None,
    butler: str | os.PathLike[str] | None = None,
    repository: str | None = None,
) -> PlanGraph:
    """Read a predicted QuantumGraph file (``.qg``) as a checked `PlanGraph`.

    Parameters
    ----------
    path
        The QuantumGraph file, as written by ``pipetask qgraph --save-qgraph``
        or ``PredictedQuantumGraphComponents.write``.
    plan_id
        The plan's id; by default the graph's output run.
    butler
        The Butler repository the graph belongs to: its root directory or its
        ``butler.yaml``. It must exist; its overall inputs are checked in it.
        By default the ``butler_argument`` the graph's header records, if that is an
        absolute path to a repository that opens here.
    repository
        The repository as a canonical URI (`model.repository_uri`), instead of
        ``butler``: for a repository that is not on this machine (nothing is checked).

    The plan's `Plan.repository` is the repository found, or None; the returned
    graph's `PlanGraph.existing` holds the overall inputs found in the Butler.

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
    RepositoryError
        ``butler`` does not exist or cannot be opened as a Butler repository.
    """
    file = Path(path)
    _check_looks_like_qgraph(file)
    given = butler_repository_uri(butler) if butler is not None else None
    if repository is not None:
        repository = check_repository_uri(repository)
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
    opened: Any = None
    if given is not None:
        repository = given
        opened = _open_butler(given, explicit=True)
    elif repository is None:
        repository, opened = _recorded_repository(header)
    changes: dict[str, Any] = {"repository": repository}
    if plan_id is not None:
        # Validated apart from the file's content: a bad id is the caller's error, not the file's.
        changes["id"] = plan_id
    plan = Plan.model_validate({**plan.model_dump(), **changes})
    try:
        converter = _Converter(pipeline_graph, header.output_run, repository)
        built = [converter.quantum(q) for q in quanta]
        existing = _existing_inputs(opened, pipeline_graph, quanta, converter) if opened is not None else ()
        return PlanGraph(plan, built, existing=existing)
    except ModelError as err:
        raise PlanFileError(f"QuantumGraph file {file}: {err.message}", hint=err.hint) from err
    except KeyError as err:
        raise PlanFileError(
            f"QuantumGraph file {file} is inconsistent: {err} is not in its pipeline graph"
        ) from err


def _recorded_repository(header: HeaderModel) -> tuple[str | None, Any]:
    """The repository the header's ``butler_argument`` names, and that Butler, if it opens here."""
    argument = (header.metadata or {}).get("butler_argument")
    if not isinstance(argument, str) or not os.path.isabs(argument) or not os.path.exists(argument):
        return None, None
    uri = repository_uri(argument)
    opened = _open_butler(uri, explicit=False)
    return (uri, opened) if opened is not None else (None, None)


def _open_butler(uri: str, *, explicit: bool) -> Any:
    """A read-only Butler of the repository at ``uri``; None if it does not open and was not ``explicit``."""
    try:
        from lsst.daf.butler import Butler

        return Butler.from_config(str(repository_path(uri)), writeable=False)
    except Exception as err:  # any failure to read a config or registry means: not a repository here
        if not explicit:
            logger.info("the graph's recorded Butler %s does not open (%s: %s)", uri, type(err).__name__, err)
            return None
        raise RepositoryError(
            f"cannot open Butler repository {repository_path(uri)}: {type(err).__name__}: {err}",
            hint="give --butler the root directory of a Butler repository (or its butler.yaml)",
        ) from err


def _existing_inputs(
    butler: Any,
    pipeline_graph: PipelineGraph,
    quanta: Sequence[PredictedQuantumDatasetsModel],
    converter: _Converter,
) -> list[str]:
    """Our ids of the graph's overall inputs that the Butler holds, checked in batches."""
    from lsst.daf.butler import DataCoordinate
    from lsst.daf.butler import DatasetRef as ButlerRef
    from lsst.daf.butler import DatasetType as ButlerType

    produced = {d.dataset_id for q in quanta for d in _flatten(q.outputs.values())}
    inputs = {
        d.dataset_id: d for q in quanta for d in _flatten(q.inputs.values()) if d.dataset_id not in produced
    }
    types: dict[str, Any] = {}
    found: list[str] = []
    with butler:
        refs = []
        for model in inputs.values():
            butler_type = types.get(model.dataset_type_name)
            if butler_type is None:
                node = pipeline_graph.dataset_types[model.dataset_type_name]
                # The registry's storage class name, as resolved into the graph: checking needs
                # no storage class code (mock ones included).
                butler_type = types[model.dataset_type_name] = ButlerType(
                    node.name, node.dimensions, node.storage_class_name, isCalibration=node.is_calibration
                )
            group = butler_type.dimensions
            values = tuple(model.data_coordinate)
            if len(values) == len(group.data_coordinate_keys):
                data_id = DataCoordinate.from_full_values(group, values)
            else:
                data_id = DataCoordinate.from_required_values(group, values[: len(group.required)])
            refs.append(ButlerRef(butler_type, data_id, run=model.run, id=model.dataset_id))
        try:
            for start in range(0, len(refs), _EXISTS_BATCH):
                stored = butler.stored_many(refs[start : start + _EXISTS_BATCH])
                found.extend(converter.ref_id(ref.id) for ref, there in stored.items() if there)
        except Exception as err:  # e.g. a storage class the registry defines otherwise
            logger.warning(
                "could not check which inputs exist in the Butler (%s: %s); none is marked existing",
                type(err).__name__,
                err,
            )
            return []
    return found


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

    def __init__(self, pipeline_graph: PipelineGraph, output_run: str, repository: str | None) -> None:
        self._pipeline_graph = pipeline_graph
        self._output_run = output_run
        self._repository = repository
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
        butler_id = str(model.quantum_id)
        if label in self._checked_labels:
            return Quantum.trusted(
                label,
                data_id,
                self._output_run,
                inputs,
                outputs,
                repository=self._repository,
                butler_id=butler_id,
            )
        quantum = Quantum(
            task_label=label,
            data_id=data_id,
            run=self._output_run,
            inputs=inputs,
            outputs=outputs,
            repository=self._repository,
            butler_id=butler_id,
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
        butler_id = str(model.dataset_id)
        if run in self._checked_runs:
            # The data ID was made from the dataset type's own dimensions: it fits.
            ref = DatasetRef.trusted(
                dataset_type, data_id, run, repository=self._repository, butler_id=butler_id
            )
        else:
            ref = DatasetRef(
                dataset_type=dataset_type,
                data_id=data_id,
                run=run,
                repository=self._repository,
                butler_id=butler_id,
            )
            self._checked_runs.add(run)
        self._refs[model.dataset_id] = ref
        return ref

    def ref_id(self, butler_id: uuid.UUID) -> str:
        """Our id of the dataset of this Butler UUID (converted already)."""
        return self._refs[butler_id].id

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
