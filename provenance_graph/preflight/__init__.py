"""Pre-flight, common to every Activator: data query -> candidate data IDs -> quanta -> plan.

`preflight` asks each task of a `Pipeline`, in order, to define its quanta over
a repository (any `RepositoryView`), restricted by a data query (`Expression`),
and returns a checked `PlanGraph` with notes on every data ID it dropped. A plan too big
for memory is pre-flighted in parts, one per value of a dimension (`split_values`,
`part_query`, `merge_notes`).
"""

from provenance_graph.preflight._builder import TaskContext, preflight
from provenance_graph.preflight._expression import Expression, parse_expression
from provenance_graph.preflight._relations import Relations
from provenance_graph.preflight._repository_view import RepositoryView
from provenance_graph.preflight._split import SharedReads, merge_notes, part_query, split_values

__all__ = [
    "Expression",
    "Relations",
    "RepositoryView",
    "SharedReads",
    "TaskContext",
    "merge_notes",
    "parse_expression",
    "part_query",
    "preflight",
    "split_values",
]
