// Migration steps of the graph schema, by version (provenance_graph.store.migrations).
// Step N runs its queries, in the order its module lists them, to bring a database of
// version N-1 to version N; a new database runs every step from 1. Every query is safe to
// rerun after a crash: rules are created IF NOT EXISTS, and rewrites touch only nodes not
// yet migrated, in batches (CALL ... IN TRANSACTIONS). Query names say their version:
// migrate_v<N>_<what>.

// name: migrate_v1_plan_id
// Every plan has a unique id.
CREATE CONSTRAINT plan_id IF NOT EXISTS FOR (p:Plan) REQUIRE p.id IS UNIQUE;

// name: migrate_v1_quantum_id
// Every quantum has a unique, stable id (UUID5 of run, task label and data ID).
CREATE CONSTRAINT quantum_id IF NOT EXISTS FOR (q:Quantum) REQUIRE q.id IS UNIQUE;

// name: migrate_v1_dataset_id
// Every dataset has a unique, stable id (UUID5 of run, dataset type and data ID).
CREATE CONSTRAINT dataset_id IF NOT EXISTS FOR (d:Dataset) REQUIRE d.id IS UNIQUE;

// name: migrate_v1_dataset_type_name
// A dataset type name has one definition.
CREATE CONSTRAINT dataset_type_name IF NOT EXISTS FOR (t:DatasetType) REQUIRE t.name IS UNIQUE;

// name: migrate_v1_schema_version_name
// One :SchemaVersion node per name.
CREATE CONSTRAINT schema_version_name IF NOT EXISTS FOR (s:SchemaVersion) REQUIRE s.name IS UNIQUE;

// name: migrate_v1_plan_status
// Complete plans (and interrupted writes) without scanning every plan.
CREATE INDEX plan_status IF NOT EXISTS FOR (p:Plan) ON (p.status);

// name: migrate_v1_quantum_plan
CREATE INDEX quantum_plan IF NOT EXISTS FOR (q:Quantum) ON (q.plan_id);

// name: migrate_v1_quantum_task
CREATE INDEX quantum_task IF NOT EXISTS FOR (q:Quantum) ON (q.task);

// name: migrate_v1_dataset_type
CREATE INDEX dataset_type IF NOT EXISTS FOR (d:Dataset) ON (d.dataset_type);

// name: migrate_v1_dataset_plan
CREATE INDEX dataset_plan IF NOT EXISTS FOR (d:Dataset) ON (d.plan_id);

// name: migrate_v1_dataset_run
CREATE INDEX dataset_run IF NOT EXISTS FOR (d:Dataset) ON (d.run);

// name: migrate_v1_dataset_instrument
// Data-ID dimensions that queries filter on, for datasets ...
CREATE INDEX dataset_instrument IF NOT EXISTS FOR (d:Dataset) ON (d.instrument);

// name: migrate_v1_dataset_visit
CREATE INDEX dataset_visit IF NOT EXISTS FOR (d:Dataset) ON (d.visit);

// name: migrate_v1_dataset_exposure
CREATE INDEX dataset_exposure IF NOT EXISTS FOR (d:Dataset) ON (d.exposure);

// name: migrate_v1_dataset_detector
CREATE INDEX dataset_detector IF NOT EXISTS FOR (d:Dataset) ON (d.detector);

// name: migrate_v1_dataset_tract
CREATE INDEX dataset_tract IF NOT EXISTS FOR (d:Dataset) ON (d.tract);

// name: migrate_v1_dataset_patch
CREATE INDEX dataset_patch IF NOT EXISTS FOR (d:Dataset) ON (d.patch);

// name: migrate_v1_dataset_band
CREATE INDEX dataset_band IF NOT EXISTS FOR (d:Dataset) ON (d.band);

// name: migrate_v1_quantum_visit
// ... and for quanta.
CREATE INDEX quantum_visit IF NOT EXISTS FOR (q:Quantum) ON (q.visit);

// name: migrate_v1_quantum_exposure
CREATE INDEX quantum_exposure IF NOT EXISTS FOR (q:Quantum) ON (q.exposure);

// name: migrate_v1_quantum_detector
CREATE INDEX quantum_detector IF NOT EXISTS FOR (q:Quantum) ON (q.detector);

// name: migrate_v1_quantum_tract
CREATE INDEX quantum_tract IF NOT EXISTS FOR (q:Quantum) ON (q.tract);

// name: migrate_v1_quantum_patch
CREATE INDEX quantum_patch IF NOT EXISTS FOR (q:Quantum) ON (q.patch);

// name: migrate_v1_quantum_band
CREATE INDEX quantum_band IF NOT EXISTS FOR (q:Quantum) ON (q.band);

// name: migrate_v2_note_plan
// Pre-flight notes are found by their plan.
CREATE INDEX note_plan IF NOT EXISTS FOR (n:PlanNote) ON (n.plan_id);

// name: migrate_v3_execution_id
// Every execution of a plan has a unique id.
CREATE CONSTRAINT execution_id IF NOT EXISTS FOR (e:Execution) REQUIRE e.id IS UNIQUE;

// name: migrate_v3_attempt_id
// An attempt's id is its quantum's id and its number: a quantum never has two attempts 3.
CREATE CONSTRAINT attempt_id IF NOT EXISTS FOR (a:Attempt) REQUIRE a.id IS UNIQUE;

// name: migrate_v3_attempt_plan
CREATE INDEX attempt_plan IF NOT EXISTS FOR (a:Attempt) ON (a.plan_id);

// name: migrate_v3_execution_plan
CREATE INDEX execution_plan IF NOT EXISTS FOR (e:Execution) ON (e.plan_id);

// name: migrate_v3_quantum_status
// Quanta are found by execution status: failed, running, ...
CREATE INDEX quantum_status IF NOT EXISTS FOR (q:Quantum) ON (q.status);

// name: migrate_v4_quantum_plan_task
// A plan's quanta of some tasks (subgraph pulls), without scanning the whole plan.
CREATE INDEX quantum_plan_task IF NOT EXISTS FOR (q:Quantum) ON (q.plan_id, q.task);

// name: migrate_v5_status_labels
// Labels each quantum that has a status but not yet its label (:Running, :Succeeded, :Failed,
// :Blocked, :Skipped; none while pending), $batch_size quanta a transaction. Quanta labelled
// already (by an earlier, interrupted run of this step, or by a run since) are not touched.
MATCH (q:Quantum)
WHERE q.status IN ['running', 'succeeded', 'failed', 'blocked', 'skipped']
  AND NOT (q:Running OR q:Succeeded OR q:Failed OR q:Blocked OR q:Skipped)
CALL (q) {
  FOREACH (_ IN CASE q.status WHEN 'running' THEN [1] ELSE [] END | SET q:Running)
  FOREACH (_ IN CASE q.status WHEN 'succeeded' THEN [1] ELSE [] END | SET q:Succeeded)
  FOREACH (_ IN CASE q.status WHEN 'failed' THEN [1] ELSE [] END | SET q:Failed)
  FOREACH (_ IN CASE q.status WHEN 'blocked' THEN [1] ELSE [] END | SET q:Blocked)
  FOREACH (_ IN CASE q.status WHEN 'skipped' THEN [1] ELSE [] END | SET q:Skipped)
} IN TRANSACTIONS OF $batch_size ROWS
RETURN count(q) AS quanta_labelled;

// name: migrate_v6_clustering_id
// A clustering of a plan: id '<plan id>/<clustering name>'.
CREATE CONSTRAINT clustering_id IF NOT EXISTS FOR (c:Clustering) REQUIRE c.id IS UNIQUE;

// name: migrate_v6_batch_job_id
// A batch job: id '<plan id>/<clustering name>/<job name>'.
CREATE CONSTRAINT batch_job_id IF NOT EXISTS FOR (j:BatchJob) REQUIRE j.id IS UNIQUE;

// name: migrate_v6_clustering_plan
CREATE INDEX clustering_plan IF NOT EXISTS FOR (c:Clustering) ON (c.plan_id);

// name: migrate_v6_batch_job_clustering
// A clustering's jobs, without going through its (dense) :Clustering node.
CREATE INDEX batch_job_clustering IF NOT EXISTS FOR (j:BatchJob) ON (j.clustering_id);

// name: migrate_v7_dataset_type_keys
// Gives each dataset type without a key its name as key ($batch_size types a transaction): every
// type stored before version 7 belongs to no Butler repository. Keyed types are not touched.
MATCH (t:DatasetType)
WHERE t.key IS NULL
CALL (t) {
  SET t.key = t.name
} IN TRANSACTIONS OF $batch_size ROWS
RETURN count(t) AS dataset_types_keyed;

// name: migrate_v7_dataset_type_key
// A dataset type has one definition per scope: key '<repository URI> <name>' for the types of a
// Butler-backed plan, the name alone for the others.
CREATE CONSTRAINT dataset_type_key IF NOT EXISTS FOR (t:DatasetType) REQUIRE t.key IS UNIQUE;

// name: migrate_v7_drop_dataset_type_name
// Names are no longer unique: two Butler repositories may define one name differently. Replaced
// by dataset_type_key.
DROP CONSTRAINT dataset_type_name IF EXISTS;

// name: migrate_v7_plan_repository
// Plans by the repository they came from (its canonical file:// URI).
CREATE INDEX plan_repository IF NOT EXISTS FOR (p:Plan) ON (p.repository);

// name: migrate_v7_quantum_butler_id
// Quanta by their UUID in the QuantumGraph they were imported from.
CREATE INDEX quantum_butler_id IF NOT EXISTS FOR (q:Quantum) ON (q.butler_id);

// name: migrate_v7_dataset_butler_id
// Datasets by their UUID in their Butler repository.
CREATE INDEX dataset_butler_id IF NOT EXISTS FOR (d:Dataset) ON (d.butler_id);

// name: migrate_v7_plan_repositories
// Gives each plan without a repository the file:// URI of its 'repository' metadata (our own plans
// record their repository's resolved path there), $batch_size plans a transaction. Only paths that
// need no escaping in a URI (letters, digits, '_.-~/') are converted here; the others stay without
// one (reading such a plan derives the URI from its metadata). Imported plans recorded no repository
// before version 7 and stay without one.
MATCH (p:Plan)
WHERE p.repository IS NULL AND p.metadata_json CONTAINS '"repository": "/'
WITH p, split(split(p.metadata_json, '"repository": "')[1], '"')[0] AS root
WHERE root =~ '/[A-Za-z0-9._~/-]*'
  AND NOT (root + '/') CONTAINS '/./' AND NOT (root + '/') CONTAINS '/../' AND NOT root CONTAINS '//'
CALL (p, root) {
  SET p.repository = 'file://' + CASE WHEN root ENDS WITH '/' THEN root ELSE root + '/' END
} IN TRANSACTIONS OF $batch_size ROWS
RETURN count(p) AS plans_given_repository;

// name: migrate_v8_note_plan_task
// Pre-flight notes by plan and task: `provgraph query why` and `plans notes --task` read one task's.
CREATE INDEX note_plan_task IF NOT EXISTS FOR (n:PlanNote) ON (n.plan_id, n.task);

// name: migrate_v9_data_id_display
// Gives each quantum and dataset without one its data ID's human form, `data_id_display`, for
// captions: `visit=2 detector=1`, instrument and skymap left out unless they are all it has (the
// v9 rule of provenance_graph.model.DataId.display, which tests/integration/test_migrations.py
// checks this against). Values are read from `data_id` (canonical JSON, keys sorted): its keys
// are the node's properties that appear there as `"key":`, which a JSON string value cannot hold
// unescaped; a value's JSON text runs to the next key. $batch_size nodes a transaction.
CALL () {
    MATCH (n:Quantum) WHERE n.data_id IS NOT NULL AND n.data_id_display IS NULL RETURN n
  UNION
    MATCH (n:Dataset) WHERE n.data_id IS NOT NULL AND n.data_id_display IS NULL RETURN n
}
CALL (n) {
  CALL (n) {
    UNWIND keys(n) AS k
    WITH k WHERE n.data_id CONTAINS '"' + k + '":'
    ORDER BY k
    RETURN collect(k) AS dims
  }
  WITH n, dims, ['instrument', 'skymap', 'tract', 'patch', 'band', 'exposure', 'visit', 'detector'] AS order
  WITH n, dims, [d IN order WHERE d IN dims] + [d IN dims WHERE NOT d IN order] AS shown,
       [i IN range(0, size(dims) - 1) |
         [dims[i], CASE WHEN i = size(dims) - 1
                        THEN left(split(n.data_id, '"' + dims[i] + '":')[1],
                                  size(split(n.data_id, '"' + dims[i] + '":')[1]) - 1)
                        ELSE split(split(n.data_id, '"' + dims[i] + '":')[1], ',"' + dims[i + 1] + '":')[0]
                   END]] AS texts
  WITH n, texts, CASE WHEN all(d IN shown WHERE d IN ['instrument', 'skymap']) THEN shown
                      ELSE [d IN shown WHERE NOT d IN ['instrument', 'skymap']] END AS shown
  WITH n, [d IN shown |
            d + '=' + CASE WHEN n[d] IS :: STRING AND n[d] =~ '[A-Za-z0-9_.+/:@-]+' AND NOT n[d] =~ '-?[0-9]+'
                           THEN n[d] ELSE [t IN texts WHERE t[0] = d][0][1] END] AS pairs
  SET n.data_id_display = CASE WHEN size(pairs) = 0 THEN '{}'
                               ELSE reduce(s = head(pairs), p IN tail(pairs) | s + ' ' + p) END
} IN TRANSACTIONS OF $batch_size ROWS
RETURN count(n) AS nodes_given_data_id_display;

// name: migrate_v10_attempt_record_id
// Attempts by the id of the journal record (or batch job answer) they were recorded from.
CREATE INDEX attempt_record_id IF NOT EXISTS FOR (a:Attempt) ON (a.record_id);

// name: migrate_v11_attempt_plan_status
// A plan's attempts by status: its failed and lost ones without reading the rest.
CREATE INDEX attempt_plan_status IF NOT EXISTS FOR (a:Attempt) ON (a.plan_id, a.status);

// name: migrate_v12_dataset_execution
// Datasets by the execution that made them: an execution's outputs without reading its plan.
CREATE INDEX dataset_execution IF NOT EXISTS FOR (d:Dataset) ON (d.execution_id);

// name: migrate_v14_task_summary_plan
// A plan's task summaries, and one task's.
CREATE INDEX task_summary_plan IF NOT EXISTS FOR (s:TaskSummary) ON (s.plan_id, s.task);

// name: migrate_v14_status_cell_plan
// A plan's status cells of one dimension (the heat map), and the one cell a status change moves.
CREATE INDEX status_cell_plan IF NOT EXISTS FOR (x:StatusCell) ON (x.plan_id, x.dimension, x.task, x.value);

// name: migrate_v14_attempt_execution_status
// An execution's attempts per status, counted in the index alone (the dashboard's executions).
CREATE INDEX attempt_execution_status IF NOT EXISTS FOR (a:Attempt) ON (a.execution_id, a.status);

// name: migrate_v14_status_counts
// Counts the quanta of each complete plan that has no task summary yet, one plan a transaction,
// under the plan's lock (a concurrent client counting the same plan waits, then finds it done):
// per task, its quanta by status, the dataset types they read and write and the smallest data
// ID; per task, dimension (a property whose `"name":` the canonical JSON data ID holds, as in
// v9) and value, the quanta by status. What plan_complete writes for a plan from v14 on.
MATCH (p:Plan {status: 'complete'})
WHERE NOT EXISTS { MATCH (:TaskSummary {plan_id: p.id}) }
CALL (p) {
  SET p._lock = true
  REMOVE p._lock
  WITH p
  WHERE NOT EXISTS { MATCH (:TaskSummary {plan_id: p.id}) }
  CALL (p) {
    MATCH (q:Quantum {plan_id: p.id})
    WITH q.task AS task, coalesce(q.status, 'pending') AS status, count(*) AS n, min(q.data_id) AS example
    WITH task, collect([status, n]) AS counts, sum(n) AS quanta, min(example) AS example
    CALL (p, task) {
      OPTIONAL MATCH (:Quantum {plan_id: p.id, task: task})-[r:CONSUMES|PRODUCES]->(d:Dataset)
      WITH DISTINCT type(r) AS rel, d.dataset_type AS type
      ORDER BY type
      RETURN [x IN collect([rel, type]) WHERE x[0] = 'CONSUMES' | x[1]] AS reads,
             [x IN collect([rel, type]) WHERE x[0] = 'PRODUCES' | x[1]] AS writes
    }
    MERGE (s:TaskSummary {plan_id: p.id, task: task})
    SET s.reads = reads, s.writes = writes, s.example = example, s.quanta = quanta,
        s.pending = coalesce([c IN counts WHERE c[0] = 'pending'][0][1], 0),
        s.running = coalesce([c IN counts WHERE c[0] = 'running'][0][1], 0),
        s.succeeded = coalesce([c IN counts WHERE c[0] = 'succeeded'][0][1], 0),
        s.failed = coalesce([c IN counts WHERE c[0] = 'failed'][0][1], 0),
        s.blocked = coalesce([c IN counts WHERE c[0] = 'blocked'][0][1], 0),
        s.skipped = coalesce([c IN counts WHERE c[0] = 'skipped'][0][1], 0)
  }
  CALL (p) {
    MATCH (q:Quantum {plan_id: p.id})
    UNWIND [k IN keys(q) WHERE q.data_id CONTAINS '"' + k + '":'] AS dimension
    WITH q.task AS task, dimension, q[dimension] AS value, coalesce(q.status, 'pending') AS status,
         count(*) AS n
    WITH task, dimension, value, collect([status, n]) AS counts
    MERGE (x:StatusCell {plan_id: p.id, task: task, dimension: dimension, value: value})
    SET x.pending = coalesce([c IN counts WHERE c[0] = 'pending'][0][1], 0),
        x.running = coalesce([c IN counts WHERE c[0] = 'running'][0][1], 0),
        x.succeeded = coalesce([c IN counts WHERE c[0] = 'succeeded'][0][1], 0),
        x.failed = coalesce([c IN counts WHERE c[0] = 'failed'][0][1], 0),
        x.blocked = coalesce([c IN counts WHERE c[0] = 'blocked'][0][1], 0),
        x.skipped = coalesce([c IN counts WHERE c[0] = 'skipped'][0][1], 0)
  }
} IN TRANSACTIONS OF 1 ROWS
RETURN count(p) AS plans_counted;
