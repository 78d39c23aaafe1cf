"""Version 15: quanta and task summaries carry signatures, which ``query diff`` compares first.

``:Quantum.signature`` is a digest of a quantum's inputs and outputs by dataset type and data
ID; ``:TaskSummary.signature`` folds those of a task's quanta (`provenance_graph.store.signatures`).
Both are written with each plan. ``plan_diff`` skips a task whose signatures agree in the two
plans, and expands the edges only of quanta whose signatures differ.
The step changes nothing stored: plans written before lack signatures, and are diffed by their
edges as before. Applied on connect.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=15,
    name="signatures",
    doc=__doc__ or "",
    queries=(),
)
