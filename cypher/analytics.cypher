// Runtime and resource analytics (`provgraph stats`) and footprint (`provgraph footprint`).
//
// Stats are over a plan's attempts (see docs/operations.md for the sample): those whose status
// is in $statuses (succeeded, and failed with --include-failed), of execution $execution_id or
// of every execution of the plan when it is null. A group is the list of values $by names, in
// order: 'task' is the attempt's task label, any other name the quantum's dimension property
// (null where its quantum has no such dimension; the caller counts those apart).

// name: stats_groups
// Per group: attempts, p50, p90 and max of duration_s and peak_rss_mb (percentileCont:
// linear interpolation), summed wall seconds, CPU seconds (cpu_time_s where recorded, else
// the wall time duration_s) and how many attempts recorded cpu_time_s.
MATCH (a:Attempt {plan_id: $plan_id})
WHERE a.status IN $statuses AND ($execution_id IS NULL OR a.execution_id = $execution_id)
  AND a.duration_s IS NOT NULL
MATCH (q:Quantum)-[:HAS_ATTEMPT]->(a)
WITH a, [d IN $by | CASE d WHEN 'task' THEN a.task ELSE q[d] END] AS key
RETURN key,
       count(a) AS attempts,
       percentileCont(a.duration_s, 0.5) AS duration_p50,
       percentileCont(a.duration_s, 0.9) AS duration_p90,
       max(a.duration_s) AS duration_max,
       percentileCont(a.peak_rss_mb, 0.5) AS memory_p50,
       percentileCont(a.peak_rss_mb, 0.9) AS memory_p90,
       max(a.peak_rss_mb) AS memory_max,
       sum(a.duration_s) AS wall_s,
       sum(coalesce(a.cpu_time_s, a.duration_s)) AS cpu_s,
       count(a.cpu_time_s) AS cpu_recorded
ORDER BY key;

// name: stats_slowest
// Per group, the $top slowest attempts: quantum id, data ID, attempt number, status, duration_s,
// peak_rss_mb and execution, slowest first.
MATCH (a:Attempt {plan_id: $plan_id})
WHERE a.status IN $statuses AND ($execution_id IS NULL OR a.execution_id = $execution_id)
  AND a.duration_s IS NOT NULL
MATCH (q:Quantum)-[:HAS_ATTEMPT]->(a)
WITH a, q, [d IN $by | CASE d WHEN 'task' THEN a.task ELSE q[d] END] AS key
ORDER BY a.duration_s DESC, a.id
WITH key, collect(a)[..$top] AS slowest
RETURN key, [a IN slowest | {
  quantum_id: a.quantum_id, task: a.task, data_id: a.data_id, number: a.number, status: a.status,
  duration_s: a.duration_s, peak_rss_mb: a.peak_rss_mb, execution_id: a.execution_id
}] AS slowest
ORDER BY key;

// name: stats_values
// Per group, every counted attempt's duration_s and peak_rss_mb (what `stats --plot` draws).
MATCH (a:Attempt {plan_id: $plan_id})
WHERE a.status IN $statuses AND ($execution_id IS NULL OR a.execution_id = $execution_id)
  AND a.duration_s IS NOT NULL
MATCH (q:Quantum)-[:HAS_ATTEMPT]->(a)
WITH a, [d IN $by | CASE d WHEN 'task' THEN a.task ELSE q[d] END] AS key
RETURN key, collect(a.duration_s) AS durations, collect(a.peak_rss_mb) AS memory
ORDER BY key;

// name: stats_execution
// An execution's plan and status, to compare against or to restrict stats to.
MATCH (e:Execution {id: $execution_id})
RETURN e.plan_id AS plan_id, e.status AS status, e.activator AS activator;

// name: footprint_outputs
// Per task and output dataset type of plan $plan_id: the datasets it plans to produce, and
// how many of them have a recorded size with their bytes (what a run of the plan wrote).
MATCH (q:Quantum {plan_id: $plan_id})-[:PRODUCES]->(d:Dataset)
RETURN q.task AS task, d.dataset_type AS dataset_type, count(d) AS datasets,
       count(d.size) AS recorded, sum(coalesce(d.size, 0)) AS recorded_bytes
ORDER BY task, dataset_type;

// name: footprint_samples
// For each dataset type of $dataset_types, the sizes recorded for datasets of that type that
// other plans ($plan_id excluded) produced: samples, mean, min and max bytes.
UNWIND $dataset_types AS dataset_type
MATCH (d:Dataset {dataset_type: dataset_type})
WHERE d.size IS NOT NULL AND d.plan_id IS NOT NULL AND d.plan_id <> $plan_id
RETURN dataset_type, count(d) AS samples, avg(d.size) AS mean, min(d.size) AS min, max(d.size) AS max
ORDER BY dataset_type;

// name: footprint_jobs
// The batch jobs of clustering $clustering_id: per job, the datasets its quanta produce by
// dataset type, and the jobs that depend on it (DEPENDS_ON children: its outputs' consumers).
MATCH (j:BatchJob {clustering_id: $clustering_id})
CALL (j) {
  OPTIONAL MATCH (j)-[:RUNS]->(:Quantum)-[:PRODUCES]->(d:Dataset)
  WITH d.dataset_type AS dataset_type, count(d) AS datasets
  WHERE dataset_type IS NOT NULL
  RETURN collect({dataset_type: dataset_type, datasets: datasets}) AS outputs
}
CALL (j) {
  OPTIONAL MATCH (child:BatchJob)-[:DEPENDS_ON]->(j)
  RETURN collect(child.name) AS children
}
RETURN j.name AS job, outputs, children
ORDER BY job;

// name: plan_executions
// The executions of plan $plan_id, oldest first, with who ran them and how they ended (what
// `stats` names and `plans executions` lists).
MATCH (e:Execution {plan_id: $plan_id})
RETURN e.id AS id, e.status AS status, e.activator AS activator, e.host AS host, e.user AS user,
       toString(e.started) AS started, toString(e.ended) AS ended, e.message AS message
ORDER BY e.started, e.id;

// name: plan_execution_attempts
// The attempts of plan $plan_id per execution and attempt status, counted in the index
// attempt_execution_status (v14) without reading the attempts.
MATCH (e:Execution {plan_id: $plan_id})
CALL (e) {
  MATCH (a:Attempt {execution_id: e.id})
  WHERE a.status IS NOT NULL
  RETURN a.status AS status, count(*) AS attempts
}
RETURN e.id AS execution_id, status, attempts;
