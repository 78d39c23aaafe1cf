"""Two cheap tasks for the execution-overhead benchmark: each copies its input to its output.

The same shape as the pipe_base mock chain ``bench_t1 -> bench_t2`` that
`pipetask_overhead.py` runs: per (instrument, visit, detector), task 1 reads
``bench_d0`` and writes ``bench_d1``, task 2 reads ``bench_d1`` and writes
``bench_d2``. Datasets are small JSON documents.
"""

from __future__ import annotations

from typing import ClassVar

from provenance_graph.pipeline import Connection, Input, Output, PipelineTask, QuantumIO

DIMENSIONS = ("instrument", "visit", "detector")


class CopyTask1(PipelineTask):
    """``bench_d0`` -> ``bench_d1``."""

    dimensions = DIMENSIONS
    connections: ClassVar[dict[str, Connection]] = {
        "input": Input("bench_d0", DIMENSIONS, "StructuredData"),
        "output": Output("bench_d1", DIMENSIONS, "StructuredData"),
    }

    def run_quantum(self, io: QuantumIO) -> None:
        """Copy the input to the output."""
        io.put("output", io.get("input"))


class CopyTask2(CopyTask1):
    """``bench_d1`` -> ``bench_d2``."""

    connections: ClassVar[dict[str, Connection]] = {
        "input": Input("bench_d1", DIMENSIONS, "StructuredData"),
        "output": Output("bench_d2", DIMENSIONS, "StructuredData"),
    }
