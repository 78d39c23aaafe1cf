// A complete plan's counts of quanta by status, written rather than counted per question (schema
// v14): one :TaskSummary per task (what its quanta read and write, an example data ID, and
// quanta per status) and one :StatusCell per task, dimension and value of that dimension
// (quanta per status), what the explorer's dashboard and heat map show at a million quanta.
//
// plan_complete creates them with the plan, every quantum pending. Each query that changes a
// quantum's status returns the change (`changed`), and `store.status_counts` moves the counts
// by status_counts_apply in the same transaction, so they never disagree with the quanta.

// name: status_counts_apply
// Moves counts: $tasks rows {plan_id, task, pending, running, succeeded, failed, blocked,
// skipped} and $cells rows {plan_id, task, dimension, value, <the same six>}, each a change in
// quanta (negative: fewer), sorted so that concurrent writers lock in one order. Returns how
// many summaries and cells it found: fewer than given means the plan has none (a bug).
CALL () {
  UNWIND $tasks AS t
  MATCH (s:TaskSummary {plan_id: t.plan_id, task: t.task})
  SET s.pending = s.pending + t.pending, s.running = s.running + t.running,
      s.succeeded = s.succeeded + t.succeeded, s.failed = s.failed + t.failed,
      s.blocked = s.blocked + t.blocked, s.skipped = s.skipped + t.skipped
  RETURN count(s) AS tasks
}
CALL () {
  UNWIND $cells AS c
  MATCH (x:StatusCell {plan_id: c.plan_id, dimension: c.dimension, task: c.task, value: c.value})
  SET x.pending = x.pending + c.pending, x.running = x.running + c.running,
      x.succeeded = x.succeeded + c.succeeded, x.failed = x.failed + c.failed,
      x.blocked = x.blocked + c.blocked, x.skipped = x.skipped + c.skipped
  RETURN count(x) AS cells
}
RETURN tasks, cells;

// name: status_counts_tasks
// A complete plan's task summaries, by task label.
MATCH (:Plan {id: $plan_id, status: 'complete'})
MATCH (s:TaskSummary {plan_id: $plan_id})
RETURN s.task AS task, s.reads AS reads, s.writes AS writes, s.example AS example,
       s.quanta AS quanta, s {.pending, .running, .succeeded, .failed, .blocked, .skipped} AS counts
ORDER BY task;

// name: status_counts_cells
// A complete plan's status cells of one dimension, by task and value.
MATCH (:Plan {id: $plan_id, status: 'complete'})
MATCH (x:StatusCell {plan_id: $plan_id, dimension: $dimension})
RETURN x.task AS task, x.value AS value,
       x {.pending, .running, .succeeded, .failed, .blocked, .skipped} AS counts
ORDER BY task, value;

// name: status_counts_recount
// The counts as the quanta tell them, per task and status, and per task, dimension, value and
// status (a dimension is a property whose `"name":` the quantum's canonical JSON data ID holds):
// what `provgraph` checks the written counts against (tests, `status_counts.recount`).
MATCH (q:Quantum {plan_id: $plan_id})
UNWIND [k IN keys(q) WHERE q.data_id CONTAINS '"' + k + '":'] + [null] AS dimension
RETURN q.task AS task, dimension, CASE WHEN dimension IS NULL THEN null ELSE q[dimension] END AS value,
       coalesce(q.status, 'pending') AS status, count(*) AS quanta;

// name: status_counts_delete
// Deletes a plan's task summaries and status cells (with the plan, or before it is replaced).
MATCH (n:TaskSummary|StatusCell {plan_id: $plan_id})
DETACH DELETE n
RETURN count(n) AS deleted;
