// Content diff with cause (`provenance_graph.store.diff_outputs`, `provgraph diff-outputs`):
// the outputs of two executions matched by dataset type and data ID, and for each pair whose
// checksums differ, both lineages, which Python walks in step to the first difference
// upstream: an input's checksum, a task's config or code, or the plan.

// name: diff_execution
// An execution by id, then, when $given is a complete plan's id, that plan's latest execution
// (by start). Callers take the first row; no row: neither.
MATCH (e:Execution {id: $given})
RETURN e.id AS id, e.plan_id AS plan_id, toString(e.started) AS started, false AS latest
UNION ALL
MATCH (e:Execution {plan_id: $given})
WHERE EXISTS { (:Plan {id: $given, status: 'complete'}) }
WITH e ORDER BY e.started DESC, e.id DESC LIMIT 1
RETURN e.id AS id, e.plan_id AS plan_id, toString(e.started) AS started, true AS latest;

// name: diff_plan_origin
// A complete plan's metadata (whose `rerun_of` names the plan a rerun came from), and whether
// it has any execution. No row: no such complete plan.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
RETURN p.id AS id, p.metadata_json AS metadata_json,
       EXISTS { (:Execution {plan_id: p.id}) } AS executed;

// name: diff_executions_before
// The executions of $plan_ids that started no later than $started (an ISO 8601 time): those
// whose outputs an execution's answer may include. Each with the task versions it recorded.
MATCH (e:Execution)
WHERE e.plan_id IN $plan_ids AND e.started <= datetime($started)
RETURN e.id AS id, e.plan_id AS plan_id, e.tasks_json AS tasks_json;

// name: diff_outputs
// The existing outputs of the plans $plan_ids made by the executions $execution_ids: each with
// its type, data ID, checksum and the quantum that made it.
UNWIND $execution_ids AS execution_id
MATCH (d:Dataset {execution_id: execution_id})
WHERE d.plan_id IN $plan_ids AND d.exists = true
MATCH (q:Quantum)-[:PRODUCES]->(d)
RETURN d.id AS id, d.plan_id AS plan_id, d.dataset_type AS dataset_type, d.data_id AS data_id,
       d.checksum AS checksum, d.execution_id AS execution_id, q.id AS quantum_id
ORDER BY d.dataset_type, d.data_id, d.id;

// name: diff_lineage
// Every quantum upstream of the datasets $dataset_ids (their producers, the producers of those
// quanta's inputs, and so on, in complete plans), each with its last succeeded attempt's
// execution and input checksums (schema v13), and its inputs: id, type, data ID, checksum and
// producer (null for a dataset that pre-existed).
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (start:Dataset)<-[:PRODUCES]-(first:Quantum)
WHERE start.id IN $dataset_ids AND first.plan_id IN plans
WITH DISTINCT first, plans
CALL (first, plans) {
    RETURN first AS q
  UNION
    MATCH p = ANY SHORTEST (first) ((:Quantum)-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(u:Quantum)
        WHERE u.plan_id IN plans){1,} (q:Quantum)
    RETURN q
}
WITH DISTINCT q, plans
CALL (q) {
  OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {status: 'succeeded'})
  RETURN a ORDER BY a.number DESC LIMIT 1
}
CALL (q, plans) {
  MATCH (q)-[:CONSUMES]->(i:Dataset)
  OPTIONAL MATCH (i)<-[:PRODUCES]-(producer:Quantum)
    WHERE producer.plan_id IN plans
  RETURN collect([i.id, i.dataset_type, i.data_id, i.checksum, producer.id]) AS inputs
}
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, a.execution_id AS execution_id,
       a.input_checksums_json AS input_checksums_json, inputs;
