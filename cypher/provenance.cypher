// Provenance and planning questions, as traversals of (:Quantum)-[:PRODUCES|CONSUMES]->(:Dataset).
//
// Lineage and impact walk dataset -> quantum -> dataset with quantified path patterns under
// ANY SHORTEST: one path per reachable dataset, found breadth-first, so the cost grows with
// what is reached, not with the number of paths to it. A dataset's level is the number of
// quanta between it and the start (the start's level is 0). Depth limits count levels:
// $max_hops = 2 * depth relationships. Stop rules ("don't walk past") are the iteration's
// WHERE: a walk never continues from a dataset of a stop type or through a quantum of a stop
// task, but both are reported.
//
// A quantifier's bounds must be literals in Cypher 5, so a depth limit cannot bound the
// walk of lineage_upstream / lineage_downstream: they walk everything the stop rules allow
// and keep what lies within $max_hops. With a depth limit, `provgraph query` walks level
// by level instead (lineage_upstream_level / lineage_downstream_level, one query per level,
// in one read transaction), which touches only what it returns; both give the same answer.
//
// Answers come grouped by dataset type, one row per type, with compact lists:
//   datasets: [id, data_id, run, exists, level, producer id (upstream; else null)]
//   quanta:   [id, task, data_id, plan_id, status, level]  (a quantum's level is that of
//             the dataset through which it was reached, plus one; it may be listed under
//             several types: take its lowest level)
// A row per dataset would cost the client about twice as long to receive.
//
// Only quanta of complete plans are walked through or reported: a plan being written (or
// left half-written by a crash) is invisible until its final commit (docs/storage.md).

// name: lineage_upstream
// Upstream lineage: every dataset the start datasets were made from (within $max_hops
// relationships), with its level and its producer (when its level is under $max_levels and
// its type is not a stop type).
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (start:Dataset) WHERE start.id IN $dataset_ids
CALL (start, plans) {
    RETURN start AS d, 0 AS level
  UNION
    MATCH p = ANY SHORTEST (start) ((s:Dataset)<-[:PRODUCES]-(q:Quantum)-[:CONSUMES]->(:Dataset)
        WHERE NOT s.dataset_type IN $stop_types AND NOT q.task IN $stop_tasks
          AND q.plan_id IN plans){1,} (x:Dataset)
    WHERE length(p) <= $max_hops
    RETURN x AS d, length(p) / 2 AS level
}
WITH plans, d, min(level) AS level
OPTIONAL MATCH (d)<-[:PRODUCES]-(q:Quantum)
  WHERE level < $max_levels AND NOT d.dataset_type IN $stop_types AND q.plan_id IN plans
WITH d.dataset_type AS dataset_type,
     collect([d.id, d.data_id, d.run, d.exists, level, q.id]) AS datasets,
     collect(DISTINCT CASE WHEN q IS NOT NULL
       THEN [q.id, q.task, q.data_id, q.plan_id, coalesce(q.status, 'pending'), level + 1] END) AS quanta
RETURN dataset_type, size(datasets) AS reached, datasets, quanta
ORDER BY dataset_type;

// name: lineage_downstream
// Downstream impact: every dataset made, directly or not, from the start datasets (within
// $max_hops relationships), with its level and the quanta that read it (when its level is
// under $max_levels and its type is not a stop type).
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (start:Dataset) WHERE start.id IN $dataset_ids
CALL (start, plans) {
    RETURN start AS d, 0 AS level
  UNION
    MATCH p = ANY SHORTEST (start) ((s:Dataset)<-[:CONSUMES]-(q:Quantum)-[:PRODUCES]->(:Dataset)
        WHERE NOT s.dataset_type IN $stop_types AND NOT q.task IN $stop_tasks
          AND q.plan_id IN plans){1,} (x:Dataset)
    WHERE length(p) <= $max_hops
    RETURN x AS d, length(p) / 2 AS level
}
WITH plans, d, min(level) AS level
OPTIONAL MATCH (d)<-[:CONSUMES]-(q:Quantum)
  WHERE level < $max_levels AND NOT d.dataset_type IN $stop_types AND q.plan_id IN plans
WITH d.dataset_type AS dataset_type,
     collect(DISTINCT [d.id, d.data_id, d.run, d.exists, level, null]) AS datasets,
     collect(DISTINCT CASE WHEN q IS NOT NULL
       THEN [q.id, q.task, q.data_id, q.plan_id, coalesce(q.status, 'pending'), level + 1] END) AS quanta
RETURN dataset_type, size(datasets) AS reached, datasets, quanta
ORDER BY dataset_type;

// name: lineage_upstream_summary
// Upstream lineage in counts, computed in the server: per dataset type, how many datasets and
// the nearest level; per task and status, how many quanta. The same walk as lineage_upstream.
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (start:Dataset) WHERE start.id IN $dataset_ids
CALL (start, plans) {
    RETURN start AS d, 0 AS level
  UNION
    MATCH p = ANY SHORTEST (start) ((s:Dataset)<-[:PRODUCES]-(q:Quantum)-[:CONSUMES]->(:Dataset)
        WHERE NOT s.dataset_type IN $stop_types AND NOT q.task IN $stop_tasks
          AND q.plan_id IN plans){1,} (x:Dataset)
    WHERE length(p) <= $max_hops
    RETURN x AS d, length(p) / 2 AS level
}
WITH plans, d, min(level) AS level
OPTIONAL MATCH (d)<-[:PRODUCES]-(q:Quantum)
  WHERE level < $max_levels AND NOT d.dataset_type IN $stop_types AND q.plan_id IN plans
WITH d, level, collect(q) AS next
WITH collect({t: d.dataset_type, level: level}) AS datasets, collect(next) AS nexts
CALL (datasets, nexts) {
    UNWIND datasets AS x
    RETURN 'dataset' AS kind, x.t AS name, null AS status, count(*) AS n, min(x.level) AS nearest
  UNION ALL
    UNWIND nexts AS next
    UNWIND next AS q
    WITH DISTINCT q
    RETURN 'quantum' AS kind, q.task AS name, coalesce(q.status, 'pending') AS status, count(*) AS n,
           null AS nearest
}
RETURN kind, name, status, n, nearest
ORDER BY kind, name, status;

// name: lineage_downstream_summary
// Downstream impact in counts, computed in the server (see lineage_upstream_summary).
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (start:Dataset) WHERE start.id IN $dataset_ids
CALL (start, plans) {
    RETURN start AS d, 0 AS level
  UNION
    MATCH p = ANY SHORTEST (start) ((s:Dataset)<-[:CONSUMES]-(q:Quantum)-[:PRODUCES]->(:Dataset)
        WHERE NOT s.dataset_type IN $stop_types AND NOT q.task IN $stop_tasks
          AND q.plan_id IN plans){1,} (x:Dataset)
    WHERE length(p) <= $max_hops
    RETURN x AS d, length(p) / 2 AS level
}
WITH plans, d, min(level) AS level
OPTIONAL MATCH (d)<-[:CONSUMES]-(q:Quantum)
  WHERE level < $max_levels AND NOT d.dataset_type IN $stop_types AND q.plan_id IN plans
WITH d, level, collect(q) AS next
WITH collect({t: d.dataset_type, level: level}) AS datasets, collect(next) AS nexts
CALL (datasets, nexts) {
    UNWIND datasets AS x
    RETURN 'dataset' AS kind, x.t AS name, null AS status, count(*) AS n, min(x.level) AS nearest
  UNION ALL
    UNWIND nexts AS next
    UNWIND next AS q
    WITH DISTINCT q
    RETURN 'quantum' AS kind, q.task AS name, coalesce(q.status, 'pending') AS status, count(*) AS n,
           null AS nearest
}
RETURN kind, name, status, n, nearest
ORDER BY kind, name, status;

// name: lineage_start
// The start datasets of a level-by-level walk: [id, data_id, run, exists, level 0, null] by type.
MATCH (d:Dataset) WHERE d.id IN $dataset_ids
RETURN d.dataset_type AS dataset_type, collect([d.id, d.data_id, d.run, d.exists, 0, null]) AS datasets;

// name: lineage_upstream_level
// One level of an upstream walk: the producers of the $frontier datasets (`via`: which of
// them each made) and, unless a producer is of a stop task, its inputs (`next`:
// [id, dataset_type, data_id, run, exists]).
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
UNWIND $frontier AS id
MATCH (:Dataset {id: id})<-[:PRODUCES]-(q:Quantum) WHERE q.plan_id IN plans
WITH q, collect(id) AS via
OPTIONAL MATCH (q)-[:CONSUMES]->(d:Dataset) WHERE NOT q.task IN $stop_tasks
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.plan_id AS plan_id,
       coalesce(q.status, 'pending') AS status, via,
       collect(CASE WHEN d IS NOT NULL THEN [d.id, d.dataset_type, d.data_id, d.run, d.exists] END) AS next;

// name: lineage_downstream_level
// One level of a downstream walk: the quanta that read the $frontier datasets and, unless a
// reader is of a stop task, its outputs (`next`: [id, dataset_type, data_id, run, exists]).
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
UNWIND $frontier AS id
MATCH (:Dataset {id: id})<-[:CONSUMES]-(q:Quantum) WHERE q.plan_id IN plans
WITH q, collect(id) AS via
OPTIONAL MATCH (q)-[:PRODUCES]->(d:Dataset) WHERE NOT q.task IN $stop_tasks
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.plan_id AS plan_id,
       coalesce(q.status, 'pending') AS status, via,
       collect(CASE WHEN d IS NOT NULL THEN [d.id, d.dataset_type, d.data_id, d.run, d.exists] END) AS next;

// name: quantum_io
// A quantum's inputs and outputs (the start of a quantum's lineage or impact).
MATCH (q:Quantum {id: $quantum_id})
OPTIONAL MATCH (q)-[:CONSUMES]->(i:Dataset)
WITH q, collect(i.id) AS inputs
OPTIONAL MATCH (q)-[:PRODUCES]->(o:Dataset)
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.plan_id AS plan_id,
       coalesce(q.status, 'pending') AS status, inputs, collect(o.id) AS outputs;

// name: quantum_parents
// The quanta a quantum depends on: the producers of its inputs. No rows: no such quantum;
// one row of nulls: it has no parents.
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (q:Quantum {id: $quantum_id})
OPTIONAL MATCH (q)-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(p:Quantum) WHERE p.plan_id IN plans
RETURN DISTINCT p.id AS id, p.task AS task, p.data_id AS data_id, p.plan_id AS plan_id,
       coalesce(p.status, 'pending') AS status
ORDER BY task, data_id;

// name: quantum_children
// The quanta that depend on a quantum: the consumers of its outputs. No rows: no such
// quantum; one row of nulls: it has no children.
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (q:Quantum {id: $quantum_id})
OPTIONAL MATCH (q)-[:PRODUCES]->(:Dataset)<-[:CONSUMES]-(c:Quantum) WHERE c.plan_id IN plans
RETURN DISTINCT c.id AS id, c.task AS task, c.data_id AS data_id, c.plan_id AS plan_id,
       coalesce(c.status, 'pending') AS status
ORDER BY task, data_id;

// name: quantum_deps
// A quantum's parents and children in one answer, each [id, task, data_id, plan_id, status],
// ordered by task and data ID; quanta of incomplete plans are left out. No rows: no such quantum.
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
MATCH (q:Quantum {id: $quantum_id})
RETURN COLLECT {
         MATCH (q)-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(p:Quantum) WHERE p.plan_id IN plans
         WITH DISTINCT p ORDER BY p.task, p.data_id
         RETURN [p.id, p.task, p.data_id, p.plan_id, coalesce(p.status, 'pending')]
       } AS parents,
       COLLECT {
         MATCH (q)-[:PRODUCES]->(:Dataset)<-[:CONSUMES]-(c:Quantum) WHERE c.plan_id IN plans
         WITH DISTINCT c ORDER BY c.task, c.data_id
         RETURN [c.id, c.task, c.data_id, c.plan_id, coalesce(c.status, 'pending')]
       } AS children;

// name: plan_overview_inputs
// A plan's initial inputs (datasets it reads that it does not produce), per dataset type.
MATCH (q:Quantum {plan_id: $plan_id})-[:CONSUMES]->(d:Dataset)
WHERE coalesce(d.plan_id, '') <> $plan_id
WITH DISTINCT d
RETURN d.dataset_type AS dataset_type, count(d) AS datasets, count(d.exists) AS existing;

// name: plan_overview_outputs
// A plan's final outputs (datasets it produces that none of its quanta reads), per dataset
// type, with how many exist. (The reader has no label: see plan_io_counts.)
MATCH (d:Dataset {plan_id: $plan_id})
WHERE NOT EXISTS { MATCH (d)<-[:CONSUMES]-(reader) WHERE reader.plan_id = $plan_id }
RETURN d.dataset_type AS dataset_type, count(d) AS datasets,
       count(CASE WHEN d.exists THEN 1 END) AS existing;

// name: dataset_find
// Datasets by type and data ID (canonical JSON), optionally in one run, newest plans first.
MATCH (d:Dataset {dataset_type: $dataset_type, data_id: $data_id})
WHERE $run IS NULL OR d.run = $run
RETURN d.id AS id, d.run AS run, d.plan_id AS plan_id, d.exists AS exists
ORDER BY d.run;

// name: plan_pick_dataset
// One dataset of a type that a plan produces (the first by data ID), with its file and checksum.
MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES]->(d:Dataset {dataset_type: $dataset_type})
RETURN d.id AS id, d.data_id AS data_id, d.uri AS uri, d.checksum AS checksum, d.exists AS exists,
       q.task AS task, q.status AS status
ORDER BY d.data_id
LIMIT 1;

// name: dataset_facts
// What is known of datasets: file, size, checksum, existence.
UNWIND $ids AS id
MATCH (d:Dataset {id: id})
RETURN d.id AS id, d.uri AS uri, d.size AS size, d.checksum AS checksum, d.exists AS exists;

// name: plan_diff_task
// How the quanta of task $task differ from plan $old to plan $new, matched by data ID: those
// only in $new ('added'), only in $old ('removed'), and those in both whose inputs or outputs
// differ ('changed'), with what only the old one has (`gone`) and only the new one (`came`) as
// "in: type data_id" / "out: type data_id" strings (dataset ids differ between runs, these do
// not). Per task, so that the server's grouping stays one task's size; only differences travel.
// A pair whose signatures (schema v15, store/signatures.py) are equal reads and writes the same:
// only pairs with different signatures, or without them (older plans), expand their edges.
CALL () {
    MATCH (q:Quantum {plan_id: $old, task: $task})
    RETURN q, 0 AS side
  UNION ALL
    MATCH (q:Quantum {plan_id: $new, task: $task})
    RETURN q, 1 AS side
}
WITH q.data_id AS data_id, collect({side: side, q: q}) AS found
WITH data_id, [x IN found WHERE x.side = 0 | x.q][0] AS a, [x IN found WHERE x.side = 1 | x.q][0] AS b
CALL (a, b) {
    WITH a, b
    WHERE a IS NOT NULL AND b IS NOT NULL
      AND (a.signature IS NULL OR b.signature IS NULL OR a.signature <> b.signature)
    OPTIONAL MATCH (a)-[:CONSUMES]->(i:Dataset)
    WITH a, b, collect('in: ' + i.dataset_type + ' ' + i.data_id) AS old_in
    OPTIONAL MATCH (a)-[:PRODUCES]->(o:Dataset)
    WITH b, old_in, collect('out: ' + o.dataset_type + ' ' + o.data_id) AS old_out
    OPTIONAL MATCH (b)-[:CONSUMES]->(i:Dataset)
    WITH b, old_in + old_out AS old_sig, collect('in: ' + i.dataset_type + ' ' + i.data_id) AS new_in
    OPTIONAL MATCH (b)-[:PRODUCES]->(o:Dataset)
    WITH old_sig, new_in, collect('out: ' + o.dataset_type + ' ' + o.data_id) AS new_out
    WITH old_sig, new_in + new_out AS new_sig
    RETURN [x IN old_sig WHERE NOT x IN new_sig] AS gone, [x IN new_sig WHERE NOT x IN old_sig] AS came
  UNION
    WITH a, b WHERE a IS NULL OR b IS NULL OR a.signature = b.signature
    RETURN [] AS gone, [] AS came
}
WITH data_id, a, b, gone, came WHERE a IS NULL OR b IS NULL OR size(gone) > 0 OR size(came) > 0
RETURN data_id, CASE WHEN a IS NULL THEN 'added' WHEN b IS NULL THEN 'removed' ELSE 'changed' END AS kind,
       gone, came;

// name: plan_missing_outputs
// Planned vs actual: datasets a plan predicted that do not exist, per task, producer status
// and dataset type.
MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES]->(d:Dataset)
WHERE d.exists IS NULL OR NOT d.exists
RETURN q.task AS task, coalesce(q.status, 'pending') AS status, d.dataset_type AS dataset_type,
       count(d) AS datasets
ORDER BY task, status, dataset_type;

// name: data_id_history
// Every quantum, in any complete plan, whose data ID has all of the given dimension values,
// with its plan, status and attempts (oldest first). The quanta are found through the index of
// the most selective dimension given (exposure, visit, patch, detector, tract, band, in that
// order); without any of these, by scanning every complete plan's quanta.
WITH [k IN ['exposure', 'visit', 'patch', 'detector', 'tract', 'band'] WHERE $values[k] IS NOT NULL][0] AS key
CALL (key) {
    UNWIND CASE WHEN key IS NULL THEN [1] ELSE [] END AS scan  // no indexed dimension: every quantum
    MATCH (p:Plan {status: 'complete'})
    MATCH (q:Quantum {plan_id: p.id})
    RETURN q
  UNION
    UNWIND CASE key WHEN 'exposure' THEN [$values.exposure] ELSE [] END AS v
    MATCH (q:Quantum {exposure: v}) RETURN q
  UNION
    UNWIND CASE key WHEN 'visit' THEN [$values.visit] ELSE [] END AS v
    MATCH (q:Quantum {visit: v}) RETURN q
  UNION
    UNWIND CASE key WHEN 'patch' THEN [$values.patch] ELSE [] END AS v
    MATCH (q:Quantum {patch: v}) RETURN q
  UNION
    UNWIND CASE key WHEN 'detector' THEN [$values.detector] ELSE [] END AS v
    MATCH (q:Quantum {detector: v}) RETURN q
  UNION
    UNWIND CASE key WHEN 'tract' THEN [$values.tract] ELSE [] END AS v
    MATCH (q:Quantum {tract: v}) RETURN q
  UNION
    UNWIND CASE key WHEN 'band' THEN [$values.band] ELSE [] END AS v
    MATCH (q:Quantum {band: v}) RETURN q
}
WITH q WHERE all(k IN keys($values) WHERE q[k] = $values[k])
MATCH (p:Plan {id: q.plan_id, status: 'complete'})
OPTIONAL MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt)
WITH p, q, a ORDER BY a.number
RETURN p.id AS plan_id, p.created AS created, q.run AS run, q.task AS task, q.data_id AS data_id,
       q.id AS quantum_id, coalesce(q.status, 'pending') AS status,
       [x IN collect(a) | {number: x.number, status: x.status, started: toString(x.started),
                           duration_s: x.duration_s, execution_id: x.execution_id}] AS attempts
ORDER BY created, task, data_id;

// name: plan_quanta_at
// Quanta of a complete plan at some dimension values ($values, a map): those whose data ID
// shares at least one of the dimensions and agrees on every one it shares. Per task and status,
// how many, with up to three of their data IDs (canonical JSON, sorted). $tasks: task labels,
// or null for all.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
CALL (p) {
    UNWIND CASE WHEN $tasks IS NULL THEN [p.id] ELSE [] END AS plan_id  // all tasks
    MATCH (q:Quantum {plan_id: plan_id})
    RETURN q
  UNION
    UNWIND $tasks AS task
    MATCH (q:Quantum {plan_id: p.id, task: task})
    RETURN q
}
WITH q
WHERE any(k IN keys($values) WHERE q[k] IS NOT NULL)
  AND all(k IN keys($values) WHERE q[k] IS NULL OR q[k] = $values[k])
WITH q.task AS task, coalesce(q.status, 'pending') AS status, q.data_id AS data_id
ORDER BY data_id
RETURN task, status, count(*) AS quanta, collect(data_id)[..3] AS data_ids
ORDER BY task, status;

// name: plan_task_examples
// One quantum data ID (canonical JSON) of each of the given tasks of a plan, to tell which
// dimensions its quanta have; a task without quanta gives no row.
UNWIND $tasks AS task
CALL (task) {
  MATCH (q:Quantum {plan_id: $plan_id, task: task})
  RETURN q.data_id AS data_id
  LIMIT 1
}
RETURN task, data_id;

// name: butler_ids
// The Butler UUIDs of the given datasets and quanta that have one (those of plans imported from
// a QuantumGraph): [[id, butler_id], ...] of each.
CALL () {
  UNWIND $dataset_ids AS id
  MATCH (d:Dataset {id: id}) WHERE d.butler_id IS NOT NULL
  RETURN collect([d.id, d.butler_id]) AS datasets
}
CALL () {
  UNWIND $quantum_ids AS id
  MATCH (q:Quantum {id: id}) WHERE q.butler_id IS NOT NULL
  RETURN collect([q.id, q.butler_id]) AS quanta
}
RETURN datasets, quanta;

// name: dataset_by_butler_id
// The dataset a Butler dataset UUID names (imported plans keep it as butler_id).
MATCH (d:Dataset {butler_id: $butler_id})
RETURN d.id AS id;

// name: ids_starting_with
// Ids of datasets and quanta that start with $prefix, at most $limit of each kind ('dataset'
// or 'quantum'), for suggesting what a shortened or mistyped id meant. Prefix seeks on the
// unique-id indexes: cheap however large the graph.
CALL () {
    MATCH (d:Dataset) WHERE d.id STARTS WITH $prefix
    RETURN 'dataset' AS kind, d.id AS id LIMIT $limit
  UNION ALL
    MATCH (q:Quantum) WHERE q.id STARTS WITH $prefix
    RETURN 'quantum' AS kind, q.id AS id LIMIT $limit
}
RETURN kind, id
ORDER BY kind, id;

// name: dataset_exists
// Whether a dataset of this id is in the graph.
RETURN EXISTS { MATCH (:Dataset {id: $dataset_id}) } AS found;
