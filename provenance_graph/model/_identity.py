"""Our stable ids, and the canonical name of the data repository that scopes them.

Every dataset and quantum id is a UUID5 (`stable_id`) of what the thing *is*:

- a dataset: ``dataset_id(run, dataset type, data ID)``;
- a quantum: ``quantum_id(run, task label, data ID)``.

For a Butler-backed plan (one imported from a QuantumGraph whose repository is
known), both also take the repository's canonical URI (`repository_uri`) first, so
datasets of two Butlers with the same run, dataset type and data ID are two nodes.
Our own repositories are told apart by run: their plans, and plans whose repository
is unknown, keep the formula without a repository, so existing data keeps its ids.

These functions are the one place the formulas live; the importer, the model's
``id`` properties and other tools (executors, provenance importers) call them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from provenance_graph.errors import ModelError

__all__ = [
    "ID_NAMESPACE",
    "check_repository_uri",
    "dataset_id",
    "quantum_id",
    "repository_path",
    "repository_uri",
    "stable_id",
]

#: Namespace of every stable id this package computes (UUID version 5).
ID_NAMESPACE = uuid.UUID("6f1c3a52-8a1e-5b7e-9a51-1d3c0c7d9e42")

_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def stable_id(*parts: str) -> str:
    r"""Return a deterministic UUID5 text for ``parts``, joined by an ASCII unit separator.

    The result equals ``str(uuid.uuid5(ID_NAMESPACE, "\\x1f".join(parts)))``; it is
    computed with hashlib directly because pre-flight makes one per dataset and quantum.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def dataset_id(run: str, dataset_type: str, data_id_key: str, repository: str | None = None) -> str:
    """The stable id of a dataset: run, dataset type name and data ID (`DataId.key`).

    ``repository`` (a `repository_uri`) is given for datasets of a Butler-backed plan only.
    """
    if repository is None:
        return stable_id(run, dataset_type, data_id_key)
    return stable_id(repository, run, dataset_type, data_id_key)


def quantum_id(run: str, task_label: str, data_id_key: str, repository: str | None = None) -> str:
    """The stable id of a quantum: output run, task label and data ID (`DataId.key`).

    ``repository`` (a `repository_uri`) is given for quanta of a Butler-backed plan only.
    """
    if repository is None:
        return stable_id(run, task_label, data_id_key)
    return stable_id(repository, run, task_label, data_id_key)


def repository_uri(path: str | os.PathLike[str], *, resolve: bool = True) -> str:
    """The canonical URI of a repository root: ``file:///abs/path/``, with a trailing slash.

    A Butler config file (``butler.yaml``, or any file) names the directory it is in.
    With ``resolve`` (the default), symbolic links are resolved and a file is told from a
    directory on disk; without it, the path is only made absolute and normalised.
    """
    root = Path(os.path.abspath(os.fspath(path)))
    if resolve:
        root = root.resolve()
        if root.is_file():
            root = root.parent
    return root.as_uri().rstrip("/") + "/"


def repository_path(uri: str) -> Path:
    """The local directory of a `repository_uri`."""
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(check_repository_uri(uri)).path))


def check_repository_uri(value: object) -> str:
    """Return ``value`` if it is a canonical repository URI (``file:///...`` ending in ``/``)."""
    if not (
        isinstance(value, str)
        and value.startswith("file:///")
        and value.endswith("/")
        and "\x1f" not in value
        and len(value) <= 4096
    ):
        raise ModelError(
            f"repository {str(value)[:200]!r} is not a repository URI",
            hint="a repository is named by the file:// URI of its root directory, ending in '/', "
            "e.g. file:///data/repo/",
        )
    return value
