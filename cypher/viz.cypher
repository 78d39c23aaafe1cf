// Pictures: what `provgraph viz` draws. Roll-ups aggregate in the server, so a picture of a
// 10^5-quantum plan costs a scan, not a transfer, and stays readable: one node per task label
// and per dataset type.

// name: plan_rollup_flow
// A plan's task-level flow: for each (task, PRODUCES or CONSUMES, dataset type), how many
// relationships.
MATCH (q:Quantum {plan_id: $plan_id})-[r:PRODUCES|CONSUMES]->(d:Dataset)
RETURN q.task AS task, type(r) AS rel, d.dataset_type AS dataset_type, count(r) AS edges
ORDER BY task, rel, dataset_type;

// name: lineage_rollup_flow
// The task-level flow of a lineage: the same as plan_rollup_flow, over the given quanta and
// datasets only.
UNWIND $quantum_ids AS id
MATCH (q:Quantum {id: id})-[r:PRODUCES|CONSUMES]->(d:Dataset)
WHERE d.id IN $dataset_ids
RETURN q.task AS task, type(r) AS rel, d.dataset_type AS dataset_type, count(r) AS edges
ORDER BY task, rel, dataset_type;

// name: quantum_level_edges
// The relationships between the given quanta and datasets: [quantum id, rel, dataset id].
UNWIND $quantum_ids AS id
MATCH (q:Quantum {id: id})-[r:PRODUCES|CONSUMES]->(d:Dataset)
WHERE d.id IN $dataset_ids
RETURN q.id AS quantum, type(r) AS rel, d.id AS dataset;

// name: quanta_by_id
// Quanta with their task, data ID and status.
UNWIND $ids AS id
MATCH (q:Quantum {id: id})
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, coalesce(q.status, 'pending') AS status;

// name: plan_rollup_types
// Per dataset type a plan reads or writes: how many distinct datasets, how many exist.
MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES|CONSUMES]->(d:Dataset)
WITH DISTINCT d
RETURN d.dataset_type AS dataset_type, count(d) AS datasets,
       count(CASE WHEN d.exists THEN 1 END) AS existing
ORDER BY dataset_type;
