"""The command-line Activator: runs a plan's quanta in local worker processes.

Workers are started once per run (not once per quantum) with the
``forkserver`` method, so they do not inherit the Neo4j driver's threads, and
each is set up once (`Activator.worker_spec`): it loads the pipeline and opens the
repository, or, for a plan from a Rubin QuantumGraph, imports pipe_base and reads
the graph (the forkserver imports what they need once). ``jobs`` workers run
quanta in dependency order; everything else (claims, records, resume) is the
`Activator` template's.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from provenance_graph.activators._base import Activator
from provenance_graph.model import AttemptOutcome, Quantum
from provenance_graph.quantum_runner import init_worker, run_job_in_worker

__all__ = ["LocalActivator"]

_log = logging.getLogger(__name__)


class LocalActivator(Activator):
    """Runs quanta in ``jobs`` local worker processes."""

    name = "cmdline"
    # Short quanta are claimed and recorded many to a transaction: half a second of work
    # claimed ahead per worker, outcomes recorded at most four times a second.
    claim_ahead_seconds = 0.5
    record_every_seconds = 0.25

    _pool: ProcessPoolExecutor | None = None

    def _open(self) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(self.backend.preload))
        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=context,
            initializer=init_worker,
            initargs=(self.worker_spec(), os.getpid()),
        )

    def _submit(self, quanta: Sequence[Quantum]) -> Future[list[AttemptOutcome]]:
        assert self._pool is not None, "_open() first"
        try:
            return self._pool.submit(run_job_in_worker, list(quanta))
        except RuntimeError as err:  # BrokenProcessPool: a worker died; start fresh ones
            _log.warning(
                "the worker pool is broken (%s: %s): a worker died; starting %d fresh workers",
                type(err).__name__,
                err,
                self.jobs,
            )
            self._close(cancel=True)
            self._open()
            return self._pool.submit(run_job_in_worker, list(quanta))

    def _close(self, *, cancel: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            # Python 3.14 has ProcessPoolExecutor.terminate_workers(); until then, the
            # processes themselves. A quantum cut short is given back and rerun later.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=cancel)
