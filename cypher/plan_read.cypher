// Reading plans back. Only complete plans are visible.

// name: plan_header
// The header properties of one plan, complete or not, and how long ago (server clock) its
// writer last showed a heartbeat.
MATCH (p:Plan {id: $plan_id})
RETURN p {.*} AS plan,
       duration.inSeconds(coalesce(p.heartbeat, datetime()), datetime()).seconds AS idle_seconds;

// name: plan_quanta
// Quanta of a complete plan, optionally filtered by task labels and data-ID values.
// $tasks: list of task labels or null for all. $where: map of dimension -> list of allowed
// values; a constraint applies to the quanta that have that dimension. Rows carry $chunk
// quanta each, as [id, task, data_id, run, input ids, output ids, repository, butler_id]: a client decodes a few
// long lists much faster than many short records.
// $seek: null, or a dimension of $where that every asked task's quanta have, one of exposure,
// visit and patch (whose values few plans share, unlike a detector's or a band's): the quanta
// are then found through that dimension's index, so a subgraph costs what it holds, not what
// the plan holds. Otherwise they are found per task through the (plan_id, task) index, or by
// the plan's id.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
CALL (p) {
    UNWIND CASE WHEN $tasks IS NULL AND $seek IS NULL THEN [p.id] ELSE [] END AS plan_id  // all tasks
    MATCH (q:Quantum {plan_id: plan_id})
    RETURN q
  UNION
    UNWIND CASE WHEN $seek IS NULL THEN $tasks ELSE [] END AS task
    MATCH (q:Quantum {plan_id: p.id, task: task})
    RETURN q
  UNION
    UNWIND CASE $seek WHEN 'exposure' THEN $where.exposure ELSE [] END AS v
    MATCH (q:Quantum {exposure: v}) USING INDEX q:Quantum(exposure)
    WHERE q.plan_id = p.id AND ($tasks IS NULL OR q.task IN $tasks)
    RETURN q
  UNION
    UNWIND CASE $seek WHEN 'visit' THEN $where.visit ELSE [] END AS v
    MATCH (q:Quantum {visit: v}) USING INDEX q:Quantum(visit)
    WHERE q.plan_id = p.id AND ($tasks IS NULL OR q.task IN $tasks)
    RETURN q
  UNION
    UNWIND CASE $seek WHEN 'patch' THEN $where.patch ELSE [] END AS v
    MATCH (q:Quantum {patch: v}) USING INDEX q:Quantum(patch)
    WHERE q.plan_id = p.id AND ($tasks IS NULL OR q.task IN $tasks)
    RETURN q
}
WITH q WHERE all(k IN keys($where) WHERE q[k] IS NULL OR q[k] IN $where[k])
WITH collect(q) AS selected
UNWIND range(0, size(selected) - 1, $chunk) AS i
RETURN [q IN selected[i..i + $chunk] | [q.id, q.task, q.data_id, q.run,
          [(q)-[:CONSUMES]->(d:Dataset) | d.id], [(q)-[:PRODUCES]->(d:Dataset) | d.id],
          q.repository, q.butler_id]] AS quanta;

// name: datasets_in_chunks
// Dataset nodes by id, $chunk per row, each as [id, dataset_type, data_id, run, uri, repository,
// butler_id].
MATCH (d:Dataset) WHERE d.id IN $ids
WITH collect(d) AS found
UNWIND range(0, size(found) - 1, $chunk) AS i
RETURN [d IN found[i..i + $chunk] |
          [d.id, d.dataset_type, d.data_id, d.run, d.uri, d.repository, d.butler_id]] AS datasets;

// name: datasets_by_id
// Dataset nodes by id.
UNWIND $ids AS dataset_id
MATCH (d:Dataset {id: dataset_id})
RETURN d.id AS id, d.dataset_type AS dataset_type, d.data_id AS data_id, d.run AS run, d.uri AS uri,
       d.repository AS repository, d.butler_id AS butler_id;

// name: plan_notes
// A plan's pre-flight notes, in a stable order.
MATCH (n:PlanNote {plan_id: $plan_id})
RETURN n.task AS task, n.kind AS kind, n.connection AS connection, n.dataset_type AS dataset_type,
       coalesce(n.upstream_task, '') AS upstream_task, n.message AS message, n.data_ids AS data_ids
ORDER BY n.task, n.connection, n.kind;

// name: plan_note_counts
// How many pre-flight notes a plan has of each kind, and how many data IDs they drop; no data
// IDs are sent.
MATCH (n:PlanNote {plan_id: $plan_id})
RETURN n.kind AS kind, count(n) AS notes, sum(coalesce(n.data_id_count, size(n.data_ids))) AS data_ids
ORDER BY kind;

// name: dataset_types_by_key
// Dataset type definitions by key ('<repository URI> <name>', or the name for types of plans
// without a Butler repository).
UNWIND $keys AS type_key
MATCH (t:DatasetType {key: type_key})
RETURN t.key AS key, t.name AS name, t.dimensions AS dimensions, t.storage_class AS storage_class;

// name: plan_list
// Stored plans, newest first; incomplete ones only when $include_incomplete.
MATCH (p:Plan)
WHERE p.status = 'complete' OR $include_incomplete
RETURN p.id AS id, p.status AS status, p.output_run AS output_run, p.created AS created,
       p.quantum_count AS quanta, p.dataset_count AS datasets, p.constraints AS constraints
ORDER BY p.created DESC, p.id;

// name: plan_task_counts
// Quanta per task label of one complete plan, from its task summaries (status_counts.cypher),
// with the task's signature (null for plans written before schema v15; store/signatures.py).
MATCH (p:Plan {id: $plan_id, status: 'complete'})
MATCH (s:TaskSummary {plan_id: $plan_id})
RETURN s.task AS task, s.quanta AS quanta, s.signature AS signature
ORDER BY task;

// name: plan_io_counts
// How many datasets a complete plan reads from outside (initial inputs) and leaves unread
// (final outputs). A dataset's `plan_id` names its producer's plan. The reader in the
// subquery has no label on purpose: with one, right after a large import (when the index
// statistics still count few quanta for the plan) the planner could seek every quantum of
// the plan for each dataset instead of expanding from it, minutes at 20k quanta.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
CALL (p) {
  MATCH (q:Quantum {plan_id: $plan_id})-[:CONSUMES]->(d:Dataset)
  WHERE coalesce(d.plan_id, '') <> $plan_id
  RETURN count(DISTINCT d) AS initial_inputs
}
CALL (p) {
  MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES]->(d:Dataset)
  WHERE NOT EXISTS { MATCH (d)<-[:CONSUMES]-(reader) WHERE reader.plan_id = $plan_id }
  RETURN count(d) AS final_outputs
}
RETURN initial_inputs, final_outputs;

// name: plan_element_counts
// Nodes and relationships that belong to one plan, counted in the graph.
MATCH (q:Quantum {plan_id: $plan_id})
OPTIONAL MATCH (q)-[r:CONSUMES|PRODUCES]->(d:Dataset)
RETURN count(DISTINCT q) AS quanta, count(DISTINCT d) AS datasets, count(r) AS edges;

// name: plan_execution_states
// Per plan of $plan_ids: its quanta, how many failed or were blocked, how many are done
// (succeeded or skipped), from its task summaries (status_counts.cypher), and its executions
// still running with a heartbeat newer than $stale_after seconds (an execution killed
// outright is not running).
UNWIND $plan_ids AS plan_id
CALL (plan_id) {
  OPTIONAL MATCH (s:TaskSummary {plan_id: plan_id})
  RETURN coalesce(sum(s.quanta), 0) AS quanta, coalesce(sum(s.failed + s.blocked), 0) AS failed,
         coalesce(sum(s.succeeded + s.skipped), 0) AS done
}
CALL (plan_id) {
  OPTIONAL MATCH (e:Execution {plan_id: plan_id, status: 'running'})
  WHERE e.heartbeat > datetime() - duration({seconds: $stale_after})
  RETURN count(e) AS running
}
RETURN plan_id, quanta, failed, done, running;
