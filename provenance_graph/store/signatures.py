"""Digests of what quanta read and write, written with a plan so that `plan_diff` skips what is equal.

A quantum's signature (``:Quantum.signature``, schema v15) is a digest of its inputs and
outputs, each as ``in: <dataset type> <data ID>`` or ``out: ...`` (the data ID as canonical
JSON): what ``plan_diff_task`` compares, runs and dataset ids left out, so that two plans of
the same pipeline over the same data have equal signatures whatever their output runs.
A task's signature (``:TaskSummary.signature``) folds the (data ID, signature) pairs of all
its quanta in a plan, in any order: a plan written in parts gets the one it would get whole.
Two tasks with equal signatures have the same quanta reading and writing the same datasets.
"""

from __future__ import annotations

import hashlib

from provenance_graph.model import Quantum

__all__ = ["TaskSignatures", "quantum_signature"]

_BITS = 128
_MASK = (1 << _BITS) - 1


def quantum_signature(quantum: Quantum) -> str:
    """The digest of a quantum's inputs and outputs by dataset type and data ID (32 hex digits)."""
    parts = sorted(
        [f"in: {r.dataset_type.name} {r.data_id.key()}" for r in quantum.inputs]
        + [f"out: {r.dataset_type.name} {r.data_id.key()}" for r in quantum.outputs]
    )
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=_BITS // 8).hexdigest()


class TaskSignatures:
    """Folds quanta's signatures into one per task: the sum, modulo 2**128, of a digest of each."""

    def __init__(self) -> None:
        self._sums: dict[str, int] = {}

    def add(self, task: str, data_id_key: str, signature: str) -> None:
        """Count one quantum of ``task`` (each quantum once)."""
        digest = hashlib.blake2b(f"{data_id_key} {signature}".encode(), digest_size=_BITS // 8).digest()
        self._sums[task] = (self._sums.get(task, 0) + int.from_bytes(digest, "big")) & _MASK

    def of(self, task: str) -> str:
        """The task's signature, 32 hex digits."""
        return f"{self._sums.get(task, 0):032x}"
