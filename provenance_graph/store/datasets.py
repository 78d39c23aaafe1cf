"""Registering existing datasets (ingested files) as ``:Dataset`` nodes with their URIs."""

from __future__ import annotations

from collections.abc import Iterable

from provenance_graph.model import DatasetRef
from provenance_graph.store.connection import GraphStore
from provenance_graph.store.plan_write import register_dataset_types

__all__ = ["register_datasets"]

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
        rows = [
            {
                "id": ref.id,
                "dataset_type": ref.dataset_type.name,
                "data_id": ref.data_id.key(),
                "run": ref.run,
                "uri": uri,
                "dims": ref.data_id.to_dict(),
            }
            for ref, uri in items[start : start + _BATCH]
        ]
        done += int(store.write("datasets_register", rows=rows)[0]["registered"])
    return done
