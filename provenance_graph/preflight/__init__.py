"""Pre-flight, common to every Activator: data query -> candidate data IDs -> quanta -> plan.

`preflight` asks each task of a `Pipeline`, in order, to define its quanta over
a repository (any `RepositoryView`), restricted by a data query (`Expression`),
and returns a checked `PlanGraph` with notes on every data ID it dropped.
"""

from provenance_graph.preflight._builder import TaskContext, preflight
from provenance_graph.preflight._expression import Expression, parse_expression
from provenance_graph.preflight._relations import Relations
from provenance_graph.preflight._repository_view import RepositoryView

__all__ = ["Expression", "Relations", "RepositoryView", "TaskContext", "parse_expression", "preflight"]
