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
- **datasets**: every dataset that exists, with its run and file URI;
- **calibration collections**: datasets certified with a validity range (a `Timespan`),
  looked up by the time of an observation (`Repository.find_calibration`).

Dimension records come in one batch at a time (`Repository.add_records`, from files by
``provgraph repo add-records``), checked whole before any is written: a record's fields and
types, and that what it needs (a detector its instrument, a patch its tract) and what an
overlap row names has a record. A visit's or exposure's record may carry the observation's
time span. A dataset is ingested only if every value of its data ID has a record.

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
import os
import re
import sqlite3
import string
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
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
    Timespan,
    format_time,
    parse_time,
    suggest,
)
from provenance_graph.model._names import check_run_name
from provenance_graph.repository._formatters import (
    StorageClass,
    storage_class,
    temporary_leftovers,
    write_atomically,
)
from provenance_graph.repository._records import (
    CheckedEntry,
    RecordEntry,
    check_entry,
    check_references,
    differences,
    element_names,
    record_timespan,
)

__all__ = ["DEFAULT_TEMPLATE", "FORMAT_VERSION", "Repository"]

#: Version of the repository layout; its history:
#: 1: first version (registry.sqlite3 + repository.yaml).
#: 2: calibration collections (tables ``calibration_collections`` and ``certifications``);
#:    visit and exposure records may carry a ``timespan``. A version 1 repository is
#:    upgraded when opened: the new tables are created (if absent) and the version line
#:    rewritten, so an interrupted upgrade is finished by the next open.
FORMAT_VERSION = 2

#: The versions this code opens; older ones are upgraded to `FORMAT_VERSION` when opened.
_UPGRADABLE = {1}

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
CREATE TABLE IF NOT EXISTS calibration_collections (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS certifications (
    collection TEXT NOT NULL REFERENCES calibration_collections(name),
    dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    dataset_type TEXT NOT NULL, data_id TEXT NOT NULL,
    valid_begin TEXT, valid_end TEXT
);
CREATE INDEX IF NOT EXISTS certifications_by_data_id ON certifications (dataset_type, data_id, collection);
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
        if version in _UPGRADABLE:
            _upgrade(root)
            version = FORMAT_VERSION
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
        # Temporal elements and their key dimensions, the most specific first: an exposure
        # (which implies its visit) before the visit.
        temporal = [d.name for d in universe.dimensions.values() if d.temporal]
        temporal.sort(key=lambda name: -len(universe.closure([name])))
        self._temporal = [(name, universe.key_dimensions(name)) for name in temporal]
        self._inside_dirs: set[Path] = set()
        self._inside_texts: set[str] = set()  # the same directories, relative, as text (`uri`)

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
    def add_records(self, entries: Iterable[RecordEntry]) -> dict[str, tuple[int, int]]:
        """Add dimension records and join rows, all or none, checked as a whole first.

        Each entry is checked (`check_entry`: element, fields, value types, time span);
        then a key given twice with different values, a record that differs from the
        registry's, and a record or join row that needs a record nobody gives
        (`check_references`) are errors naming the entry's file and line. Records and
        rows that are there already, identical, are kept.

        Returns
        -------
        dict
            For each element and join given, in dependency order: (how many were added,
            how many were there already).
        """
        checked = [check_entry(self.universe, e) for e in entries]
        order = element_names(self.universe)
        checked.sort(key=lambda c: order.index(c.entry.element))  # stable: file order within one
        by_key: dict[tuple[str, str], CheckedEntry] = {}
        batch: list[CheckedEntry] = []
        for item in checked:
            first = by_key.setdefault((item.entry.element, item.key), item)
            if first is item:
                batch.append(item)
            elif first.stored != item.stored:
                diff = differences(first.record, item.record)
                earlier = f"line {first.entry.line}" if first.entry.line else "an earlier record"
                raise RepositoryError(
                    f"{item.entry.where()}{item.entry.element} ({item.data_id}) is given again with "
                    + "; ".join(f"{f} {new}" for f, _old, new in diff)
                    + f", but {earlier} gives "
                    + "; ".join(f"{f} {old}" for f, old, _new in diff),
                    hint="give each record once",
                )
        counts: dict[str, list[int]] = {}
        with self._transaction() as db:
            existing = self._existing_records(db, {c.entry.element for c in batch if not c.is_join}, batch)
            for item in batch:
                if item.is_join:
                    continue
                stored = existing.get(item.entry.element, {}).get(item.key)
                if stored is not None and stored != item.stored:
                    diff = differences(json.loads(stored), item.record)
                    raise RepositoryError(
                        f"{item.entry.where()}{item.entry.element} ({item.data_id}) is already recorded with "
                        + "; ".join(f"{f} {old}, not {new}" for f, old, new in diff),
                        hint="dimension records cannot change once added",
                    )
            given = {(c.entry.element, c.key) for c in batch if not c.is_join}
            check_references(
                self.universe,
                batch,
                lambda element, key: (element, key) in given or key in existing.get(element, {}),
            )
            for item in batch:
                if item.is_join:
                    before = db.total_changes
                    db.execute(
                        "INSERT OR IGNORE INTO join_rows VALUES (?, ?)", (item.entry.element, item.key)
                    )
                    added = db.total_changes > before
                else:
                    added = item.key not in existing.get(item.entry.element, {})
                    if added:
                        db.execute(
                            "INSERT INTO dimension_records VALUES (?, ?, ?)",
                            (item.entry.element, item.key, item.stored),
                        )
                count = counts.setdefault(item.entry.element, [0, 0])
                count[0 if added else 1] += 1
        return {element: (n[0], n[1]) for element, n in counts.items()}

    def _existing_records(
        self, db: sqlite3.Connection, elements: set[str], batch: list[CheckedEntry]
    ) -> dict[str, dict[str, str]]:
        """The registry's records (key -> JSON) of the given elements and of what the batch needs."""
        wanted = set(elements)
        for item in batch:
            if item.is_join:
                wanted.update(d for d in item.record if self.universe[d].has_records)
            else:
                dim = self.universe[item.entry.element]
                wanted.update(d for d in (*dim.requires, *dim.implies) if self.universe[d].has_records)
        return {
            element: dict(
                db.execute("SELECT key, record FROM dimension_records WHERE element = ?", (element,))
            )
            for element in sorted(wanted)
        }

    def insert_records(self, element: str, records: Iterable[Mapping[str, Any]]) -> int:
        """Add records of ``element`` (see `add_records`); returns how many were given."""
        result = self.add_records(RecordEntry(element, record) for record in records)
        return sum(result.get(element, (0, 0)))

    def records(self, element: str) -> list[dict[str, Any]]:
        """Every record of ``element``: its key and implied dimensions, and any ``timespan``.

        A visit's or exposure's ``timespan``, where given, is ``[begin, end]``: ISO-8601
        TAI texts with microseconds (`timespan` reads it as a `Timespan`).
        """
        cur = self._db.execute("SELECT record FROM dimension_records WHERE element = ?", (element,))
        return [json.loads(r) for (r,) in cur]

    def insert_join_rows(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Add rows of the join ``name`` (e.g. ``visit_detector_patch``; see `add_records`).

        Returns how many were given.
        """
        result = self.add_records(RecordEntry(name, row) for row in rows)
        return sum(result.get(name, (0, 0)))

    def join_rows(self, name: str) -> list[dict[str, Any]]:
        """Every row of the join ``name``."""
        join = next(j for j in self.universe.joins if j.name == name)
        cur = self._db.execute("SELECT row FROM join_rows WHERE name = ?", (name,))
        return [dict(zip(join.dimensions, json.loads(r), strict=True)) for (r,) in cur]

    def record_counts(self) -> dict[str, int]:
        """How many records each element has, and how many rows each join, in dependency order."""
        counts = dict(self._db.execute("SELECT element, COUNT(*) FROM dimension_records GROUP BY element"))
        counts.update(self._db.execute("SELECT name, COUNT(*) FROM join_rows GROUP BY name"))
        return {name: counts[name] for name in element_names(self.universe) if name in counts}

    def missing_records(self, data_id: DataId) -> list[str]:
        """What a data ID names that the records do not back, one sentence each, instrument first.

        A value of a dimension with records (not ``band``) needs its record
        (``detector {detector: 9, instrument: 'HSC'} has no record``); a value of a
        dimension another one implies must agree with that record
        (``exposure {exposure: 5, instrument: 'HSC'} has visit 1, not 2``).
        """
        values = data_id.to_dict()
        found: list[str] = []
        for dim in self.universe.dimensions.values():  # in dependency order: instrument first
            name = dim.name
            if name not in values or not dim.has_records:
                continue
            key_dims = self.universe.key_dimensions(name)
            if any(d not in values for d in key_dims):
                continue  # a dataset type's dimensions always include what each requires
            key = data_id.subset(key_dims)
            row = self._db.execute(
                "SELECT record FROM dimension_records WHERE element = ? AND key = ?", (name, key.key())
            ).fetchone()
            if row is None:
                found.append(f"{name} ({key}) has no record")
                continue
            record = json.loads(row[0])
            for implied in dim.implies:
                if implied in values and record.get(implied) != values[implied]:
                    found.append(
                        f"{name} ({key}) has {implied} {record.get(implied)!r}, not {values[implied]!r}"
                    )
        return found

    def timespan(self, data_id: DataId) -> Timespan | None:
        """The observation time span of a data ID: its exposure's record's, else its visit's.

        An exposure record without a time span gives its visit's. None when the data ID
        has no temporal dimension (exposure, visit), or no such record carries a time span.
        """
        values = dict(data_id.root)
        for element, key_dims in self._temporal:
            if element not in values or any(d not in values for d in key_dims):
                continue
            key = DataId.trusted(tuple(sorted((d, values[d]) for d in key_dims)))
            row = self._db.execute(
                "SELECT record FROM dimension_records WHERE element = ? AND key = ?", (element, key.key())
            ).fetchone()
            if row is not None:
                record = json.loads(row[0])
                span = record_timespan(record)
                if span is not None:
                    return span
                for name, value in record.items():  # an exposure without one: its visit's
                    values.setdefault(name, value)
        return None

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
        directory, _, _ = relative.rpartition("/")
        # The same test as _inside's, on text: a directory checked once (no absolute or ".."
        # part, no link out) needs no pathlib objects for its next thousand files.
        if directory not in self._inside_texts or relative.startswith("/") or ".." in relative.split("/"):
            self._inside(relative, ref, fresh=False)
            self._inside_texts.add(directory)
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
        self._check_run(ref.run)
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
        """Register a dataset whose file exists already (at ``uri``, or at its template path).

        Every value of its data ID must have its dimension record (`missing_records`):
        pre-flight finds datasets through the records, so one without them would never be
        read, and planning would say why only in a puzzling way.
        """
        self._check_type(ref)
        self._check_run(ref.run)
        missing = self.missing_records(ref.data_id)
        if missing:
            raise RepositoryError(
                f"cannot ingest {ref}: {'; '.join(missing)}",
                hint=f"add the records first: provgraph repo add-records {self.root} RECORDS.yaml "
                "(the file format is in docs/pipelines.md)",
            )
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

    def _check_run(self, run: str) -> None:
        if self._db.execute("SELECT 1 FROM calibration_collections WHERE name = ?", (run,)).fetchone():
            raise RepositoryError(
                f"{run!r} is a calibration collection, not a run: datasets are written to runs",
                hint="write to a run of another name, then certify into the collection "
                "(provgraph repo certify)",
            )

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
        calls it on the outputs of a quantum it holds, before running it again; and for
        the outputs of quanta ``plan --extend-run --clobber-outputs`` makes pending again.
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

    # --- calibration collections ---------------------------------------------------------------
    def calibration_collections(self) -> list[str]:
        """Every calibration collection, in the order they were made."""
        return [n for (n,) in self._db.execute("SELECT name FROM calibration_collections ORDER BY position")]

    def certify(self, run: str, collection: str, dataset_type: str, validity: Timespan) -> tuple[int, int]:
        """Certify every ``dataset_type`` dataset of ``run`` into ``collection``, valid during ``validity``.

        As Butler's ``certify-calibrations``: the collection is made if it does not exist;
        a calibration's data ID names no temporal dimension (its time is the validity
        range); and in one collection, two validity ranges of one dataset type and data ID
        may not overlap. Certifying the same dataset with the same range again does
        nothing. All or nothing.

        Returns
        -------
        tuple
            (how many were certified now, how many were so already).
        """
        dtype = self.dataset_type(dataset_type)
        temporal = [d for d in dtype.dimensions if d in self.universe and self.universe[d].temporal]
        if temporal:
            raise RepositoryError(
                f"{dataset_type} has dimension {temporal[0]}, so it cannot be a calibration: "
                "a calibration's time is its validity range",
                hint="certify a dataset type whose dimensions name no visit or exposure",
            )
        check_run_name(collection)
        runs = self.runs()
        if collection in runs:
            raise RepositoryError(
                f"{collection!r} is a run; a calibration collection needs a name of its own",
                hint="choose another output collection, e.g. INSTRUMENT/calib",
            )
        if run not in runs:
            if run in self.calibration_collections():
                raise RepositoryError(
                    f"{run!r} is a calibration collection; certify from the run that holds the datasets",
                    hint=f"its runs: {', '.join(runs)}" if runs else None,
                )
            raise RepositoryError(
                f"no run {run!r} in repository {str(self.root)!r}",
                hint=suggest(run, runs)
                or (f"its runs: {', '.join(runs)}" if runs else "ingest datasets first"),
            )
        refs = [ref for ref, _uri in self.datasets(dataset_type, [run])]
        if not refs:
            holding = sorted({ref.run for ref, _uri in self.datasets(dataset_type)})
            raise RepositoryError(
                f"no {dataset_type} datasets in run {run!r}",
                hint=f"runs holding {dataset_type}: {', '.join(holding)}"
                if holding
                else f"ingest them first: provgraph repo ingest {self.root} {dataset_type} FILE ...",
            )
        begin = None if validity.begin is None else format_time(validity.begin)
        end = None if validity.end is None else format_time(validity.end)
        new = 0
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO calibration_collections "
                "SELECT ?, COALESCE(MAX(position), 0) + 1 FROM calibration_collections",
                (collection,),
            )
            for ref in refs:
                rows = db.execute(
                    "SELECT c.dataset_id, c.valid_begin, c.valid_end, d.run FROM certifications c "
                    "JOIN datasets d ON d.id = c.dataset_id "
                    "WHERE c.dataset_type = ? AND c.data_id = ? AND c.collection = ?",
                    (dataset_type, ref.data_id.key(), collection),
                ).fetchall()
                if (ref.id, begin, end) in {(i, b, e) for i, b, e, _run in rows}:
                    continue
                for _id, b, e, other_run in rows:
                    certified = _stored_timespan(b, e)
                    if certified.overlaps(validity):
                        raise RepositoryError(
                            f"{dataset_type} ({ref.data_id}) is certified in {collection} already for "
                            f"{certified} (run {other_run}), which overlaps {validity}",
                            hint="choose a validity range that does not overlap it",
                        )
                db.execute(
                    "INSERT INTO certifications VALUES (?, ?, ?, ?, ?, ?)",
                    (collection, ref.id, dataset_type, ref.data_id.key(), begin, end),
                )
                new += 1
        return new, len(refs) - new

    def certified_counts(self) -> dict[str, dict[str, int]]:
        """For each calibration collection, in order: how many certifications each dataset type has."""
        found: dict[str, dict[str, int]] = {name: {} for name in self.calibration_collections()}
        for collection, dataset_type, n in self._db.execute(
            "SELECT collection, dataset_type, COUNT(*) FROM certifications GROUP BY collection, dataset_type"
        ):
            found[collection][dataset_type] = n
        return found

    def find_calibration(
        self,
        dataset_type: str,
        data_id: DataId,
        time: Timespan | datetime,
        collections: Sequence[str] | None = None,
    ) -> tuple[DatasetRef, str] | None:
        """The calibration of ``dataset_type`` for ``data_id`` valid at ``time``, and its URI.

        Parameters
        ----------
        dataset_type
            A registered dataset type, certified into calibration collections (`certify`).
        data_id
            The data ID to find it for: any data ID that holds the dataset type's
            dimensions (a quantum's ``{instrument, exposure, detector}`` for a bias of
            ``{instrument, detector}``); the others are ignored.
        time
            A `Timespan`, usually the observation's (`timespan`): a validity range that
            overlaps it matches, as in Butler. Or one instant: a range containing it matches.
        collections
            Calibration collections to search, in order; the first that has a match
            wins. By default every calibration collection, in the order they were made.

        Returns
        -------
        tuple or None
            The dataset and its URI; None if no validity range matches.

        Raises
        ------
        RepositoryError
            A collection is not a calibration collection; the data ID lacks a dimension of
            the dataset type; or two certified datasets of one collection match ``time``
            (a span across the boundary of two validity ranges).
        """
        dtype = self.dataset_type(dataset_type)
        missing = [d for d in dtype.dimensions if d not in data_id.dimensions]
        if missing:
            raise RepositoryError(
                f"cannot look up {dataset_type} for {data_id}: it lacks {', '.join(missing)}",
                hint=f"{dataset_type} has dimensions {', '.join(dtype.dimensions)}",
            )
        wanted = set(dtype.dimensions)
        found_id = DataId.trusted(tuple(pair for pair in data_id.root if pair[0] in wanted))
        known = self.calibration_collections()
        if collections is None:
            collections = known
        for collection in collections:
            if collection not in known:
                runs = self.runs()
                raise RepositoryError(
                    f"{collection!r} is a run, not a calibration collection"
                    if collection in runs
                    else f"no calibration collection {collection!r} in repository {str(self.root)!r}",
                    hint=suggest(collection, known)
                    or (f"its calibration collections: {', '.join(known)}" if known else "certify first"),
                )
        # Stored times are fixed-width texts (`format_time`), so SQL compares them as times;
        # NULL is unbounded. The half-open ranges [b, e) overlap [tb, te) when b < te and tb < e.
        if isinstance(time, Timespan):
            span_begin = None if time.begin is None else format_time(time.begin)
            span_end = None if time.end is None else format_time(time.end)
        else:
            span_begin = format_time(time)
            span_end = format_time(time + timedelta(microseconds=1))
        for collection in collections:
            rows = self._db.execute(
                "SELECT d.run, d.uri, c.valid_begin, c.valid_end FROM certifications c "
                "JOIN datasets d ON d.id = c.dataset_id "
                "WHERE c.dataset_type = :type AND c.data_id = :data_id AND c.collection = :collection "
                "AND (c.valid_begin IS NULL OR :end IS NULL OR c.valid_begin < :end) "
                "AND (c.valid_end IS NULL OR :begin IS NULL OR :begin < c.valid_end)",
                {
                    "type": dataset_type,
                    "data_id": found_id.key(),
                    "collection": collection,
                    "begin": span_begin,
                    "end": span_end,
                },
            ).fetchall()
            matches = [(run, uri, _stored_timespan(begin, end)) for run, uri, begin, end in rows]
            if len(matches) > 1:
                raise RepositoryError(
                    f"{len(matches)} {dataset_type} datasets of {collection} are valid during {time} for "
                    f"{data_id}: " + ", ".join(f"run {run} {validity}" for run, _uri, validity in matches),
                    hint="look it up for one instant, e.g. the observation's beginning",
                )
            if matches:
                run, uri, _validity = matches[0]
                return DatasetRef.trusted(dtype, found_id, run), uri
        return None


def _stored_timespan(begin: str | None, end: str | None) -> Timespan:
    """A validity range as the registry stores it (texts of `format_time`; NULL is unbounded)."""
    return Timespan(
        begin=None if begin is None else parse_time(begin, "valid_begin"),
        end=None if end is None else parse_time(end, "valid_end"),
    )


def _upgrade(root: Path) -> None:
    """Bring a repository of an older format version to `FORMAT_VERSION`; running it again is harmless.

    The registry gets the tables it lacks (``CREATE TABLE IF NOT EXISTS``), then the
    ``format_version`` line of ``repository.yaml`` is rewritten (a new file renamed over
    the old one, comments kept), so an upgrade cut short is finished by the next open.
    """
    config_path = root / _CONFIG
    try:
        db = sqlite3.connect(root / _REGISTRY, timeout=60.0)
        try:
            db.executescript(_SCHEMA)
        finally:
            db.close()
        text = config_path.read_text(encoding="utf-8")
        new, found = re.subn(
            r"^format_version:[ \t]*\d+[ \t]*$",
            f"format_version: {FORMAT_VERSION}",
            text,
            count=1,
            flags=re.MULTILINE,
        )
        if not found:  # the file was rewritten in another style: write the settings again
            config = yaml.safe_load(text) or {}
            config["format_version"] = FORMAT_VERSION
            new = yaml.safe_dump(config, sort_keys=False)
        temporary = config_path.with_name(f".{_CONFIG}.upgrade-{os.getpid()}")
        temporary.write_text(new, encoding="utf-8")
        os.replace(temporary, config_path)
    except (OSError, sqlite3.Error) as err:
        raise RepositoryError(
            f"cannot upgrade repository {str(root)!r} to format version {FORMAT_VERSION}: {err}",
            hint="open it once with write access",
        ) from None


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
