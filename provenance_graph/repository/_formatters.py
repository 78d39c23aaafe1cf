"""Storage classes: how a Python object of each kind is written to and read from a file.

| storage class    | Python object                          | file    |
|------------------|----------------------------------------|---------|
| `Image`          | 2-D ``numpy.ndarray``                  | ``.npy`` |
| `Catalog`        | structured (record) ``numpy.ndarray``  | ``.npy`` |
| `StructuredData` | JSON-compatible ``dict``               | ``.json`` |

Files are written to a temporary name and renamed into place, so a crash never
leaves a half-written artifact under a dataset's path.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from provenance_graph.crashpoints import crash_point
from provenance_graph.errors import RepositoryError
from provenance_graph.model import suggest

__all__ = [
    "STORAGE_CLASSES",
    "StorageClass",
    "storage_class",
    "temporary_leftovers",
]


@dataclass(frozen=True)
class StorageClass:
    """A storage class: its name, file extension, and how to write and read it."""

    name: str
    extension: str
    python_type: str
    write: Callable[[Any, Path], None]
    read: Callable[[Path], Any]
    check: Callable[[Any], bool]


def _write_npy(obj: Any, path: Path) -> None:
    with path.open("wb") as f:
        np.save(f, obj, allow_pickle=False)


def _read_npy(path: Path) -> Any:
    return np.load(path, allow_pickle=False)


def _write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, indent=1), encoding="utf-8")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


STORAGE_CLASSES: dict[str, StorageClass] = {
    s.name: s
    for s in [
        StorageClass(
            "Image",
            ".npy",
            "2-D numpy array",
            _write_npy,
            _read_npy,
            lambda o: isinstance(o, np.ndarray) and o.ndim == 2 and o.dtype.names is None,
        ),
        StorageClass(
            "Catalog",
            ".npy",
            "structured numpy array",
            _write_npy,
            _read_npy,
            lambda o: isinstance(o, np.ndarray) and o.dtype.names is not None,
        ),
        StorageClass(
            "StructuredData",
            ".json",
            "JSON-compatible dict",
            _write_json,
            _read_json,
            lambda o: isinstance(o, dict),
        ),
    ]
}


def storage_class(name: str) -> StorageClass:
    """Return the storage class called ``name``, or raise `RepositoryError` with close matches."""
    found = STORAGE_CLASSES.get(name)
    if found is None:
        raise RepositoryError(
            f"unknown storage class {name!r}",
            hint=suggest(name, sorted(STORAGE_CLASSES)) or f"known: {', '.join(sorted(STORAGE_CLASSES))}",
        )
    return found


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def temporary_leftovers(path: Path) -> list[Path]:
    """Temporary files a writer of ``path`` killed half-way (``kill -9``) left beside it."""
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f"{glob.escape(_temp_prefix(path))}*.tmp"))


def write_atomically(sc: StorageClass, obj: Any, path: Path, what: str) -> None:
    """Write ``obj`` at ``path`` through a temporary file in the same directory."""
    if not sc.check(obj):
        raise RepositoryError(
            f"cannot store a {type(obj).__name__} as {what}: storage class {sc.name} takes a {sc.python_type}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        sc.write(obj, tmp_path)
        crash_point("file.written")
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
