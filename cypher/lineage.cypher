// Lineage: where a dataset came from. (Issue 5 extends these with depth limits and stop rules.)

// name: lineage_upstream_tasks
// Every quantum upstream of a dataset (its producer, their producers' inputs' producers, ...),
// counted per task and status, in complete plans only.
MATCH (target:Dataset {id: $dataset_id})<-[:PRODUCES]-(first:Quantum)
WHERE EXISTS { MATCH (:Plan {id: first.plan_id, status: 'complete'}) }
MATCH (first) ((:Quantum)-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(:Quantum)){0,} (q:Quantum)
WITH DISTINCT q
RETURN q.task AS task, coalesce(q.status, 'pending') AS status, count(q) AS quanta
ORDER BY task, status;

// name: lineage_upstream_inputs
// The pre-existing datasets (no producer) a dataset was made from, counted per dataset type.
MATCH (target:Dataset {id: $dataset_id})<-[:PRODUCES]-(first:Quantum)
WHERE EXISTS { MATCH (:Plan {id: first.plan_id, status: 'complete'}) }
MATCH (first) ((:Quantum)-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(:Quantum)){0,} (q:Quantum)
WITH DISTINCT q
MATCH (q)-[:CONSUMES]->(d:Dataset)
WHERE NOT EXISTS { (d)<-[:PRODUCES]-(:Quantum) }
WITH DISTINCT d
RETURN d.dataset_type AS dataset_type, count(d) AS datasets, collect(d.data_id)[..3] AS examples
ORDER BY dataset_type;

// name: lineage_pick_dataset
// One dataset of a type produced by a plan (the first by data ID), with its file and checksum.
MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES]->(d:Dataset {dataset_type: $dataset_type})
RETURN d.id AS id, d.data_id AS data_id, d.uri AS uri, d.checksum AS checksum, d.exists AS exists,
       q.task AS task, q.status AS status
ORDER BY d.data_id
LIMIT 1;
