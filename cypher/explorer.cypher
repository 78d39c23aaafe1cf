// What the explorer page of `provgraph serve` shows that no other question asks: datasets and
// quanta found by type (or task) and some dimension values, and a node's neighbours one level
// away, counted per group or listed. (Its status bars and heat map read status_counts.cypher.)
//
// Nodes are matched by `plan_id` properties and node ids only (never by IN_PLAN), and give
// their data ID as `data_id_display` plus the context dimensions it leaves out (instrument,
// skymap): `store.explorer` reads the human form back into a data ID.

// name: explorer_search_datasets
// Datasets of one type whose data ID has every given dimension value ($values, a map), in one
// run or all ($run null), ordered by run and data ID: at most $limit of them.
MATCH (n:Dataset {dataset_type: $dataset_type})
WHERE all(k IN keys($values) WHERE n[k] = $values[k]) AND ($run IS NULL OR n.run = $run)
RETURN n.id AS id, n.dataset_type AS name, n.data_id_display AS data_id_display,
       n.instrument AS instrument, n.skymap AS skymap, n.run AS run, n.plan_id AS plan_id,
       CASE WHEN n.exists THEN 'exists' ELSE 'unknown' END AS status
ORDER BY run, data_id_display, id
LIMIT $limit;

// name: explorer_search_quanta
// Quanta of one task label in complete plans (or in plan $plan_id) whose data ID has every
// given dimension value ($values, a map), ordered by plan and data ID: at most $limit of them.
MATCH (n:Quantum {task: $task})
WHERE ($plan_id IS NULL OR n.plan_id = $plan_id) AND all(k IN keys($values) WHERE n[k] = $values[k])
  AND EXISTS { MATCH (:Plan {id: n.plan_id, status: 'complete'}) }
RETURN n.id AS id, n.task AS name, n.data_id_display AS data_id_display,
       n.instrument AS instrument, n.skymap AS skymap, n.run AS run, n.plan_id AS plan_id,
       coalesce(n.status, 'pending') AS status
ORDER BY plan_id, data_id_display, id
LIMIT $limit;

// name: explorer_node
// The dataset or quantum of id $id, as the explorer shows a node; no rows: neither exists.
CALL () {
    MATCH (n:Dataset {id: $id})
    RETURN n, 'dataset' AS kind, n.dataset_type AS name,
           CASE WHEN n.exists THEN 'exists' ELSE 'unknown' END AS status
  UNION ALL
    MATCH (n:Quantum {id: $id})
    RETURN n, 'quantum' AS kind, n.task AS name, coalesce(n.status, 'pending') AS status
}
RETURN n.id AS id, kind, name, n.data_id_display AS data_id_display, n.instrument AS instrument,
       n.skymap AS skymap, n.run AS run, n.plan_id AS plan_id, status;

// name: explorer_neighbours
// The nodes one level from node $id, by the relationship $rel (PRODUCES or CONSUMES; it points
// from a quantum to a dataset): a quantum's datasets, or a dataset's quanta in complete plans.
// With $count_only, one row per (kind, name, status) with how many; else the members of group
// $group (a task label or dataset type; null: every group), by name and data ID, $offset
// first skipped and at most $limit.
CALL () {
    MATCH (:Quantum {id: $id})-[r:PRODUCES|CONSUMES]->(n:Dataset)
    WHERE type(r) = $rel
    RETURN n, 'dataset' AS kind, n.dataset_type AS name,
           CASE WHEN n.exists THEN 'exists' ELSE 'unknown' END AS status
  UNION ALL
    MATCH (n:Quantum)-[r:PRODUCES|CONSUMES]->(:Dataset {id: $id})
    WHERE type(r) = $rel AND EXISTS { MATCH (:Plan {id: n.plan_id, status: 'complete'}) }
    RETURN n, 'quantum' AS kind, n.task AS name, coalesce(n.status, 'pending') AS status
}
WITH n, kind, name, status
WHERE $count_only OR $group IS NULL OR name = $group
WITH CASE WHEN $count_only THEN null ELSE n END AS n, kind, name, status, count(*) AS k
ORDER BY name, n.data_id_display, n.id
SKIP CASE WHEN $count_only THEN 0 ELSE $offset END
LIMIT CASE WHEN $count_only THEN 1000000 ELSE $limit END
RETURN n.id AS id, kind, name, n.data_id_display AS data_id_display, n.instrument AS instrument,
       n.skymap AS skymap, n.run AS run, n.plan_id AS plan_id, status, k AS count;
