"""Plan files: a `PlanGraph` saved to and loaded from a gzip-compressed JSON file.

A plan file lets pre-flight and execution be separated without a database, and
moves plans between databases. The format is versioned; its changelog is the
docstring of `FORMAT_VERSION`. Layout (version 3)::

    {"format": "provenance-graph-plan", "version": 3,
     "plan": {<Plan header>},
     "dataset_types": [{"name", "dimensions", "storage_class"}, ...],
     "datasets": [[id, dataset_type, {data ID}, run, uri or null(, repository, butler id)], ...],
     "quanta": [[id, task_label, {data ID}, run, [input indexes], [output indexes]
                 (, repository, butler id)], ...],
     "notes": [{<PlanNote>}, ...]}

Dataset references inside quanta are indexes into ``datasets``. The last two elements
of a dataset or quantum (its Butler repository URI, part of its id, and its Butler UUID,
each possibly null) are written only where one of them is known: for plans imported
from a QuantumGraph.

A plan file may have been edited, by mistake or on purpose, so loading trusts nothing
in it. Before anything of it is stored or run:

- every id is recomputed from its content and must match (`model.PlanDecoder`, shared
  with the store), and the plan graph is checked as when it was built (one producer per
  dataset, no cycle, every quantum in the plan's output run);
- every data-ID value has its dimension's type (``visit`` an integer, ``instrument`` a
  string: `DimensionUniverse.check_values`);
- every dataset URI is a ``file://`` URI, and every output's (where a run writes) lies
  inside the plan's repository (its ``repository`` metadata), symbolic links resolved
  where that repository exists here. An input's URI is only where its file was found:
  one input node is shared by every plan that reads it, whichever repository recorded it;
- the embedded pipeline parses, its digest is ``pipeline_digest``, its dataset types are
  the file's, and every quantum is one its task could have planned
  (`Pipeline.check_quantum`: the task exists, its inputs are the task's, its outputs are
  exactly those the task's connections derive). A plan without a pipeline of ours (one
  imported from a QuantumGraph, a synthetic one) cannot be run by an Activator, and is
  not checked against one.

Any problem is a `PlanFileError` naming the first bad entry or key.
Files are streamed, entry by entry, to a temporary name that is renamed once
complete, so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from provenance_graph.errors import PlanFileError, ProvenanceGraphError
from provenance_graph.model import (
    DEFAULT_UNIVERSE,
    DataId,
    DatasetRef,
    DatasetType,
    Plan,
    PlanDecoder,
    PlanGraph,
    PlanNote,
    Quantum,
    check_text,
)
from provenance_graph.pipeline import Pipeline

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_plan", "save_plan"]

FORMAT_NAME = "provenance-graph-plan"
FORMAT_VERSION = 3
"""Version of the plan file format.

1. First version: header, dataset types, datasets, quanta with index references.
2. Pre-flight notes (``notes``), dataset URIs (a fifth element of each dataset),
   and the pipeline definition in the header. Version 1 files are still read.
3. The plan's ``repository`` (header), and for datasets and quanta of a Butler-backed
   plan their repository and Butler UUID (two more elements of each entry). Versions 1
   and 2 files are still read.
"""

_READABLE = (1, 2, 3)


class _PlanFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str
    version: int
    plan: dict[str, Any]
    dataset_types: list[dict[str, Any]]
    datasets: list[
        tuple[str, str, dict[str, Any], str]
        | tuple[str, str, dict[str, Any], str, str | None]
        | tuple[str, str, dict[str, Any], str, str | None, str | None, str | None]
    ]
    quanta: list[
        tuple[str, str, dict[str, Any], str, list[int], list[int]]
        | tuple[str, str, dict[str, Any], str, list[int], list[int], str | None, str | None]
    ]
    notes: list[dict[str, Any]] = []


def save_plan(graph: PlanGraph, path: Path) -> int:
    """Write ``graph`` to ``path`` (gzip JSON); return the file size in bytes.

    The document is streamed: each entry is encoded on its own and compressed in
    chunks of about `_CHUNK_CHARS` characters, so the whole document never sits in
    memory (at 1M quanta building it first raised the peak by 1.6 GB). The text is
    the same, byte for byte, as ``json.dumps(document, separators=(",", ":"))``.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as handle:
            for chunk in _chunks(_document_text(graph)):
                handle.write(chunk)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path.stat().st_size


_CHUNK_CHARS = 1 << 20
"""About how much JSON text `save_plan` gathers before compressing it."""

_encode = json.JSONEncoder(separators=(",", ":")).encode


def _document_text(graph: PlanGraph) -> Iterator[str]:
    """Yield the JSON text of the plan file of ``graph``, in pieces of one entry or so."""
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "plan": graph.plan.model_dump(mode="json")}
    yield _encode(header)[:-1]  # without its closing brace: the arrays follow
    index = {did: i for i, did in enumerate(graph.datasets)}
    yield from _array("dataset_types", (t.model_dump(mode="json") for t in graph.dataset_types.values()))
    yield from _array(
        "datasets", (_dataset_entry(did, ref, graph.uris) for did, ref in graph.datasets.items())
    )
    yield from _array("quanta", (_quantum_entry(q, index) for q in graph.in_order()))
    yield from _array("notes", (n.model_dump(mode="json") for n in graph.notes))
    yield "}"


def _array(key: str, entries: Iterable[object]) -> Iterator[str]:
    yield f',"{key}":['
    separator = ""
    for entry in entries:
        yield separator + _encode(entry)
        separator = ","
    yield "]"


def _dataset_entry(did: str, ref: DatasetRef, uris: Mapping[str, str]) -> list[object]:
    entry: list[object] = [did, ref.dataset_type.name, ref.data_id.to_dict(), ref.run, uris.get(did)]
    if ref.repository is not None or ref.butler_id is not None:
        entry += [ref.repository, ref.butler_id]
    return entry


def _quantum_entry(quantum: Quantum, index: Mapping[str, int]) -> list[object]:
    entry: list[object] = [
        quantum.id,
        quantum.task_label,
        quantum.data_id.to_dict(),
        quantum.run,
        [index[r.id] for r in quantum.inputs],
        [index[r.id] for r in quantum.outputs],
    ]
    if quantum.repository is not None or quantum.butler_id is not None:
        entry += [quantum.repository, quantum.butler_id]
    return entry


def _chunks(pieces: Iterable[str]) -> Iterator[bytes]:
    """Join ``pieces`` into UTF-8 chunks of about `_CHUNK_CHARS` characters."""
    gathered: list[str] = []
    size = 0
    for piece in pieces:
        gathered.append(piece)
        size += len(piece)
        if size >= _CHUNK_CHARS:
            yield "".join(gathered).encode("utf-8")
            gathered, size = [], 0
    yield "".join(gathered).encode("utf-8")


def load_plan(path: Path) -> PlanGraph:
    """Read a plan file written by `save_plan`, checking it whole."""
    path = Path(path)
    return _graph_from(_read_document(path), path)


def _read_document(path: Path) -> _PlanFile:
    """Parse and check the structure of the file; the parsed JSON is dropped on return."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"no plan file at {path}") from None
    except (OSError, EOFError, zlib.error) as err:
        raise PlanFileError(
            f"{path} is not a gzip-compressed plan file: {err}",
            hint="plan files are written by 'provgraph plans export'",
        ) from None
    except RecursionError:
        raise PlanFileError(
            f"{path} does not hold a plan: its JSON nests too deeply to read",
            hint="plan files are written by 'provgraph plans export'",
        ) from None
    except ValueError as err:  # not UTF-8, not JSON, or an integer of thousands of digits
        raise PlanFileError(f"{path} does not hold JSON: {err}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise PlanFileError(
            f'{path} is not a provenance-graph plan file (no "format": "{FORMAT_NAME}")',
            hint="plan files are written by 'provgraph plans export'",
        )
    if raw.get("version") not in _READABLE:
        raise PlanFileError(
            f"{path} has plan file format version {raw.get('version')!r}; this provenance-graph "
            f"reads version {FORMAT_VERSION}",
            hint="use the provenance-graph version that wrote it, or export it again",
        )
    try:
        document = _PlanFile.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanFileError(f"{path}: {where}: {first['msg']} ({err.error_count()} problem(s))") from None
    return document


def _graph_from(document: _PlanFile, path: Path) -> PlanGraph:
    """Build the plan graph, emptying ``document``'s entries once read so objects reuse their memory."""
    reader = _Reader()
    try:
        return reader.read(document)
    except ProvenanceGraphError as err:
        raise PlanFileError(f"{path}: {reader.where}: {err.message}", hint=err.hint) from None
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PlanFileError(f"{path}: {reader.where}: {field}: {first['msg']}") from None


class _Reader:
    """Reads a plan file's document entry by entry; `where` names the entry being read."""

    def __init__(self) -> None:
        self.where = "plan"
        self.universe = DEFAULT_UNIVERSE

    def read(self, document: _PlanFile) -> PlanGraph:
        plan = Plan.model_validate(document.plan)
        pipeline = _pipeline_of(plan)
        self.where = "plan.metadata.repository"
        uri_check = _UriCheck(plan.metadata.get("repository"))
        decoder = PlanDecoder(self._dataset_types(document, pipeline))
        refs: list[DatasetRef] = []
        uris: dict[str, str] = {}
        uri_entries: list[int] = []  # checked once the quanta say which datasets are outputs
        for i, entry in enumerate(document.datasets):
            did, type_name, data_id_values, run = entry[:4]
            self.where = f"datasets[{i}]"
            uri = entry[4] if len(entry) > 4 else None
            repository, butler_id = entry[5:7] if len(entry) > 5 else (None, None)
            data_id = DataId(data_id_values)
            self.universe.check_values(data_id, f"dataset {type_name}")
            refs.append(decoder.dataset(did, type_name, data_id, run, repository, butler_id))
            if uri:
                uris[did] = check_text(uri, "dataset URI")
                uri_entries.append(i)
        document.datasets = []
        quanta = self._quanta(document, decoder, refs, pipeline)
        produced = {ref.id for quantum in quanta for ref in quantum.outputs}
        for i in uri_entries:
            self.where = f"datasets[{i}]"
            uri_check(uris[refs[i].id], output=refs[i].id in produced)
        notes = []
        for i, n in enumerate(document.notes):
            self.where = f"notes[{i}]"
            notes.append(PlanNote.model_validate(n))
        self.where = "the plan graph"
        return PlanGraph(plan, quanta, notes, uris)

    def _dataset_types(self, document: _PlanFile, pipeline: Pipeline | None) -> dict[str, DatasetType]:
        types: dict[str, DatasetType] = {}
        for i, t in enumerate(document.dataset_types):
            self.where = f"dataset_types[{i}]"
            dataset_type = DatasetType.model_validate(t)
            if pipeline is not None and pipeline.dataset_types.get(dataset_type.name) != dataset_type:
                raise PlanFileError(
                    f"dataset type {dataset_type.name!r} {dataset_type.dimensions} "
                    f"({dataset_type.storage_class}) is not one of the plan's pipeline"
                )
            types[dataset_type.name] = dataset_type
        return types

    def _quanta(
        self, document: _PlanFile, decoder: PlanDecoder, refs: list[DatasetRef], pipeline: Pipeline | None
    ) -> list[Quantum]:
        quanta: list[Quantum] = []
        for i, entry in enumerate(document.quanta):
            qid, label, data_id_values, run, inputs, outputs = entry[:6]
            repository, butler_id = entry[6:8] if len(entry) > 6 else (None, None)
            self.where = f"quanta[{i}]"
            bad = [j for j in (*inputs, *outputs) if not 0 <= j < len(refs)]
            if bad:
                raise PlanFileError(f"dataset index {bad[0]} out of range")
            data_id = DataId(data_id_values)
            self.universe.check_values(data_id, f"quantum of task {label}")
            quantum = decoder.quantum(
                qid,
                label,
                data_id,
                run,
                (refs[j] for j in inputs),
                (refs[j] for j in outputs),
                repository,
                butler_id,
            )
            if pipeline is not None:
                pipeline.check_quantum(quantum)
            quanta.append(quantum)
        document.quanta = []
        return quanta


def _pipeline_of(plan: Plan) -> Pipeline | None:
    """The plan's own pipeline, checked against its digest; None for a plan without one."""
    if not plan.pipeline:
        return None
    try:
        pipeline = Pipeline.from_yaml(plan.pipeline, source="the plan's pipeline")
    except ProvenanceGraphError as err:
        raise PlanFileError(f"pipeline: {err.message}", hint=err.hint) from None
    if pipeline.digest() != plan.pipeline_digest:
        raise PlanFileError(
            f"pipeline_digest: {plan.pipeline_digest[:80]!r} is not the digest of the plan's pipeline "
            f"({pipeline.digest()}): the pipeline was changed after planning",
            hint="plan the pipeline again ('provgraph plan'), then export the new plan",
        )
    return pipeline


class _UriCheck:
    """Checks that dataset URIs are ``file://`` URIs, and those of outputs inside one repository.

    Parameters
    ----------
    root
        The plan's ``repository`` metadata: an absolute path, or None when the plan
        names no repository (then an output with a URI is an error).
    """

    def __init__(self, root: object) -> None:
        if root is not None and not (isinstance(root, str) and os.path.isabs(root)):
            raise PlanFileError(f"{str(root)[:200]!r} is not an absolute path")
        self.root = Path(os.path.normpath(root)) if root is not None else None
        # URIs as pre-flight writes them (Repository.uri): the root's URI, then a path
        # with no dot segment and no escape, are inside the root as they stand.
        self._prefix = self.root.as_uri().rstrip("/") + "/" if self.root is not None else None
        self._resolved = self.root.resolve() if self.root is not None and self.root.is_dir() else None
        self._inside: set[str] = set()

    def __call__(self, uri: str, *, output: bool) -> None:
        """Raise `PlanFileError` unless ``uri`` is a ``file://`` URI, inside the repository if an ``output``.

        An input's URI is only where its file was found (an input is one node shared by every
        plan that reads it, whichever repository first recorded it); nothing reads or writes
        through it. An output's URI is where the plan's run will write its file.
        """
        prefix = self._prefix
        rest = uri[len(prefix) :] if prefix is not None and uri.startswith(prefix) else None
        if rest is None or "%" in rest or "/." in "/" + rest:
            parsed = urllib.parse.urlsplit(uri)
            if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
                raise PlanFileError(
                    f"dataset URI {uri[:200]!r} is not a file:// URI on this host",
                    hint="plan files are written by 'provgraph plans export'",
                )
            if not output:
                return
            if self.root is None:
                raise PlanFileError(
                    "an output has a URI, but the plan names no repository (metadata 'repository')",
                    hint="plan files are written by 'provgraph plans export'",
                )
            local = Path(os.path.normpath(urllib.parse.unquote(parsed.path)))
            if not local.is_relative_to(self.root):
                raise PlanFileError(
                    f"dataset URI {uri[:200]!r} lies outside the plan's repository {str(self.root)!r}",
                    hint="a plan's datasets live in its repository; export the plan again",
                )
            directory = str(local.parent)
        elif not output or self.root is None:
            return
        else:
            directory = str(self.root / rest).rpartition("/")[0]
        if self._resolved is not None and directory not in self._inside:
            if not Path(directory).resolve().is_relative_to(self._resolved):
                raise PlanFileError(
                    f"dataset URI {uri[:200]!r} leads out of the plan's repository "
                    f"{str(self.root)!r} through a symbolic link",
                    hint="a dataset's file stays inside its repository; remove that link",
                )
            self._inside.add(directory)
