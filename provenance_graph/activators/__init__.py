"""Activators: run stored plans and record what really ran.

- `Activator`: the template every Activator shares (claims, records, resume);
- `LocalActivator`: the command-line Activator, local worker processes.

What a worker does to run one quantum is `provenance_graph.quantum_runner`.
"""

from provenance_graph.activators._base import Activator, Failure, Progress, RunReport
from provenance_graph.activators._local import LocalActivator

__all__ = ["Activator", "Failure", "LocalActivator", "Progress", "RunReport"]
