"""`Repository`: a directory of dataset files plus a SQLite registry of what exists.

Layout of a repository at ``PATH``::

    PATH/repository.yaml      format version and path templates (user-editable)
    PATH/registry.sqlite3     dataset types, dimension records, join rows, datasets
    PATH/<run>/...            the dataset files, one per dataset, named by template

The registry holds:

- **dataset types**, each with the path template that maps one of its datasets
  to a file, e.g. ``{run}/{dataset_type}/{visit}/{dataset_type}_{visit}_{detector}``;
- **dimension records**: one per instrument, detector, visit (with its band),
  exposure (with its visit), sky map, tract and patch;
- **join rows**: which (instrument, visit, detector) images overlap which
  (skymap, tract, patch) sky cells;
- **datasets**: every dataset that exists, with its run and file URI.

Every change is one SQLite transaction; files are written under a temporary
name and renamed, then registered, so a crash leaves at worst an unregistered
file that the next `put` of the same dataset overwrites.

Every path a dataset gets from its template (`Repository.path`, `Repository.uri`) stays
inside the repository: a path with an absolute or ``..`` part (from a template, a run
name or a data-ID value) is refused, and so is one that a symbolic link leads out of,
resolved when the path is computed: at pre-flight, and again in the worker that writes
the file. `Repository.remove` deletes no file outside the repository.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import string
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from provenance_graph.errors import ProvenanceGraphError, RepositoryError
from provenance_graph.model import (
    DEFAULT_UNIVERSE,
    DataId,
    DatasetRef,
    DatasetType,
    DimensionUniverse,
    suggest,
)
from provenance_graph.model._names import check_run_name
from provenance_graph.repository._formatters import (
    StorageClass,
    storage_class,
    temporary_leftovers,
    write_atomically,
)

__all__ = ["DEFAULT_TEMPLATE", "FORMAT_VERSION", "Repository"]

#: Version of the repository layout; its history:
#: 1: first version (registry.sqlite3 + repository.yaml).
FORMAT_VERSION = 1

#: The template used for dataset types that have no template of their own.
DEFAULT_TEMPLATE = "{run}/{dataset_type}/{dataset_type}_{data_id}"

_CONFIG = "repository.yaml"
_REGISTRY = "registry.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dataset_types (
    name TEXT PRIMARY KEY, dimensions TEXT NOT NULL, storage_class TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dimension_records (
    element TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (element, key)
);
CREATE TABLE IF NOT EXISTS join_rows (
    name TEXT NOT NULL, row TEXT NOT NULL, PRIMARY KEY (name, row)
);
CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, dataset_type TEXT NOT NULL REFERENCES dataset_types(name),
    data_id TEXT NOT NULL, run TEXT NOT NULL REFERENCES runs(name), uri TEXT NOT NULL,
    UNIQUE (dataset_type, data_id, run)
);
CREATE INDEX IF NOT EXISTS datasets_by_type ON datasets (dataset_type);
"""

_TEMPLATE_FIELDS = {"run", "dataset_type", "data_id"}


def _uri_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (percent-escapes undone), or of a plain path."""
    if uri.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    return Path(uri)


def _data_id_path(data_id: DataId) -> str:
    return "_".join(f"{k}-{v}" for k, v in data_id.root)


class Repository:
    """A data repository: dataset files and the registry of what exists.

    Open one with `Repository.open` or make one with `Repository.create`.
    """

    def __init__(self, root: Path, universe: DimensionUniverse = DEFAULT_UNIVERSE) -> None:
        self.root = root
        self.universe = universe
        config_path = root / _CONFIG
        try:
            config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise RepositoryError(
                f"{str(root)!r} is not a provenance-graph repository (no {_CONFIG})",
                hint=f"create one with: provgraph repo create {root}",
            ) from None
        except yaml.YAMLError as err:
            raise RepositoryError(f"{config_path} is not valid YAML: {err}") from err
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            raise RepositoryError(
                f"repository {str(root)!r} has format version {version!r}; "
                f"this version reads {FORMAT_VERSION}",
                hint="use the provenance-graph version that created it",
            )
        self.templates: dict[str, str] = dict(config.get("templates") or {})
        self._resolved_root = root.resolve()
        self._root_uri = self._resolved_root.as_uri()
        self._db = sqlite3.connect(
            root / _REGISTRY, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._types: dict[str, DatasetType] | None = None
        self._inside_dirs: set[Path] = set()

    # --- opening -----------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | Path,
        *,
        templates: Mapping[str, str] | None = None,
        universe: DimensionUniverse = DEFAULT_UNIVERSE,
    ) -> Repository:
        """Create an empty repository at ``root`` (a new or empty directory)."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            what = "a file" if not root.is_dir() else "a directory that is not empty"
            raise RepositoryError(
                f"cannot create a repository at {str(root)!r}: it is {what}",
                hint="choose a new path, or open the existing repository",
            )
        chosen = dict(templates or {})
        for name, template in chosen.items():
            _check_template(name, template, None)
        config = {"format_version": FORMAT_VERSION, "templates": chosen}
        root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(root / _REGISTRY)
        with db:
            db.executescript(_SCHEMA)
        db.close()
        (root / _CONFIG).write_text(
            "# provenance-graph data repository. Templates map datasets to files:\n"
            "# {run}, {dataset_type}, {data_id} and any dimension of the dataset type.\n"
            + yaml.safe_dump(config, sort_keys=False),
            encoding="utf-8",
        )
        return cls(root, universe)

    @classmethod
    def open(cls, root: str | Path, universe: DimensionUniverse = DEFAULT_UNIVERSE) -> Repository:
        """Open the repository at ``root``."""
        root = Path(root)
        if not root.is_dir():
            raise RepositoryError(
                f"no repository at {str(root)!r}",
                hint=f"create one with: provgraph repo create {root}",
            )
        return cls(root, universe)

    def close(self) -> None:
        """Close the registry."""
        self._db.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- dataset types -------------------------------------------------------------------
    def register_dataset_type(self, dataset_type: DatasetType) -> None:
        """Register a dataset type; registering the same definition again does nothing."""
        try:
            self.universe.check(dataset_type.dimensions, f"dataset type {dataset_type.name!r}")
        except ProvenanceGraphError as err:
            raise RepositoryError(err.message, hint=err.hint) from None
        storage_class(dataset_type.storage_class)
        _check_template(dataset_type.name, self.template(dataset_type.name), dataset_type)
        known = self.dataset_types().get(dataset_type.name)
        if known is None:
            # Another process may register the same name at the same moment: insert if absent,
            # then compare with whatever won.
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO dataset_types VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    (dataset_type.name, json.dumps(dataset_type.dimensions), dataset_type.storage_class),
                )
            self._types = None
            known = self.dataset_types()[dataset_type.name]
        if known != dataset_type:
            raise RepositoryError(
                f"dataset type {dataset_type.name!r} is registered as {known.dimensions} "
                f"({known.storage_class}), not {dataset_type.dimensions} ({dataset_type.storage_class})",
                hint="use the registered definition, or another name",
            )

    def dataset_types(self) -> dict[str, DatasetType]:
        """Every registered dataset type, by name."""
        if self._types is None:
            rows = self._db.execute("SELECT name, dimensions, storage_class FROM dataset_types").fetchall()
            self._types = {
                n: DatasetType(name=n, dimensions=tuple(json.loads(d)), storage_class=s) for n, d, s in rows
            }
        return self._types

    def dataset_type(self, name: str) -> DatasetType:
        """The registered dataset type ``name``."""
        found = self.dataset_types().get(name)
        if found is None:
            raise RepositoryError(
                f"dataset type {name!r} is not registered in {str(self.root)!r}",
                hint=suggest(name, sorted(self.dataset_types())) or "register it first",
            )
        return found

    def template(self, dataset_type: str) -> str:
        """The path template of a dataset type."""
        return self.templates.get(dataset_type, DEFAULT_TEMPLATE)

    # --- dimension records and joins -------------------------------------------------------
    def insert_records(self, element: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Insert dimension records of ``element``; existing identical ones are kept. Returns the count."""
        if element not in self.universe:
            raise RepositoryError(
                f"unknown dimension {element!r}",
                hint=suggest(element, sorted(self.universe.dimensions)),
            )
        dim = self.universe[element]
        key_dims = self.universe.key_dimensions(element)
        wanted = set(key_dims) | set(dim.implies)
        rows = []
        for record in records:
            missing = sorted(wanted - set(record))
            if missing:
                raise RepositoryError(
                    f"{element} record {dict(record)} lacks {', '.join(missing)}",
                    hint=f"a {element} record has {', '.join(sorted(wanted))}",
                )
            for name in wanted:
                kind = self.universe.value_type(name)
                if not isinstance(record[name], kind) or isinstance(record[name], bool):
                    raise RepositoryError(
                        f"{element} record {dict(record)}: {name} must be {kind.__name__}, "
                        f"not {record[name]!r}"
                    )
            key = DataId({d: record[d] for d in key_dims}).key()
            rows.append((element, key, json.dumps({k: record[k] for k in sorted(wanted)})))
        with self._transaction() as db:
            for row in rows:
                existing = db.execute(
                    "SELECT record FROM dimension_records WHERE element = ? AND key = ?", row[:2]
                ).fetchone()
                if existing is not None and existing[0] != row[2]:
                    raise RepositoryError(
                        f"{element} {row[1]} is already recorded as {existing[0]}, not {row[2]}",
                        hint="dimension records cannot change once inserted",
                    )
            db.executemany("INSERT OR IGNORE INTO dimension_records VALUES (?, ?, ?)", rows)
        return len(rows)

    def records(self, element: str) -> list[dict[str, Any]]:
        """Every record of ``element``, as dicts of its key and implied dimensions."""
        cur = self._db.execute("SELECT record FROM dimension_records WHERE element = ?", (element,))
        return [json.loads(r) for (r,) in cur]

    def insert_join_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows of the join ``name`` (e.g. ``visit_detector_patch``). Returns the count."""
        join = next((j for j in self.universe.joins if j.name == name), None)
        if join is None:
            raise RepositoryError(
                f"unknown dimension join {name!r}",
                hint=suggest(name, [j.name for j in self.universe.joins]),
            )
        encoded = []
        for row in rows:
            missing = [d for d in join.dimensions if d not in row]
            if missing:
                raise RepositoryError(f"{name} row {dict(row)} lacks {', '.join(missing)}")
            encoded.append((name, json.dumps([row[d] for d in join.dimensions])))
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO join_rows VALUES (?, ?)", encoded)
        return len(encoded)

    def join_rows(self, name: str) -> list[dict[str, Any]]:
        """Every row of the join ``name``."""
        join = next(j for j in self.universe.joins if j.name == name)
        cur = self._db.execute("SELECT row FROM join_rows WHERE name = ?", (name,))
        return [dict(zip(join.dimensions, json.loads(r), strict=True)) for (r,) in cur]

    # --- runs and datasets -----------------------------------------------------------------
    def runs(self) -> list[str]:
        """Every run, in the order they were first written to."""
        return [r for (r,) in self._db.execute("SELECT name FROM runs ORDER BY position")]

    def _ensure_run(self, db: sqlite3.Connection, run: str) -> None:
        db.execute(
            "INSERT OR IGNORE INTO runs SELECT ?, COALESCE(MAX(position), 0) + 1 FROM runs",
            (check_run_name(run),),
        )

    def ref(self, dataset_type: str, data_id: Mapping[str, Any] | DataId, run: str) -> DatasetRef:
        """Make a `DatasetRef` of a registered dataset type (checking the data ID)."""
        return DatasetRef(dataset_type=self.dataset_type(dataset_type), data_id=DataId(data_id), run=run)

    def _relative(self, ref: DatasetRef) -> str:
        sc = storage_class(ref.dataset_type.storage_class)
        fields = {
            "run": ref.run,
            "dataset_type": ref.dataset_type.name,
            "data_id": _data_id_path(ref.data_id),
        }
        fields.update({k: str(v) for k, v in ref.data_id.root})
        return self.template(ref.dataset_type.name).format(**fields) + sc.extension

    def path(self, ref: DatasetRef) -> Path:
        """The file a dataset lives in, by its type's template; it is checked to lie inside the repository.

        Raises
        ------
        RepositoryError
            The path has an absolute or ``..`` part, or a symbolic link on it leads out
            of the repository.
        """
        return self._inside(self._relative(ref), ref, fresh=True)

    def uri(self, ref: DatasetRef) -> str:
        """The ``file://`` URI of a dataset's file (whether it exists yet or not), checked as `path` is.

        Pre-flight asks this of every dataset it plans, so each directory is resolved once
        per repository object; the worker that writes the file resolves it again (`path`).
        """
        relative = self._relative(ref)
        self._inside(relative, ref, fresh=False)
        return self._root_uri + "/" + urllib.parse.quote(relative)

    def contains(self, path: Path) -> bool:
        """Whether ``path``, with every symbolic link on it resolved, lies inside the repository."""
        return path.resolve().is_relative_to(self._resolved_root)

    def _inside(self, relative: str, ref: DatasetRef, *, fresh: bool) -> Path:
        """``root / relative``, refused unless it stays inside the repository (symbolic links resolved).

        With ``fresh``, the whole path is resolved now; otherwise its directory may have been
        resolved by an earlier call.
        """
        parts = PurePosixPath(relative)
        if parts.is_absolute() or ".." in parts.parts:
            part = "/" if parts.is_absolute() else ".."
            raise RepositoryError(
                f"the path of {ref} in repository {str(self.root)!r}, {relative!r}, has a {part!r} part "
                "that leads out of the repository",
                hint=f"check the run name, the data ID values and the path template of "
                f"{ref.dataset_type.name!r} ({self.template(ref.dataset_type.name)!r})",
            )
        path = self.root / relative
        if not fresh and path.parent in self._inside_dirs:
            return path
        if not self.contains(path if fresh else path.parent):
            link = next(
                (p for p in reversed([path, *path.parents]) if p.is_symlink() and not self.contains(p)),
                path,
            )
            raise RepositoryError(
                f"the path of {ref} leads out of repository {str(self.root)!r}: {str(link)!r} is a "
                f"symbolic link to {str(link.resolve())!r}",
                hint="a dataset's file stays inside its repository; remove that link",
            )
        self._inside_dirs.add(path.parent)
        return path

    def put(self, obj: Any, ref: DatasetRef) -> str:
        """Write ``obj`` as dataset ``ref`` and register it; returns its URI.

        Writing a dataset that is registered already is an error: datasets are
        immutable once they exist.
        """
        self._check_type(ref)
        if self.exists(ref):
            raise RepositoryError(
                f"dataset {ref} exists already",
                hint="datasets are never overwritten; write to a new run",
            )
        sc: StorageClass = storage_class(ref.dataset_type.storage_class)
        path = self.path(ref)
        write_atomically(sc, obj, path, str(ref))
        self._register(ref, path.resolve().as_uri())
        return path.resolve().as_uri()

    def ingest(self, ref: DatasetRef, uri: str | None = None) -> str:
        """Register a dataset whose file exists already (at ``uri``, or at its template path)."""
        self._check_type(ref)
        if uri is None:
            path = self.path(ref)
            uri = path.resolve().as_uri()
        elif uri.startswith("file://"):
            path = _uri_path(uri)
        else:
            path = Path(uri).resolve()
            uri = path.as_uri()
        if not path.exists():
            raise RepositoryError(f"cannot ingest {ref}: {path} does not exist")
        self._register(ref, uri)
        return uri

    def _check_type(self, ref: DatasetRef) -> None:
        registered = self.dataset_type(ref.dataset_type.name)
        if registered != ref.dataset_type:
            raise RepositoryError(
                f"{ref} uses a definition of {ref.dataset_type.name!r} that differs from the registered one",
            )

    def _register(self, ref: DatasetRef, uri: str) -> None:
        with self._transaction() as db:
            self._ensure_run(db, ref.run)
            db.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET uri = excluded.uri",
                (ref.id, ref.dataset_type.name, ref.data_id.key(), ref.run, uri),
            )

    def remove(self, ref: DatasetRef) -> bool:
        """Unregister dataset ``ref``, delete its file and any temporary file a killed writer left.

        Only for what a failed or interrupted attempt left behind: the executor
        calls it on the outputs of a quantum it holds, before running it again.
        Returns whether anything was there.
        """
        leftovers = temporary_leftovers(self.path(ref))
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        row = self._db.execute("SELECT uri FROM datasets WHERE id = ?", (ref.id,)).fetchone()
        if row is None:
            return bool(leftovers)
        with self._transaction() as db:
            db.execute("DELETE FROM datasets WHERE id = ?", (ref.id,))
        registered = _uri_path(row[0])
        if self.contains(registered):  # an ingested file outside the repository is not ours to delete
            registered.unlink(missing_ok=True)
        return True

    def fingerprint(self, ref: DatasetRef) -> tuple[str, int, str]:
        """The URI, size in bytes and ``sha256:<hex>`` checksum of a registered dataset's file."""
        row = self._db.execute("SELECT uri FROM datasets WHERE id = ?", (ref.id,)).fetchone()
        if row is None:
            raise RepositoryError(f"dataset {ref} does not exist in {str(self.root)!r}")
        path = _uri_path(row[0])
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise RepositoryError(f"dataset {ref} is registered but its file {path} is missing") from None
        return row[0], size, f"sha256:{digest.hexdigest()}"

    def exists(self, ref: DatasetRef) -> bool:
        """Whether dataset ``ref`` is registered."""
        row = self._db.execute("SELECT 1 FROM datasets WHERE id = ?", (ref.id,)).fetchone()
        return row is not None

    def get(self, ref: DatasetRef) -> Any:
        """Read dataset ``ref``."""
        row = self._db.execute("SELECT uri FROM datasets WHERE id = ?", (ref.id,)).fetchone()
        if row is None:
            raise RepositoryError(f"dataset {ref} does not exist in {str(self.root)!r}")
        path = _uri_path(row[0])
        try:
            return storage_class(ref.dataset_type.storage_class).read(path)
        except FileNotFoundError:
            raise RepositoryError(f"dataset {ref} is registered but its file {path} is missing") from None

    def datasets(
        self, dataset_type: str | None = None, runs: Sequence[str] | None = None
    ) -> list[tuple[DatasetRef, str]]:
        """Existing datasets with their URIs, optionally of one type and within some runs."""
        types = self.dataset_types()
        sql = "SELECT dataset_type, data_id, run, uri FROM datasets"
        args: list[Any] = []
        if dataset_type is not None:
            sql += " WHERE dataset_type = ?"
            args.append(dataset_type)
        found = []
        wanted = set(runs) if runs is not None else None
        for name, key, run, uri in self._db.execute(sql, args):
            if wanted is not None and run not in wanted:
                continue
            found.append((DatasetRef(dataset_type=types[name], data_id=DataId.from_key(key), run=run), uri))
        return found

    def count(self) -> dict[str, int]:
        """Number of existing datasets per dataset type."""
        rows = self._db.execute("SELECT dataset_type, COUNT(*) FROM datasets GROUP BY dataset_type")
        return dict(rows.fetchall())


def _check_template(name: str, template: str, dataset_type: DatasetType | None) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise RepositoryError(f"path template of {name!r} is malformed: {err}") from None
    allowed = _TEMPLATE_FIELDS | (set(dataset_type.dimensions) if dataset_type else set())
    if dataset_type is not None:
        unknown = sorted(fields - allowed)
        if unknown:
            raise RepositoryError(
                f"path template {template!r} of {name!r} uses {{{unknown[0]}}}, "
                "which is not one of its fields",
                hint=suggest(unknown[0], sorted(allowed))
                or f"use {', '.join('{' + f + '}' for f in sorted(allowed))}",
            )
        if "data_id" not in fields and not set(dataset_type.dimensions) <= fields:
            raise RepositoryError(
                f"path template {template!r} of {name!r} does not name every dimension, so two datasets "
                "would share a file",
                hint="add {data_id}, or every dimension of the dataset type",
            )
    if "run" not in fields:
        raise RepositoryError(
            f"path template {template!r} of {name!r} lacks {{run}}, so runs would share files",
            hint="start it with {run}/",
        )
