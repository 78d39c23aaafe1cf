// Batch jobs: clusterings of a plan's quanta, the job DAG, and the blast radius of a failure.
// provenance_graph.store.clustering runs these. A clustering is written whole or not at all,
// like a plan: its :Clustering node is 'writing' until its last transaction, and every read
// here sees complete clusterings of complete plans only.

// name: clustering_plan_state
// The plan a clustering is made from: its status, digest and pipeline (for its task labels).
MATCH (p:Plan {id: $plan_id})
RETURN p.status AS status, p.digest AS digest, p.pipeline AS pipeline;

// name: clustering_quanta
// What clustering needs of each quantum of a plan.
MATCH (q:Quantum {plan_id: $plan_id})
RETURN q.id AS id, q.task AS task, q.data_id AS data_id;

// name: clustering_quantum_edges
// Quantum dependencies inside a plan: the child reads what the parent writes.
MATCH (c:Quantum {plan_id: $plan_id})-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(p:Quantum {plan_id: $plan_id})
RETURN DISTINCT p.id AS parent, c.id AS child;

// name: clustering_claim
// Claims a clustering of a complete plan for this writer (state 'writing', with its lease:
// token, host, pid, heartbeat), or reports what is there: a complete clustering, or another
// writer's lease. No row: the plan is not complete.
MATCH (p:Plan {id: $plan_id, status: 'complete'})
MERGE (c:Clustering {id: $clustering_id})
  ON CREATE SET c.plan_id = $plan_id, c.name = $clustering_name, c.status = 'writing', c.writer = $token,
                c.writer_host = $host, c.writer_pid = $pid, c.heartbeat = datetime(),
                c.digest = $digest, c.started = datetime(), c.attempts = 1
MERGE (c)-[:CLUSTERS]->(p)
RETURN c.status AS status, c.digest AS digest, c.writer AS writer, c.writer_host AS writer_host,
       c.writer_pid AS writer_pid,
       duration.inSeconds(coalesce(c.heartbeat, datetime({epochMillis: 0})), datetime()).seconds
         AS idle_seconds;

// name: clustering_take_over
// Takes a clustering over from the writer seen (one that died, or a complete clustering being
// replaced): a compare-and-set under the clustering's lock.
MATCH (c:Clustering {id: $clustering_id})
SET c._lock = true
REMOVE c._lock
WITH c
WHERE coalesce(c.writer, '') = $seen_writer AND c.status = $seen_status
SET c.writer = $token, c.writer_host = $host, c.writer_pid = $pid, c.heartbeat = datetime(),
    c.status = 'writing', c.digest = $digest, c.started = datetime(),
    c.attempts = coalesce(c.attempts, 0) + 1
REMOVE c.completed, c.job_count, c.quantum_count, c.edge_count
RETURN count(c) AS taken;

// name: clustering_delete_jobs
// Deletes a clustering's batch jobs and their RUNS and DEPENDS_ON edges, in batches (auto-commit only).
MATCH (j:BatchJob {clustering_id: $clustering_id})
CALL (j) {
  DETACH DELETE j
} IN TRANSACTIONS OF 1000 ROWS;

// name: clustering_heartbeat
// Shows that the clustering's writer is alive; no row counted: it lost the clustering.
MATCH (c:Clustering {id: $clustering_id})
SET c._lock = true
REMOVE c._lock
WITH c
WHERE c.writer = $token AND c.status = 'writing'
SET c.heartbeat = datetime()
RETURN count(c) AS held;

// name: clustering_write_jobs
// Creates batch jobs, each with RUNS edges to its quanta (position: run order), while $token
// holds the clustering. Returns how many RUNS edges it made; a quantum not in the plan makes none.
MATCH (c:Clustering {id: $clustering_id})
SET c._lock = true
REMOVE c._lock
WITH c
WHERE c.writer = $token
UNWIND $jobs AS job
CREATE (j:BatchJob {
  id: job.id, name: job.name, plan_id: c.plan_id, clustering: c.name, clustering_id: c.id,
  label: job.label, rule: job.rule, data_id: job.data_id, dimensions: job.dimensions,
  tasks: job.tasks, quantum_count: size(job.quanta)
})
WITH j, job
UNWIND range(0, size(job.quanta) - 1) AS i
MATCH (q:Quantum {id: job.quanta[i]})
WHERE q.plan_id = j.plan_id
CREATE (j)-[:RUNS {position: i}]->(q)
RETURN count(*) AS runs;

// name: clustering_write_edges
// Creates job dependencies, (child)-[:DEPENDS_ON]->(parent), while $token holds the clustering.
MATCH (c:Clustering {id: $clustering_id})
SET c._lock = true
REMOVE c._lock
WITH c
WHERE c.writer = $token
UNWIND $edges AS e
MATCH (parent:BatchJob {id: e.parent})
MATCH (child:BatchJob {id: e.child})
CREATE (child)-[:DEPENDS_ON {quantum_edges: e.quantum_edges}]->(parent)
RETURN count(*) AS edges;

// name: clustering_complete
// Marks a clustering complete if $token holds it, its plan is unchanged, and every job and
// dependency is in the graph. No row: one of these does not hold.
MATCH (c:Clustering {id: $clustering_id})
SET c._lock = true
REMOVE c._lock
WITH c
WHERE c.writer = $token
MATCH (p:Plan {id: c.plan_id, status: 'complete'})
WHERE p.digest = $plan_digest
CALL (c) {
  MATCH (j:BatchJob {clustering_id: c.id})
  RETURN count(j) AS jobs, sum(j.quantum_count) AS quanta
}
CALL (c) {
  MATCH (:BatchJob {clustering_id: c.id})-[d:DEPENDS_ON]->()
  RETURN count(d) AS edges
}
WITH c, jobs, quanta, edges
WHERE jobs = $jobs AND quanta = $quanta AND edges = $edges
SET c.status = 'complete', c.completed = datetime(), c.plan_digest = $plan_digest, c.rules = $rules,
    c.job_count = jobs, c.quantum_count = quanta, c.edge_count = edges,
    c.critical_path = $critical_path, c.schema_version = $schema_version
RETURN c.status AS status;

// name: clustering_delete_node
// Deletes a clustering's node once its jobs are gone, if $token (when given) still holds it.
MATCH (c:Clustering {id: $clustering_id})
SET c._lock = true
REMOVE c._lock
WITH c
WHERE $token IS NULL OR c.writer = $token
DETACH DELETE c
RETURN count(*) AS deleted;

// name: clustering_header
// A clustering's node, with the status and digest of its plan now.
MATCH (c:Clustering {id: $clustering_id})
OPTIONAL MATCH (p:Plan {id: c.plan_id})
RETURN c {.*} AS clustering, p.status AS plan_status, p.digest AS plan_digest;

// name: clustering_list
// The clusterings of a plan, complete or not.
MATCH (c:Clustering {plan_id: $plan_id})
RETURN c.name AS name, c.status AS status, c.job_count AS jobs, c.quantum_count AS quanta,
       c.edge_count AS edges, c.critical_path AS critical_path, c.completed AS completed
ORDER BY name;

// name: clustering_jobs
// The batch jobs of a clustering, each with its quanta in run order.
MATCH (j:BatchJob {clustering_id: $clustering_id})
CALL (j) {
  MATCH (j)-[r:RUNS]->(q:Quantum)
  WITH q, r
  ORDER BY r.position
  RETURN collect(q.id) AS quanta
}
RETURN j.name AS name, j.label AS label, j.rule AS rule, j.data_id AS data_id, j.tasks AS tasks, quanta;

// name: clustering_job_edges
// The job DAG of a clustering: parent and child job names, and how many quantum dependencies each carries.
MATCH (child:BatchJob {clustering_id: $clustering_id})-[d:DEPENDS_ON]->(parent:BatchJob)
RETURN parent.name AS parent, child.name AS child, d.quantum_edges AS quantum_edges;

// name: clustering_job_quanta
// One batch job's quanta in run order (what `provgraph run-job` would run).
MATCH (j:BatchJob {id: $job_id})-[r:RUNS]->(q:Quantum)
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, q.status AS status
ORDER BY r.position;

// name: clustering_job_statuses
// Each batch job of a clustering with its quanta counted by status (`provgraph status`).
MATCH (j:BatchJob {clustering_id: $clustering_id})-[:RUNS]->(q:Quantum)
RETURN j.name AS job, j.label AS label, coalesce(q.status, 'pending') AS status, count(*) AS quanta
ORDER BY job, status;

// name: blast_radius
// If quantum $quantum_id fails: its batch job, every job downstream of that one in the job DAG,
// and the quanta they lose, in a complete clustering of the plan as it is now: every quantum of
// the downstream jobs, and the failing one's own job from it on (those before it in the job
// ran, and succeeded, before it failed), as a run blocks them.
MATCH (c:Clustering {id: $clustering_id, status: 'complete'})
MATCH (p:Plan {id: c.plan_id, status: 'complete'})
WHERE p.digest = c.plan_digest
MATCH (:Quantum {id: $quantum_id})<-[at:RUNS]-(home:BatchJob {clustering_id: c.id})
MATCH (home)<-[:DEPENDS_ON*0..]-(j:BatchJob)
WITH DISTINCT home, at, j
MATCH (j)-[r:RUNS]->(q:Quantum)
WHERE j <> home OR r.position >= at.position
RETURN j.name AS job, j.label AS label, j = home AS failed_job, q.id AS quantum, q.task AS task,
       q.data_id AS data_id, r.position AS position
ORDER BY failed_job DESC, job, position;

// name: blast_radius_parents
// The producers of what each of these quanta reads: the walk from a failed quantum to the
// quanta downstream of it, among those its failure loses.
UNWIND $quantum_ids AS id
MATCH (c:Quantum {id: id})-[:CONSUMES]->(:Dataset)<-[:PRODUCES]-(p:Quantum)
RETURN DISTINCT p.id AS parent, c.id AS child;

// name: clustering_find_quantum
// A plan's quantum of a task at a data ID (canonical JSON).
MATCH (q:Quantum {plan_id: $plan_id, task: $task})
WHERE q.data_id = $data_id
RETURN q.id AS id;
