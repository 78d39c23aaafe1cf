// Staleness: which outputs of a plan a changed config, changed code or a newer input would
// make differently (`provenance_graph.store.staleness`, `provgraph query stale`).

// name: stale_outputs_made
// The datasets a plan's quanta made (that exist): the quantum and task that made each, when
// and by which execution.
MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES]->(d:Dataset)
WHERE d.exists = true
RETURN d.id AS id, d.dataset_type AS dataset_type, d.data_id AS data_id, d.created AS created,
       d.execution_id AS execution_id, q.id AS quantum_id, q.task AS task
ORDER BY d.dataset_type, d.data_id;

// name: stale_inputs_read
// What each quantum of a plan reads, and when each input was made (null: it pre-existed).
MATCH (q:Quantum {plan_id: $plan_id})-[:CONSUMES]->(i:Dataset)
RETURN q.id AS quantum_id, i.id AS dataset_id, i.created AS created;

// name: stale_execution_versions
// The task versions each execution of a plan recorded (null before schema v12).
MATCH (e:Execution {plan_id: $plan_id})
RETURN e.id AS id, e.tasks_json AS tasks_json;
