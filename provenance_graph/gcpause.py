"""Pausing Python's cyclic garbage collector while many long-lived objects are made.

Pre-flight and the store's plan reads make hundreds of thousands of data IDs, datasets and
quanta that live as long as the plan and never become cyclic garbage. Each full collection
would rescan all of them so far, for nothing: a third of the CPU time of reading a 10k-quantum
plan back (``benchmarks/pull.py``).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off for the block (as it was, afterwards)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
