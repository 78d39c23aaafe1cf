// Attempt journals: what batch jobs ran, recorded from the files they wrote beside their outputs
// (`provgraph record`, and the submitting process), never from the compute nodes themselves.
//
// Each journal record is one finished attempt of one quantum, with a `record_id` unique to it
// that the attempt keeps (`:Attempt.record_id`): loading a journal again, or loading what the
// submitting process recorded already from the job's own answer, adds nothing. Records of one
// quantum are loaded in the order written, one per query call.

// name: journal_execution
// Finds or records the execution that journal records name. One the journal made itself (a
// DAGMan submission, whose jobs knew no database) has activator 'dagman' and status 'recorded'.
// Returns nothing if the plan is not stored whole.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
MERGE (e:Execution {id: $execution_id})
ON CREATE SET e += {
  plan_id: $plan_id, status: 'recorded', activator: $activator, host: $host, user: $user,
  started: datetime($started), heartbeat: datetime(), options_json: '{}'
}
MERGE (e)-[:EXECUTES]->(p)
RETURN e.id AS id, e.plan_id AS plan_id, e.status AS status;

// name: journal_record_attempts
// Records journal rows: {id (quantum), record_id, execution_id, written, status (succeeded,
// failed, or skipped: its outputs existed already),
// attempt: {duration_s, host, pid, peak_rss_mb, exit_status, error, record_id, batch_job,
// input_checksums_json},
// outputs: [{id, uri, size, checksum}]}, at most one row per quantum. A row whose record_id an
// attempt of its quantum has already is skipped. A quantum its execution holds ('running')
// gets its open attempt finished; any other gets a new attempt. The quantum takes the row's
// status, and a success's outputs are recorded as `execution_finish_quanta` records them.
// Returns {id, recorded}: recorded is false for a row skipped as loaded before.
UNWIND $rows AS r
MATCH (q:Quantum {id: r.id, plan_id: $plan_id})
SET q._lock = true
REMOVE q._lock
WITH q, r, EXISTS { (q)-[:HAS_ATTEMPT]->(:Attempt {record_id: r.record_id}) } AS loaded,
     coalesce(q.status, 'pending') AS was
CALL (q, r, loaded) {
  WITH q, r, loaded
  WHERE NOT loaded
  OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(held:Attempt {number: q.attempt_count, status: 'running'})
  WHERE q.status = 'running' AND q.execution_id = r.execution_id
  WITH q, r, held
  CALL (q, r, held) {
    WITH q, r, held
    WHERE held IS NULL
    SET q.attempt_count = coalesce(q.attempt_count, 0) + 1
    CREATE (q)-[:HAS_ATTEMPT]->(a:Attempt {
      id: q.id + '/' + toString(q.attempt_count), quantum_id: q.id, plan_id: q.plan_id,
      task: q.task, data_id: q.data_id, number: q.attempt_count, execution_id: r.execution_id,
      started: datetime(r.written) - duration({milliseconds: toInteger(r.attempt.duration_s * 1000)})
    })
    RETURN a
    UNION
    WITH held
    WHERE held IS NOT NULL
    RETURN held AS a
  }
  SET a += r.attempt, a.status = r.status, a.ended = datetime(r.written),
      q.status = r.status, q.execution_id = r.execution_id
  REMOVE q.blocked_by, q:Running:Succeeded:Failed:Blocked:Skipped
  FOREACH (_ IN CASE r.status WHEN 'succeeded' THEN [1] ELSE [] END | SET q:Succeeded)
  FOREACH (_ IN CASE r.status WHEN 'failed' THEN [1] ELSE [] END | SET q:Failed)
  FOREACH (_ IN CASE r.status WHEN 'skipped' THEN [1] ELSE [] END | SET q:Skipped)
  WITH q, r
  CALL (q, r) {
    UNWIND r.outputs AS o
    MATCH (d:Dataset {id: o.id})
    SET d.exists = true, d.uri = o.uri, d.size = o.size, d.checksum = o.checksum,
        d.created = datetime(r.written), d.execution_id = r.execution_id
  }
  CALL (q, r) {
    WITH q, r
    WHERE r.status IN ['succeeded', 'skipped']
    MATCH (q)-[:CONSUMES]->(i:Dataset)
    WHERE i.exists IS NULL
    SET i.exists = true
  }
}
RETURN q.id AS id, NOT loaded AS recorded, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: journal_block_children
// `provgraph record` after a failure: the pending quanta of $plan_id that read an output of the
// quanta $rows name become 'blocked', blamed on the row's failed quantum, as the Activator
// blocks them. DAGMan never starts a job whose parent failed, and a journal holds only the
// attempts that ran. Rows: {id (a failed or newly blocked quantum), blocked_by}. Called level
// by level with the quanta it returns, until none is left. A quantum that runs later after all
// (DAGMan retried the failed job, and it succeeded) takes its attempt's status when recorded.
// Returns {id, blocked_by}, each quantum once.
UNWIND $rows AS r
MATCH (f:Quantum {id: r.id, plan_id: $plan_id})
WHERE f.status IN ['failed', 'blocked']
MATCH (f)-[:PRODUCES]->(:Dataset)<-[:CONSUMES]-(q:Quantum)
WHERE q.plan_id = $plan_id AND coalesce(q.status, 'pending') = 'pending'
WITH q, min(r.blocked_by) AS blocked_by
SET q._lock = true
REMOVE q._lock
WITH q, blocked_by, coalesce(q.status, 'pending') AS was
WHERE was = 'pending'
SET q.status = 'blocked', q.blocked_by = blocked_by
SET q:Blocked
RETURN q.id AS id, blocked_by, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;
