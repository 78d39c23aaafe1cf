"""Version 10: attempts recorded from batch jobs' journals, each with the ``record_id`` of its record.

Batch jobs write their attempts to journals (`provenance_graph.journal`) and the
submitting host loads them (``provgraph record``). Every ``:Attempt`` written from v10 on
carries ``record_id``, unique to the attempt's outcome, by which loading is idempotent, and
an attempt from a journal carries its ``batch_job``. An execution made from journals alone
(an HTCondor DAGMan submission) has ``activator`` ``dagman`` and ``status`` ``recorded``. The
step adds the index ``attempt_record_id`` on ``:Attempt(record_id)``, so a record is found by
its id; older attempts lack the property, which nothing needs. Applied on connect.
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(
    version=10, name="attempt_journals", doc=__doc__ or "", queries=("migrate_v10_attempt_record_id",)
)
