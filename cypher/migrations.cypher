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
