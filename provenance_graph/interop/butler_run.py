"""Running a plan imported from a Rubin QuantumGraph with Rubin's own executor and Butler.

A plan that `load_quantum_graph` imported keeps the path of its ``.qg`` file
(metadata ``file``). To run it, the real ``lsst.pipe.base`` task classes run
through pipe_base's per-quantum executor, the same one ``pipetask`` uses, against
a real Butler repository:

- **The Activator's process** opens a `ButlerPlan`. It reads the QuantumGraph
  (importing the task classes) and matches each quantum and dataset of our plan
  to pipe_base's UUIDs, by task label or dataset type, required data ID and run.
  `ButlerPlan.init_outputs` writes the run's init-outputs (task configs, schemas,
  ``packages``) as ``pipetask pre-exec-init-qbb`` does, once per run; rerunning it
  is harmless. `ButlerPlan.existing_outputs` applies pipe_base's skip-existing rule:
  a quantum whose ``<label>_metadata`` exists is done. `ButlerPlan.transfer_outputs`
  registers what the workers wrote in the Butler, as ``butler transfer-from-graph
  --register-dataset-types --update-output-chain`` does; datasets registered already
  are left alone, so it can run after every run.
- **Workers** (`ButlerWorkerSpec` → `ButlerQuantumRunner`) import pipe_base and read the
  graph once, then run quanta with ``SingleQuantumExecutor`` and a
  ``QuantumBackedButler`` per quantum, as ``pipetask run-qbb`` does. They write files
  only, never the Butler's registry, so any number of them can run at once, on any
  host that sees the datastore. An attempt's outcome has its status, wall time, the
  worker's peak memory, the task's exception and the outputs written with sizes and
  checksums; a success with caveats (``NoWorkFound``) records the outputs that exist.

``lsst-pipe-base`` and ``lsst-daf-butler`` are imported only here, when a plan from a
QuantumGraph runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance_graph.errors import ConfigurationError, ExecutionError, PlanFileError
from provenance_graph.interop.qgraph import LSST_INSTALL_HINT, SOURCE
from provenance_graph.model import AttemptOutcome, DataId, OutputRecord, PlanGraph, Quantum
from provenance_graph.workers import attempt_outcome, reset_peak_rss, run_in_order

if TYPE_CHECKING:
    from lsst.daf.butler import DatasetRef as ButlerRef
    from lsst.daf.butler import QuantumBackedButler
    from lsst.pipe.base.quantum_graph import PredictedQuantumGraph

__all__ = [
    "ButlerPlan",
    "ButlerQuantumRunner",
    "ButlerWorkerSpec",
    "is_from_quantum_graph",
    "quantum_graph_file",
]

_log = logging.getLogger(__name__)

#: Lines of traceback kept in an attempt's error.
TRACEBACK_LINES = 12

#: A task label or dataset type, a required data ID, a run: what matches our nodes to pipe_base's.
_Key = tuple[str, frozenset[tuple[str, Any]], str]


def is_from_quantum_graph(graph: PlanGraph) -> bool:
    """Whether the plan was imported from a Rubin QuantumGraph (it has no pipeline of ours)."""
    return graph.plan.metadata.get("source") == SOURCE


def quantum_graph_file(graph: PlanGraph) -> Path:
    """The ``.qg`` file an imported plan was read from; it must still be there."""
    path = Path(str(graph.plan.metadata.get("file") or ""))
    if not path.is_file():
        raise PlanFileError(
            f"plan {graph.plan.id!r} was imported from QuantumGraph file {str(path)!r}, which is gone",
            hint="put the file back, or import it again from its new place: "
            f"provgraph import-qgraph FILE --plan-id {graph.plan.id} --replace",
        )
    return path


def _import_executor() -> dict[str, Any]:
    """The pipe_base and daf_butler names a run needs, or a `ConfigurationError` saying what to install."""
    try:
        from lsst.daf.butler import Butler, QuantumBackedButler
        from lsst.pipe.base import ExecutionResources, TaskFactory
        from lsst.pipe.base.quantum_graph import PredictedQuantumGraph
        from lsst.pipe.base.single_quantum_executor import SingleQuantumExecutor
        from lsst.utils.introspection import get_full_type_name
    except ImportError as err:
        raise ConfigurationError(
            f"running a plan imported from a QuantumGraph needs lsst-pipe-base and lsst-daf-butler, "
            f"which cannot be imported: {err}",
            hint=LSST_INSTALL_HINT,
        ) from err
    return {
        "Butler": Butler,
        "QuantumBackedButler": QuantumBackedButler,
        "ExecutionResources": ExecutionResources,
        "TaskFactory": TaskFactory,
        "PredictedQuantumGraph": PredictedQuantumGraph,
        "SingleQuantumExecutor": SingleQuantumExecutor,
        "get_full_type_name": get_full_type_name,
    }


def _read_graph(path: Path) -> PredictedQuantumGraph:
    """Read a whole predicted QuantumGraph for execution (the task classes are imported)."""
    names = _import_executor()
    try:
        graph: PredictedQuantumGraph = names["PredictedQuantumGraph"].read_execution_quanta(str(path))
    except ImportError as err:
        raise ConfigurationError(
            f"QuantumGraph file {path} names task code that cannot be imported here: {err}",
            hint="install the pipeline's packages (set up its stack) in this environment",
        ) from err
    except Exception as err:  # zip, zstd, JSON or pydantic trouble: one error for a damaged file
        raise PlanFileError(
            f"cannot read QuantumGraph file {path}: {type(err).__name__}: {err}",
            hint="check that the file is a complete predicted QuantumGraph (.qg) written by lsst-pipe-base",
        ) from err
    return graph


def _check_repository(butler: str) -> str:
    """The Butler repository's path as given, if it looks like one (``butler.yaml`` in a directory)."""
    path = Path(butler)
    config = path / "butler.yaml" if path.is_dir() else path
    if not config.is_file():
        raise ExecutionError(
            f"{butler} is not a Butler repository (no {config.name} there)",
            hint="give the repository's root directory with --butler REPO "
            "(the one 'butler create' made, holding butler.yaml)",
        )
    return str(path.resolve())


def _data_id_items(data_id: Any) -> frozenset[tuple[str, Any]]:
    """A pipe_base data ID's required values, to compare with ours."""
    return frozenset(dict(data_id.required).items())


def _items(data_id: DataId) -> frozenset[tuple[str, Any]]:
    return frozenset(data_id.to_dict().items())


class ButlerPlan:
    """A plan from a QuantumGraph, open against its Butler in the Activator's process.

    Use `open`; then `worker_spec` gives what workers are set up from.
    """

    def __init__(
        self,
        graph: PlanGraph,
        butler: str,
        path: Path,
        qgraph: PredictedQuantumGraph,
        quantum_ids: dict[str, str],
        dataset_ids: dict[str, str],
        memory_per_quantum: str | None = None,
    ) -> None:
        self.graph = graph
        self.memory_per_quantum = memory_per_quantum
        self.butler = butler
        self.path = path
        self.qgraph = qgraph
        self.quantum_ids = quantum_ids
        """Our quantum id → pipe_base's quantum UUID (text)."""
        self.dataset_ids = dataset_ids
        """Our dataset id → pipe_base's dataset UUID (text), for every dataset of the plan."""
        self._refs: dict[str, ButlerRef] | None = None
        self._qbb: QuantumBackedButler | None = None

    @classmethod
    def open(
        cls, graph: PlanGraph, butler: str | os.PathLike[str], *, memory_per_quantum: str | None = None
    ) -> ButlerPlan:
        """Read the plan's QuantumGraph and match it to the plan; check the repository.

        ``memory_per_quantum`` is the memory each quantum may use, as ``pipetask``'s
        ``--memory-per-quantum`` (``4GB``, ``500MB``, or bytes).

        Raises
        ------
        ExecutionError
            ``butler`` is not a Butler repository, the graph's input collections are not in it, or
            ``memory_per_quantum`` is not a memory size.
        PlanFileError
            The QuantumGraph file is gone or damaged, or it no longer matches the plan.
        ConfigurationError
            The LSST stack, or the pipeline's task code, cannot be imported.
        """
        path = quantum_graph_file(graph)
        root = _check_repository(str(butler))
        _check_memory(memory_per_quantum)
        qgraph = _read_graph(path)
        _check_inputs_in(root, qgraph)
        quantum_ids, dataset_ids = _match(graph, qgraph, path)
        return cls(graph, root, path, qgraph, quantum_ids, dataset_ids, memory_per_quantum)

    def worker_spec(self) -> ButlerWorkerSpec:
        """What a worker is set up from: the repository, the file and the plan's quanta's UUIDs."""
        return ButlerWorkerSpec(
            self.butler, str(self.path), self.quantum_ids, self.dataset_ids, self.memory_per_quantum
        )

    def init_outputs(self) -> None:
        """Write the run's init-outputs (configs, schemas, packages), as ``pipetask pre-exec-init-qbb``.

        Done before any quantum runs. What exists already is compared, not written again.
        """
        # Without EUPS, pipe_base warns that it reads package versions from Python instead.
        with _quiet("lsst.utils.packages"), self.qgraph.make_init_qbb(self.butler) as qbb:
            self.qgraph.init_output_run(qbb)

    def existing_outputs(self, quantum: Quantum) -> list[OutputRecord] | None:
        """The outputs of a quantum pipe_base would skip (its ``<label>_metadata`` exists), else None."""
        refs = self._butler_refs()
        outputs = [(ref, refs[self.dataset_ids[ref.id]]) for ref in quantum.outputs]
        metadata = [b for ours, b in outputs if ours.dataset_type.name == f"{quantum.task_label}_metadata"]
        qbb = self._reader()
        if not metadata or not all(qbb.stored_many(metadata).values()):
            return None
        return _fingerprints(qbb, outputs)

    def transfer_outputs(self) -> int:
        """Register in the Butler what the workers wrote; returns how many datasets were transferred.

        As ``butler transfer-from-graph REPO GRAPH --register-dataset-types --update-output-chain``:
        the outputs of failed or blocked quanta are not there and are skipped.
        """
        from lsst.pipe.base.script.transfer_from_graph import transfer_from_graph

        # It warns of each output that is not there: those of failed and blocked quanta, known here.
        with _quiet("lsst.daf.butler.datastores.file_datastore.transfer"):
            count: int = transfer_from_graph(
                str(self.path),
                self.butler,
                register_dataset_types=True,
                transfer_dimensions=False,
                update_output_chain=True,
                dry_run=False,
                dataset_type=(),
            )
        return count

    def _butler_refs(self) -> dict[str, ButlerRef]:
        """pipe_base's outputs of every quantum, by UUID (text)."""
        if self._refs is None:
            refs: dict[str, ButlerRef] = {}
            for quantum in self.qgraph.build_execution_quanta().values():
                for group in quantum.outputs.values():
                    refs.update((str(ref.id), ref) for ref in group)
            self._refs = refs
        return self._refs

    def _reader(self) -> QuantumBackedButler:
        """A quantum-backed butler that can see every output of the graph (it writes nothing)."""
        if self._qbb is None:
            names = _import_executor()
            pipeline_graph = self.qgraph.pipeline_graph
            self._qbb = names["QuantumBackedButler"].from_predicted(
                config=self.butler,
                predicted_inputs=[uuid.UUID(u) for u in self._butler_refs()],
                predicted_outputs=[],
                dimensions=pipeline_graph.universe,
                datastore_records={},
                dataset_types={n.name: n.dataset_type for n in pipeline_graph.dataset_types.values()},
            )
        return self._qbb


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Keep a chatty LSST logger to errors while the block runs."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _check_memory(memory: str | None) -> None:
    """Refuse a ``--memory-per-quantum`` that is not a memory size, before any worker starts."""
    if memory is None:
        return
    names = _import_executor()
    try:
        names["ExecutionResources"](num_cores=1, max_mem=memory)
    except Exception as err:  # astropy's unit parsing raises several kinds
        raise ExecutionError(
            f"--memory-per-quantum {memory!r} is not a memory size: {err}",
            hint="give a number with a unit, e.g. 4GB or 500MB (as pipetask's --memory-per-quantum)",
        ) from err


def _check_inputs_in(root: str, qgraph: PredictedQuantumGraph) -> None:
    """Refuse a repository that lacks the graph's input collections (the wrong Butler)."""
    names = _import_executor()
    wanted = list(qgraph.header.inputs)
    with names["Butler"].from_config(root) as butler:
        have = set(butler.collections.query("*"))
    missing = [c for c in wanted if c not in have]
    if missing:
        raise ExecutionError(
            f"Butler repository {root} lacks the QuantumGraph's input collection(s) {', '.join(missing)}",
            hint=f"run the plan against the repository the graph was built from (butler query-collections "
            f"{root} lists what this one has)",
        )


def _match(
    graph: PlanGraph, qgraph: PredictedQuantumGraph, path: Path
) -> tuple[dict[str, str], dict[str, str]]:
    """Our quantum and dataset ids → pipe_base's UUIDs; every one of ours must be in the file."""
    quanta_by_key: dict[_Key, str] = {}
    for qid, info in qgraph.quantum_only_xgraph.nodes.items():
        quanta_by_key[(info["task_label"], _data_id_items(info["data_id"]), qgraph.header.output_run)] = str(
            qid
        )
    datasets_by_key: dict[_Key, str] = {}
    xgraph = qgraph.bipartite_xgraph
    for node, info in xgraph.nodes.items():
        if "dataset_type_name" in info:
            key = (info["dataset_type_name"], _data_id_items(info["data_id"]), info["run"])
            datasets_by_key[key] = str(node)
    quantum_ids: dict[str, str] = {}
    dataset_ids: dict[str, str] = {}
    for quantum in graph.quanta.values():
        found = quanta_by_key.get(
            (quantum.task_label, frozenset(quantum.data_id.to_dict().items()), quantum.run)
        )
        if found is None:
            raise PlanFileError(
                f"QuantumGraph file {path} has no quantum {quantum} of plan {graph.plan.id!r}: "
                "it changed since the plan was imported",
                hint=f"import it again: provgraph import-qgraph {path} --plan-id {graph.plan.id} --replace",
            )
        quantum_ids[quantum.id] = found
        for ref in (*quantum.inputs, *quantum.outputs):
            key = (ref.dataset_type.name, _items(ref.data_id), ref.run)
            if ref.id not in dataset_ids and key in datasets_by_key:
                dataset_ids[ref.id] = datasets_by_key[key]
    return quantum_ids, dataset_ids


def _sha256(uri: Any) -> tuple[int, str]:
    """Size and ``sha256:<hex>`` of a file behind a `lsst.resources.ResourcePath`."""
    digest = hashlib.sha256()
    size = 0
    with uri.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, f"sha256:{digest.hexdigest()}"


def _fingerprints(butler: Any, outputs: Iterable[tuple[Any, ButlerRef]]) -> list[OutputRecord]:
    """Our records of the outputs that exist (a success with caveats may lack some)."""
    pairs = list(outputs)
    stored = butler.stored_many([b for _, b in pairs])
    records = []
    for ours, theirs in pairs:
        if not stored.get(theirs):
            continue
        uri = butler.getURI(theirs)
        size, checksum = _sha256(uri)
        records.append(OutputRecord(ours.id, str(uri), size, checksum))
    return records


@dataclass(frozen=True)
class ButlerWorkerSpec:
    """What a worker running Rubin's tasks is set up from (picklable, sent once per worker)."""

    butler: str
    """The Butler repository's root."""
    qgraph: str
    """The ``.qg`` file."""
    quantum_ids: Mapping[str, str]
    """Our quantum id → pipe_base's quantum UUID."""
    dataset_ids: Mapping[str, str]
    """Our dataset id → pipe_base's dataset UUID."""
    memory_per_quantum: str | None = None
    """The memory a quantum may use (``pipetask --memory-per-quantum``), e.g. ``4GB``; tasks that
    need more fail."""

    def key(self) -> str:
        """The repository, the file and the memory: equal specs make the same runner."""
        return f"butler:{self.butler}\x1f{self.qgraph}\x1f{self.memory_per_quantum}"

    def make_runner(self) -> ButlerQuantumRunner:
        """Import pipe_base, read the graph (task classes included) and make the executor."""
        return ButlerQuantumRunner(self)


class ButlerQuantumRunner:
    """Runs quanta of one QuantumGraph with ``SingleQuantumExecutor``, in this process.

    Each quantum gets a ``QuantumBackedButler``: inputs are read and outputs written
    through the datastore, and nothing is written to the registry (``pipetask run-qbb``'s
    way). An attempt cut short earlier is cleaned up by the executor (``clobber_outputs``).
    """

    def __init__(self, spec: ButlerWorkerSpec) -> None:
        started = time.perf_counter()
        self._names = _import_executor()
        self.spec = spec
        self.qgraph = _read_graph(Path(spec.qgraph))
        self._quanta = self.qgraph.build_execution_quanta()
        pipeline_graph = self.qgraph.pipeline_graph
        self._dataset_types = {n.name: n.dataset_type for n in pipeline_graph.dataset_types.values()}
        self._executor = self._names["SingleQuantumExecutor"](
            butler=None,
            task_factory=self._names["TaskFactory"](),
            limited_butler_factory=self._butler_for,
            resources=self._names["ExecutionResources"](num_cores=1, max_mem=spec.memory_per_quantum),
            skip_existing=True,
            clobber_outputs=True,
            raise_on_partial_outputs=True,
        )
        seconds = time.perf_counter() - started
        _log.debug("Rubin worker set up in %.2f s: %s, %d quanta", seconds, spec.qgraph, len(self._quanta))

    def _butler_for(self, quantum: Any) -> QuantumBackedButler:
        """A quantum-backed butler for one of pipe_base's quanta (the executor asks for one per attempt)."""
        made: QuantumBackedButler = self._names["QuantumBackedButler"].initialize(
            config=self.spec.butler,
            quantum=quantum,
            dimensions=self.qgraph.pipeline_graph.universe,
            dataset_types=self._dataset_types,
        )
        return made

    def run(self, quantum: Quantum) -> AttemptOutcome:
        """Run one quantum; the task's exception is the attempt's outcome, never raised."""
        reset_peak_rss()
        started = time.perf_counter()
        quantum_id = uuid.UUID(self.spec.quantum_ids[quantum.id])
        theirs = self._quanta[quantum_id]
        task_node = self.qgraph.pipeline_graph.tasks[quantum.task_label]
        try:
            self._executor.execute(task_node, theirs, quantum_id=quantum_id)
            # The executor closed its butler: a fresh one finds the files it wrote.
            butler = self._butler_for(theirs)
            try:
                refs = {str(ref.id): ref for group in theirs.outputs.values() for ref in group}
                pairs = [(ref, refs[self.spec.dataset_ids[ref.id]]) for ref in quantum.outputs]
                outputs = _fingerprints(butler, pairs)
            finally:
                butler.close()
        except Exception as err:  # the task's failure is the attempt's outcome, not ours
            lines = traceback.format_exception(err)
            tail = "".join(lines[-TRACEBACK_LINES:]).rstrip()
            name = self._names["get_full_type_name"](err)
            return attempt_outcome(quantum, started, succeeded=False, error=f"{name}: {err}\n{tail}")
        return attempt_outcome(quantum, started, succeeded=True, outputs=tuple(outputs))

    def run_job(self, quanta: Sequence[Quantum]) -> list[AttemptOutcome]:
        """Run quanta in order; stop after the first failure (`run_in_order`)."""
        return run_in_order(self.run, quanta)
