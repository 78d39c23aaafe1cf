"""Version 13: attempts record the checksums of the inputs they read from outside their plan's run.

An attempt of a quantum of our own (``provgraph run``, ``submit``, journals) carries
``input_checksums_json``: a JSON object, dataset id to ``sha256:<hex>``, of each input it read
that is not in its quantum's output run (raws, calibrations, reused outputs of another run).
Such a dataset has no producer in the plan and so no checksum of its own; with it,
``provgraph diff-outputs`` sees that a calibration changed between two executions. The step
changes nothing stored: older attempts lack the property (what they read is unknown). Applied
on connect.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=13,
    name="input_checksums",
    doc=__doc__ or "",
    queries=(),
)
