"""Batched writes: slicing rows into transactions, and several transactions in flight at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from provenance_graph.store.connection import GraphStore

__all__ = ["Check", "batches", "write_in_parallel"]

T = TypeVar("T")
#: Checks one batch's records inside its transaction (raising rolls it back) and returns
#: how many items the batch wrote, for progress.
Check = Callable[[list[dict[str, Any]]], int]


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write(
    store: GraphStore, query: str, check: Check, rows: list[dict[str, Any]], params: dict[str, Any]
) -> int:
    return store.write_with(query, check, rows=rows, **params)


def write_in_parallel(
    store: GraphStore,
    query: str,
    work: Iterator[tuple[list[dict[str, Any]], Check]],
    workers: int,
    finished: Callable[[int], None],
    **params: Any,
) -> None:
    """Run ``query`` once per ``(rows, check)`` of ``work``, up to ``workers`` transactions at once.

    Each transaction gets ``rows=rows`` and ``params`` and is checked by its ``check``;
    ``finished`` is called with each one's count as it commits, in any order. Batches are
    built lazily, at most twice as many as there are workers at a time, so memory stays
    bounded. The first failing batch cancels the rest and its error is raised.
    """
    workers = max(1, workers)
    pending: set[Future[int]] = set()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-writer") as pool:
        try:
            exhausted = False
            while pending or not exhausted:
                while not exhausted and len(pending) < 2 * workers:
                    try:
                        rows, check = next(work)
                    except StopIteration:
                        exhausted = True
                        break
                    pending.add(pool.submit(_write, store, query, check, rows, params))
                if not pending:
                    break
                done, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
