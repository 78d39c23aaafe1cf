"""Datasets and dataset types in the graph: rows to write, registering, and what is known of each.

`register_dataset_types` writes ``:DatasetType`` nodes (refusing a conflicting
definition). A dataset type is scoped by the Butler repository of the plan that uses it
(`dataset_type_key`): a mock graph's ``calexp`` and a real pipeline's ``calexp`` of
another repository are two nodes; types of plans without a Butler repository (our own)
are one per name, as before; `register_datasets` writes ``:Dataset`` nodes of existing files with their
URIs; `dataset_facts` reads back a dataset's file, size, checksum and existence, for the
pictures and the PROV export.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from provenance_graph.errors import DatasetTypeConflictError
from provenance_graph.model import DatasetRef, DatasetType
from provenance_graph.store.connection import GraphStore

__all__ = [
    "DatasetFacts",
    "dataset_facts",
    "dataset_row",
    "dataset_type_key",
    "register_dataset_types",
    "register_datasets",
]

_BATCH = 10_000


def register_datasets(store: GraphStore, datasets: Iterable[tuple[DatasetRef, str]]) -> int:
    """Create (or update) a ``:Dataset`` node with ``uri`` for each (ref, URI); return how many.

    These are datasets with no producer: files that exist in a repository. Each
    batch is one transaction; registering again is harmless.
    """
    items = list(datasets)
    register_dataset_types(store, {ref.dataset_type.name: ref.dataset_type for ref, _ in items}.values())
    done = 0
    for start in range(0, len(items), _BATCH):
        rows = [dataset_row(ref, uri) for ref, uri in items[start : start + _BATCH]]
        done += int(store.write("datasets_register", rows=rows)[0]["registered"])
    return done


def dataset_row(ref: DatasetRef, uri: str | None, exists: bool = False) -> dict[str, Any]:
    """A dataset as the write queries take it.

    Id, type, data ID (key, display form and dimensions), run, URI, Butler repository and id, and
    ``exists`` (true, or null when not known to exist).
    """
    return {
        "id": ref.id,
        "dataset_type": ref.dataset_type.name,
        "data_id": ref.data_id.key(),
        "data_id_display": ref.data_id.display(),
        "run": ref.run,
        "uri": uri,
        "repository": ref.repository,
        "butler_id": ref.butler_id,
        "exists": True if exists else None,
        "dims": ref.data_id.to_dict(),
    }


def dataset_type_key(name: str, repository: str | None) -> str:
    """The unique key of a ``:DatasetType``: ``'<repository URI> <name>'``, or the name alone.

    The name alone keys the types of plans without a Butler repository. A URI has no
    space, and a name neither.
    """
    return name if repository is None else f"{repository} {name}"


def register_dataset_types(
    store: GraphStore,
    types: Iterable[DatasetType],
    user: str = "this write",
    *,
    repository: str | None = None,
) -> None:
    """Create the ``:DatasetType`` nodes of ``types``; refuse a name already defined otherwise.

    Types are scoped by ``repository`` (a Butler repository URI, or None: `dataset_type_key`).
    """
    mine = {t.name: t for t in types}
    rows = [
        {
            "key": dataset_type_key(t.name, repository),
            "name": t.name,
            "repository": repository,
            "dimensions": list(t.dimensions),
            "storage_class": t.storage_class,
        }
        for t in mine.values()
    ]
    for stored in store.write("dataset_types_merge", rows=rows):
        ours = mine[stored["name"]]
        theirs = DatasetType(
            name=stored["name"],
            dimensions=tuple(stored["dimensions"]),
            storage_class=stored["storage_class"],
        )
        if theirs != ours:
            raise DatasetTypeConflictError(
                f"dataset type {ours.name!r} is registered in the database"
                + (f" for repository {repository}" if repository else "")
                + " with dimensions "
                f"({', '.join(theirs.dimensions)}) and storage class {theirs.storage_class!r}, "
                f"but {user} uses ({', '.join(ours.dimensions)}) and {ours.storage_class!r}",
                hint="use the registered definition, or give the new one another name",
            )


@dataclass(frozen=True)
class DatasetFacts:
    """What the graph knows of one dataset's file (``dataset_facts``); None where nothing is recorded."""

    id: str
    """The dataset's id."""
    uri: str | None
    """Where its file is, or will be."""
    size: int | None
    """The file's size in bytes, once written or found."""
    checksum: str | None
    """The file's checksum, once written or found."""
    exists: bool | None
    """True once produced (or found existing) by a run."""


def dataset_facts(store: GraphStore, ids: Sequence[str]) -> dict[str, DatasetFacts]:
    """What is known of each of some datasets that are in the graph, by dataset id."""
    rows = store.read("dataset_facts", ids=list(ids))
    return {r["id"]: DatasetFacts(r["id"], r["uri"], r["size"], r["checksum"], r["exists"]) for r in rows}
