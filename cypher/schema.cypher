// Graph schema: constraints, indexes and the schema version node.
// provenance_graph.store.schema runs every query of this file, in order, on connect
// when the database has no (or an older) schema version. All are idempotent.

// name: schema_plan_id
// Every plan has a unique id.
CREATE CONSTRAINT plan_id IF NOT EXISTS FOR (p:Plan) REQUIRE p.id IS UNIQUE;

// name: schema_quantum_id
// Every quantum has a unique, stable id (UUID5 of run, task label and data ID).
CREATE CONSTRAINT quantum_id IF NOT EXISTS FOR (q:Quantum) REQUIRE q.id IS UNIQUE;

// name: schema_dataset_id
// Every dataset has a unique, stable id (UUID5 of run, dataset type and data ID).
CREATE CONSTRAINT dataset_id IF NOT EXISTS FOR (d:Dataset) REQUIRE d.id IS UNIQUE;

// name: schema_dataset_type_name
// A dataset type name has one definition.
CREATE CONSTRAINT dataset_type_name IF NOT EXISTS FOR (t:DatasetType) REQUIRE t.name IS UNIQUE;

// name: schema_schema_version_name
CREATE CONSTRAINT schema_version_name IF NOT EXISTS FOR (s:SchemaVersion) REQUIRE s.name IS UNIQUE;

// name: schema_note_plan
// Pre-flight notes are found by their plan (since schema version 2).
CREATE INDEX note_plan IF NOT EXISTS FOR (n:PlanNote) ON (n.plan_id);

// name: schema_execution_id
// Every execution of a plan has a unique id (since schema version 3).
CREATE CONSTRAINT execution_id IF NOT EXISTS FOR (e:Execution) REQUIRE e.id IS UNIQUE;

// name: schema_attempt_id
// An attempt's id is its quantum's id and its number: a quantum never has two attempts 3.
CREATE CONSTRAINT attempt_id IF NOT EXISTS FOR (a:Attempt) REQUIRE a.id IS UNIQUE;

// name: schema_attempt_plan
CREATE INDEX attempt_plan IF NOT EXISTS FOR (a:Attempt) ON (a.plan_id);

// name: schema_execution_plan
CREATE INDEX execution_plan IF NOT EXISTS FOR (e:Execution) ON (e.plan_id);

// name: schema_quantum_status
// Quanta are found by execution status: failed, running, ... (since schema version 3).
CREATE INDEX quantum_status IF NOT EXISTS FOR (q:Quantum) ON (q.status);

// name: schema_quantum_plan
CREATE INDEX quantum_plan IF NOT EXISTS FOR (q:Quantum) ON (q.plan_id);

// name: schema_quantum_task
CREATE INDEX quantum_task IF NOT EXISTS FOR (q:Quantum) ON (q.task);

// name: schema_quantum_plan_task
// A plan's quanta of some tasks (subgraph pulls), without scanning the whole plan (since v4).
CREATE INDEX quantum_plan_task IF NOT EXISTS FOR (q:Quantum) ON (q.plan_id, q.task);

// name: schema_dataset_type
CREATE INDEX dataset_type IF NOT EXISTS FOR (d:Dataset) ON (d.dataset_type);

// name: schema_dataset_plan
CREATE INDEX dataset_plan IF NOT EXISTS FOR (d:Dataset) ON (d.plan_id);

// name: schema_dataset_run
CREATE INDEX dataset_run IF NOT EXISTS FOR (d:Dataset) ON (d.run);

// name: schema_plan_status
CREATE INDEX plan_status IF NOT EXISTS FOR (p:Plan) ON (p.status);

// name: schema_dataset_instrument
// Data-ID dimensions that queries filter on, for datasets ...
CREATE INDEX dataset_instrument IF NOT EXISTS FOR (d:Dataset) ON (d.instrument);

// name: schema_dataset_visit
CREATE INDEX dataset_visit IF NOT EXISTS FOR (d:Dataset) ON (d.visit);

// name: schema_dataset_exposure
CREATE INDEX dataset_exposure IF NOT EXISTS FOR (d:Dataset) ON (d.exposure);

// name: schema_dataset_detector
CREATE INDEX dataset_detector IF NOT EXISTS FOR (d:Dataset) ON (d.detector);

// name: schema_dataset_tract
CREATE INDEX dataset_tract IF NOT EXISTS FOR (d:Dataset) ON (d.tract);

// name: schema_dataset_patch
CREATE INDEX dataset_patch IF NOT EXISTS FOR (d:Dataset) ON (d.patch);

// name: schema_dataset_band
CREATE INDEX dataset_band IF NOT EXISTS FOR (d:Dataset) ON (d.band);

// name: schema_quantum_visit
// ... and for quanta.
CREATE INDEX quantum_visit IF NOT EXISTS FOR (q:Quantum) ON (q.visit);

// name: schema_quantum_exposure
CREATE INDEX quantum_exposure IF NOT EXISTS FOR (q:Quantum) ON (q.exposure);

// name: schema_quantum_detector
CREATE INDEX quantum_detector IF NOT EXISTS FOR (q:Quantum) ON (q.detector);

// name: schema_quantum_tract
CREATE INDEX quantum_tract IF NOT EXISTS FOR (q:Quantum) ON (q.tract);

// name: schema_quantum_patch
CREATE INDEX quantum_patch IF NOT EXISTS FOR (q:Quantum) ON (q.patch);

// name: schema_quantum_band
CREATE INDEX quantum_band IF NOT EXISTS FOR (q:Quantum) ON (q.band);

// name: schema_quantum_status_labels
// Since v5 a quantum's status is mirrored by a label (:Running, :Succeeded, :Failed, :Blocked,
// :Skipped; none while pending), for Neo4j Browser's colours. Labels the quanta of an older
// database once, on upgrade.
MATCH (q:Quantum) WHERE q.status IN ['running', 'succeeded', 'failed', 'blocked', 'skipped']
CALL (q) {
  FOREACH (_ IN CASE q.status WHEN 'running' THEN [1] ELSE [] END | SET q:Running)
  FOREACH (_ IN CASE q.status WHEN 'succeeded' THEN [1] ELSE [] END | SET q:Succeeded)
  FOREACH (_ IN CASE q.status WHEN 'failed' THEN [1] ELSE [] END | SET q:Failed)
  FOREACH (_ IN CASE q.status WHEN 'blocked' THEN [1] ELSE [] END | SET q:Blocked)
  FOREACH (_ IN CASE q.status WHEN 'skipped' THEN [1] ELSE [] END | SET q:Skipped)
} IN TRANSACTIONS OF 10000 ROWS;

// name: schema_clustering_id
// A clustering of a plan: id '<plan id>/<clustering name>' (since schema version 6).
CREATE CONSTRAINT clustering_id IF NOT EXISTS FOR (c:Clustering) REQUIRE c.id IS UNIQUE;

// name: schema_batch_job_id
// A batch job: id '<plan id>/<clustering name>/<job name>' (since schema version 6).
CREATE CONSTRAINT batch_job_id IF NOT EXISTS FOR (j:BatchJob) REQUIRE j.id IS UNIQUE;

// name: schema_clustering_plan
CREATE INDEX clustering_plan IF NOT EXISTS FOR (c:Clustering) ON (c.plan_id);

// name: schema_batch_job_clustering
// A clustering's jobs, without going through its (dense) :Clustering node.
CREATE INDEX batch_job_clustering IF NOT EXISTS FOR (j:BatchJob) ON (j.clustering_id);
