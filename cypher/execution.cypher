// Execution provenance: what really ran, next to what was planned (schema version 3).
//
// One (:Execution) node per `provgraph run` (or other Activator) invocation on a plan.
// Each quantum carries its current `status`; each time an execution starts a quantum it
// creates an (:Attempt) linked from it by HAS_ATTEMPT. Quantum statuses:
//   pending    never run, or to be run again (a missing status means the same)
//   running    claimed by a live execution (q.execution_id) and running now
//   succeeded  ran and wrote its outputs
//   failed     its last attempt failed
//   blocked    not run because an upstream quantum failed (q.blocked_by)
//   skipped    not run because all its outputs existed already
// A quantum is claimed under its node's write lock (SET q._lock ... REMOVE q._lock takes it
// before the status is read), so two executions never run one quantum at the same time.
// Every later change of a claimed quantum checks that this execution still holds it.

// name: execution_start
// Records a new execution of a complete plan; returns nothing if the plan is not complete.
// MERGE on the id: a transaction retried after its commit was lost finds its own node.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
MERGE (e:Execution {id: $execution_id})
ON CREATE SET e += {
  plan_id: $plan_id, status: 'running', activator: $activator, host: $host, pid: $pid,
  user: $user, jobs: $jobs, started: datetime(), heartbeat: datetime(), options_json: $options_json,
  software_json: $software_json, tasks_json: $tasks_json
}
MERGE (e)-[:EXECUTES]->(p)
RETURN e.id AS id;

// name: execution_heartbeat
// Shows that an execution is alive.
MATCH (e:Execution {id: $execution_id})
SET e.heartbeat = datetime()
RETURN e.status AS status;

// name: execution_finish
// Closes an execution with its outcome and its counts per quantum status (an execution already
// closed as 'interrupted' by another run's repair keeps that status).
MATCH (e:Execution {id: $execution_id})
SET e.status = CASE e.status WHEN 'running' THEN $status ELSE e.status END,
    e.ended = datetime(), e.heartbeat = datetime(),
    e.duration_s = duration.inSeconds(e.started, datetime()).milliseconds / 1000.0,
    e.counts_json = $counts_json, e.message = $message
RETURN e.id AS id;

// name: execution_holders
// The executions holding quanta of a plan (status 'running'), with what tells whether they are alive.
MATCH (q:Quantum {plan_id: $plan_id, status: 'running'})
WITH q.execution_id AS execution_id, count(*) AS quanta
OPTIONAL MATCH (e:Execution {id: execution_id})
RETURN execution_id, quanta, e.status AS status, e.host AS host, e.pid AS pid,
       duration.inSeconds(coalesce(e.heartbeat, datetime({epochMillis: 0})), datetime()).seconds
         AS idle_seconds;

// name: execution_repair
// Gives back the quanta a dead execution held: they become pending again and their open
// attempts 'interrupted'. The dead execution is closed as 'interrupted' too.
MATCH (q:Quantum {plan_id: $plan_id, status: 'running'})
WHERE q.execution_id = $dead_execution_id
SET q._lock = true
REMOVE q._lock
WITH q
WHERE q.status = 'running' AND q.execution_id = $dead_execution_id
WITH q, q.status AS was
SET q.status = 'pending'
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
WITH q, was
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {status: 'running'})
SET a.status = 'interrupted', a.error = $reason, a.ended = datetime()
WITH count(DISTINCT q) AS repaired, collect(DISTINCT {plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}) AS changed
OPTIONAL MATCH (e:Execution {id: $dead_execution_id, status: 'running'})
SET e.status = 'interrupted', e.message = $reason
RETURN repaired, changed;

// name: execution_live
// The executions of a plan that say they are running, with what tells whether they are alive.
MATCH (e:Execution {plan_id: $plan_id, status: 'running'})
RETURN e.id AS execution_id, 0 AS quanta, e.status AS status, e.host AS host, e.pid AS pid,
       duration.inSeconds(e.heartbeat, datetime()).seconds AS idle_seconds;

// name: execution_statuses
// Every quantum of a plan with its status (a missing status reads 'pending') and holder.
MATCH (q:Quantum {plan_id: $plan_id})
RETURN q.id AS id, coalesce(q.status, 'pending') AS status, q.execution_id AS execution_id;

// name: execution_statuses_of
// The statuses of some quanta.
UNWIND $ids AS id
MATCH (q:Quantum {id: id})
RETURN q.id AS id, coalesce(q.status, 'pending') AS status, q.execution_id AS execution_id;

// name: execution_claim
// Claims quanta of the plan for this execution, which must still be 'running' (one judged
// dead cannot claim). Each must be pending, failed or blocked (and not failed by this same
// execution, unless it is in $retry: a batch job retried within one execution): it becomes
// 'running' with a new attempt. Quanta this execution holds already
// are returned as claimed without a new attempt, so a retried transaction is harmless.
// Returns the ids claimed; the others are held by someone else or finished meanwhile.
MATCH (e:Execution {id: $execution_id, status: 'running'})
UNWIND $ids AS id
MATCH (q:Quantum {id: id, plan_id: $plan_id})
SET q._lock = true
REMOVE q._lock
WITH q, coalesce(q.status = 'running' AND q.execution_id = $execution_id, false) AS mine,
     coalesce(q.status, 'pending') AS was
WHERE mine
   OR (coalesce(q.status, 'pending') IN ['pending', 'failed', 'blocked']
       AND NOT (coalesce(q.status, 'pending') = 'failed' AND coalesce(q.execution_id, '') = $execution_id
                AND NOT q.id IN $retry))
CALL (q, mine) {
  WITH q, mine
  WHERE NOT mine
  SET q.status = 'running', q.execution_id = $execution_id,
      q.attempt_count = coalesce(q.attempt_count, 0) + 1
  REMOVE q.blocked_by, q:Running:Succeeded:Failed:Blocked:Skipped
  SET q:Running
  CREATE (q)-[:HAS_ATTEMPT]->(:Attempt {
    id: q.id + '/' + toString(q.attempt_count), quantum_id: q.id, plan_id: q.plan_id,
    task: q.task, data_id: q.data_id, number: q.attempt_count, execution_id: $execution_id,
    status: 'running', started: datetime()
  })
}
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// A quantum's status is mirrored by one label (schema v5) so that Neo4j Browser can colour
// it: :Running, :Succeeded, :Failed, :Blocked or :Skipped; none while pending. Every query
// that sets q.status sets that label too.

// name: execution_finish_quanta
// Records the outcome of attempts this execution holds: the attempt's figures, the quantum's
// new status, and for a success the produced datasets (exists, size, checksum, uri).
// Rows: {id, status, attempt: {ended, duration_s, host, pid, peak_rss_mb, exit_status,
// error, input_checksums_json, ...}, outputs: [{id, uri, size, checksum}]}. Returns the ids
// recorded; recording the same outcome again (a retried transaction) changes nothing.
UNWIND $rows AS r
MATCH (q:Quantum {id: r.id})
SET q._lock = true
REMOVE q._lock
WITH q, r, q.status AS was
WHERE q.execution_id = $execution_id AND (q.status = 'running' OR q.status = r.status)
MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count})
SET q.status = r.status, a += r.attempt, a.status = r.status, a.ended = coalesce(a.ended, datetime())
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
FOREACH (_ IN CASE r.status WHEN 'succeeded' THEN [1] ELSE [] END | SET q:Succeeded)
FOREACH (_ IN CASE r.status WHEN 'failed' THEN [1] ELSE [] END | SET q:Failed)
FOREACH (_ IN CASE r.status WHEN 'skipped' THEN [1] ELSE [] END | SET q:Skipped)
FOREACH (_ IN CASE r.status WHEN 'blocked' THEN [1] ELSE [] END | SET q:Blocked)
FOREACH (_ IN CASE r.status WHEN 'running' THEN [1] ELSE [] END | SET q:Running)
WITH q, r, was
CALL (q, r) {
  UNWIND r.outputs AS o
  MATCH (d:Dataset {id: o.id})
  SET d.exists = true, d.uri = o.uri, d.size = o.size, d.checksum = o.checksum,
      d.created = datetime(), d.execution_id = $execution_id
}
CALL (q, r) {
  // What a successful quantum read exists too (pre-existing inputs are otherwise unknown).
  WITH q, r
  WHERE r.status = 'succeeded'
  MATCH (q)-[:CONSUMES]->(i:Dataset)
  WHERE i.exists IS NULL
  SET i.exists = true
}
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: execution_skip_quanta
// Marks claimed quanta whose outputs all exist already as 'skipped', and records those
// outputs. Rows: {id, outputs: [{id, uri, size, checksum}]}. Returns the ids skipped;
// skipping them again (a retried transaction) changes nothing.
UNWIND $rows AS r
MATCH (q:Quantum {id: r.id})
SET q._lock = true
REMOVE q._lock
WITH q, r, q.status AS was
WHERE q.status IN ['running', 'skipped'] AND q.execution_id = $execution_id
SET q.status = 'skipped'
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
SET q:Skipped
WITH q, r, was
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count})
SET a.status = 'skipped', a.ended = datetime(), a.duration_s = 0.0,
    a.error = 'outputs existed already'
WITH q, r, was
CALL (q, r) {
  UNWIND r.outputs AS o
  MATCH (d:Dataset {id: o.id})
  SET d.exists = true, d.uri = o.uri, d.size = o.size, d.checksum = o.checksum
}
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: execution_block_quanta
// Marks quanta that cannot run because an upstream quantum failed. Only quanta nobody holds
// are changed. Rows: {id, blocked_by}. Returns the ids blocked.
UNWIND $rows AS r
MATCH (q:Quantum {id: r.id})
SET q._lock = true
REMOVE q._lock
WITH q, r, coalesce(q.status, 'pending') AS was
WHERE was IN ['pending', 'blocked'] OR (was = 'failed' AND coalesce(q.execution_id, '') <> $execution_id)
SET q.status = 'blocked', q.blocked_by = r.blocked_by
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
SET q:Blocked
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: execution_release_quanta
// Gives back quanta this execution claimed but did not finish (it was stopped): they become
// pending, their open attempt 'interrupted'. Returns the ids released.
UNWIND $ids AS id
MATCH (q:Quantum {id: id})
SET q._lock = true
REMOVE q._lock
WITH q, q.status AS was
WHERE q.status = 'running' AND q.execution_id = $execution_id
SET q.status = 'pending'
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
WITH q, was
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count})
SET a.status = 'interrupted', a.ended = datetime(), a.error = $reason
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: execution_lose_quanta
// Records that the batch system lost the batch job running quanta this execution holds (it never
// started, or was killed: out of memory, wall time, node lost): not a task failure. The quanta
// become pending again, retryable, and block nothing; their open attempt becomes 'lost' with
// $attempt's properties {infrastructure, error, batch_job_id, batch_state, batch_exit_code, log}.
// Returns the ids recorded; recording again (a retried transaction) changes nothing.
UNWIND $ids AS id
MATCH (q:Quantum {id: id})
SET q._lock = true
REMOVE q._lock
WITH q, q.status AS was
WHERE q.status = 'running' AND q.execution_id = $execution_id
SET q.status = 'pending'
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
WITH q, was
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count, status: 'running'})
SET a += $attempt, a.status = 'lost', a.ended = datetime()
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: execution_attempt_resources
// Records what the batch job running quanta this execution holds asked the batch system for
// ($resources: {request_memory, request_cpus, request_walltime}), on their open attempts.
UNWIND $ids AS id
MATCH (q:Quantum {id: id})-[:HAS_ATTEMPT]->(a:Attempt {status: 'running'})
WHERE q.execution_id = $execution_id AND a.number = q.attempt_count
SET a += $resources
RETURN q.id AS id;

// name: execution_withdraw_quanta
// Withdraws claims of quanta that never started (the rest of a batch job after a failure, or a
// job part of which another execution holds): they become pending again, and the attempt the
// claim made is deleted, since nothing was attempted. Returns the ids withdrawn; withdrawing
// again (a retried transaction) changes nothing.
UNWIND $ids AS id
MATCH (q:Quantum {id: id})
SET q._lock = true
REMOVE q._lock
WITH q, q.status AS was
WHERE q.status = 'running' AND q.execution_id = $execution_id
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count, status: 'running'})
WITH q, was, a, CASE WHEN a IS NULL THEN 0 ELSE 1 END AS made
DETACH DELETE a
SET q.status = 'pending', q.attempt_count = q.attempt_count - made
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
RETURN q.id AS id, [{plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}] AS changed;

// name: execution_reset_quanta
// `plan --rerun-of PLAN --extend-run`: the quanta $ids of the complete plan $plan_id become
// pending again, to run again in the plan's own run. Each loses its status label and
// blocked_by; an attempt still 'running' (its execution is dead: the caller refuses live
// ones) becomes 'interrupted'; other attempts stay as history. Their outputs become planned,
// never made: exists, size, checksum, created and execution_id are removed (the caller
// removes their files before this commits). The plan node is locked first: execution_start
// links a new execution to it, so no execution starts unseen while this runs. Returns how
// many quanta were reset, and the plan's executions that say they are running, with what
// tells whether they are alive (rows as execution_live's) for the caller to judge.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
SET p._lock = true
REMOVE p._lock
WITH p
CALL (p) {
  UNWIND $ids AS id
  MATCH (q:Quantum {id: id, plan_id: p.id})
  SET q._lock = true
  REMOVE q._lock
  WITH q, coalesce(q.status, 'pending') AS was
  SET q.status = 'pending'
  REMOVE q.blocked_by, q:Running:Succeeded:Failed:Blocked:Skipped
  WITH q, was
  CALL (q) {
    OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {status: 'running'})
    SET a.status = 'interrupted', a.ended = coalesce(a.ended, datetime()), a.error = $reason
  }
  CALL (q) {
    OPTIONAL MATCH (q)-[:PRODUCES]->(d:Dataset)
    REMOVE d.exists, d.size, d.checksum, d.created, d.execution_id
  }
  RETURN count(q) AS reset, collect({plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}) AS changed
}
CALL (p) {
  OPTIONAL MATCH (e:Execution {plan_id: p.id, status: 'running'})
  RETURN collect(CASE WHEN e IS NOT NULL THEN {
    execution_id: e.id, status: e.status, host: e.host, pid: e.pid,
    idle_seconds: duration.inSeconds(e.heartbeat, datetime()).seconds
  } END) AS running
}
RETURN reset, running, changed;

// name: execution_last_options
// The options of a plan's latest execution by one Activator, or by any when $activator is null
// (what `provgraph restart` reuses, and the config overrides a rerun keeps).
MATCH (e:Execution {plan_id: $plan_id})
WHERE $activator IS NULL OR e.activator = $activator
RETURN e.options_json AS options_json
ORDER BY e.started DESC
LIMIT 1;

// name: execution_attempts
// Every attempt of a plan's quanta, oldest first.
MATCH (a:Attempt {plan_id: $plan_id})
RETURN a.quantum_id AS quantum_id, a.task AS task, a.data_id AS data_id, a.number AS number,
       a.status AS status, a.execution_id AS execution_id, a.started AS started, a.ended AS ended,
       a.duration_s AS duration_s, a.host AS host, a.pid AS pid, a.peak_rss_mb AS peak_rss_mb,
       a.exit_status AS exit_status, a.error AS error, a.infrastructure AS infrastructure,
       a.batch_job_id AS batch_job_id, a.batch_state AS batch_state, a.request_memory AS request_memory
ORDER BY a.started, a.quantum_id, a.number;

// name: execution_lost_summary
// A plan's attempts the batch system lost (status 'lost'), per reason: how many, and the latest
// one's batch job id, batch state and message.
MATCH (a:Attempt {plan_id: $plan_id, status: 'lost'})
WITH a ORDER BY a.ended
WITH a.infrastructure AS reason, count(*) AS attempts, last(collect(a)) AS latest
RETURN reason, attempts, latest.batch_job_id AS batch_job_id, latest.batch_state AS batch_state,
       latest.error AS error
ORDER BY reason;

// name: plan_delete_attempts
// Deletes the attempts of a plan's quanta, in batches (auto-commit only).
MATCH (a:Attempt {plan_id: $plan_id})
CALL (a) {
  DETACH DELETE a
} IN TRANSACTIONS OF 10000 ROWS;

// name: plan_delete_executions
// Deletes the executions of a plan.
MATCH (e:Execution {plan_id: $plan_id})
DETACH DELETE e;

// name: execution_release_all
// Gives back every quantum of the plan this execution still holds (it is stopping): they
// become pending, their open attempts 'interrupted'. Returns how many.
MATCH (q:Quantum {plan_id: $plan_id, status: 'running'})
WHERE q.execution_id = $execution_id
SET q._lock = true
REMOVE q._lock
WITH q, q.status AS was
WHERE q.status = 'running' AND q.execution_id = $execution_id
SET q.status = 'pending'
REMOVE q:Running:Succeeded:Failed:Blocked:Skipped
WITH q, was
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count})
SET a.status = 'interrupted', a.ended = datetime(), a.error = $reason
RETURN count(q) AS released, collect({plan_id: q.plan_id, task: q.task, data_id: q.data_id, was: was, now: coalesce(q.status, 'pending')}) AS changed;

// name: report_failed_quanta
// A plan's failed quanta, with their last attempt's error and, in clustering $clustering_id (may
// be null), their batch job: what `provgraph report` lists. At most $limit, by task and data ID.
MATCH (q:Quantum {plan_id: $plan_id})
WHERE q.status = 'failed'
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: q.attempt_count})
OPTIONAL MATCH (j:BatchJob {clustering_id: $clustering_id})-[:RUNS]->(q)
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.attempt_count AS attempts,
       a.error AS error, a.exit_status AS exit_status, a.host AS host, j.name AS job
ORDER BY task, data_id
LIMIT $limit;

// name: execution_mark_cancelled
// Records that `provgraph cancel` stopped an execution: it, and the attempts it left
// 'interrupted' when it gave its quanta back, become 'cancelled'. Returns the attempts marked.
MATCH (e:Execution {id: $execution_id})
WHERE e.status IN ['running', 'interrupted', 'cancelled']
SET e.status = 'cancelled', e.message = $reason
WITH e
OPTIONAL MATCH (a:Attempt {plan_id: e.plan_id})
WHERE a.execution_id = e.id AND a.status IN ['interrupted', 'running']
SET a.status = 'cancelled', a.error = $reason
RETURN count(a) AS attempts;
