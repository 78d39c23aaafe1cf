// Executions imported from elsewhere: what Rubin's `pipetask run` ran, read from the provenance
// QuantumGraph that `butler aggregate-graph` writes (`provgraph import-provenance`).
//
// One imported file is one (:Execution {activator: 'lsst-provenance'}) of the plan imported from
// the predicted graph; its id is a UUID5 of the file's digest, so importing the same file again
// finds it. While the import writes, the execution's status is 'importing'; the last query sets
// its outcome. Each attempt the file lists is an (:Attempt) with id '<quantum id>/<number>'
// (number = pipe_base's attempt + 1): a later file of the same graph lists the earlier attempts
// again, and they stay the earlier execution's. Quantum statuses are the latest: a file whose
// quantum has fewer attempts than the graph records (an older file) does not change it.

// name: import_execution_start
// Records (or finds) the execution of one imported provenance file; returns its status:
// 'importing' for a new one (or one whose import was interrupted), its outcome if complete.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
MERGE (e:Execution {id: $execution_id})
ON CREATE SET e += $props, e.plan_id = $plan_id, e.status = 'importing', e.activator = 'lsst-provenance',
              e.imported = datetime()
MERGE (e)-[:EXECUTES]->(p)
RETURN e.status AS status;

// name: import_execution_quanta
// Records the attempts and outcome of imported quanta. Rows: {id, status, lsst_status, caveats,
// blocked_by, attempt_count, attempts: [{number, props: {...}}]}. Attempts already recorded are
// kept as they are; the quantum's status changes unless a live execution holds it or the graph
// already records more attempts than the file. Returns the ids whose status was set.
UNWIND $rows AS r
MATCH (q:Quantum {id: r.id, plan_id: $plan_id})
SET q._lock = true
REMOVE q._lock
WITH q, r
CALL (q, r) {
  UNWIND r.attempts AS a
  MERGE (t:Attempt {id: q.id + '/' + toString(a.number)})
  ON CREATE SET t += a.props, t.quantum_id = q.id, t.plan_id = q.plan_id, t.task = q.task,
                t.data_id = q.data_id, t.execution_id = $execution_id, t.source = 'lsst-provenance'
  MERGE (q)-[:HAS_ATTEMPT]->(t)
}
WITH q, r, coalesce(q.status, 'pending') AS was
WHERE was <> 'running' AND r.attempt_count >= coalesce(q.attempt_count, 0)
// The quantum's execution is the one of its last attempt (an earlier file's, if it ran no more).
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(last:Attempt {number: r.attempt_count})
SET q.status = r.status, q.execution_id = coalesce(last.execution_id, $execution_id),
    q.attempt_count = r.attempt_count,
    q.lsst_status = r.lsst_status, q.caveats = r.caveats, q.blocked_by = r.blocked_by
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
FOREACH (_ IN CASE r.status WHEN 'succeeded' THEN [1] ELSE [] END | SET q:Succeeded)
FOREACH (_ IN CASE r.status WHEN 'failed' THEN [1] ELSE [] END | SET q:Failed)
FOREACH (_ IN CASE r.status WHEN 'blocked' THEN [1] ELSE [] END | SET q:Blocked)
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: import_execution_finish
// Ends an imported execution: its outcome, time line (from the attempts), counts and message.
MATCH (e:Execution {id: $execution_id})
SET e.status = $status, e.started = $started, e.ended = $ended,
    e.duration_s = CASE WHEN $started IS NULL OR $ended IS NULL THEN null
                        ELSE duration.inSeconds($started, $ended).milliseconds / 1000.0 END,
    e.counts_json = $counts_json, e.message = $message
RETURN e.id AS id;

// name: import_execution_butler_ids
// The quanta of a plan that carry pipe_base's quantum UUID (`butler_id`), to match imported
// provenance by it rather than by task label and data ID.
MATCH (q:Quantum {plan_id: $plan_id})
WHERE q.butler_id IS NOT NULL
RETURN q.butler_id AS butler_id, q.id AS id;
