// Writing a plan, whole or not at all.
//
// A writer first claims the :Plan node (status 'writing', with its token, host and
// pid), then writes datasets, quanta and edges in batches, several at once. Every
// batch checks that the writer still holds the plan; a heartbeat thread refreshes the
// plan's heartbeat while the writer works. Queries that change the plan node's state take
// its lock first (SET p._lock ... REMOVE p._lock) so their token check reads the latest value. The last step sets
// status 'complete'; queries only ever see complete plans. A writer killed half-way
// leaves a 'writing' plan, which the next writer of the same plan takes over and
// replaces.

// name: dataset_types_merge
// Registers dataset types; returns the stored definitions so the caller can detect conflicts.
// A type is unique by its key: '<repository URI> <name>' for a Butler-backed plan's types, the
// name alone for the others (store.datasets.dataset_type_key).
UNWIND $rows AS r
MERGE (t:DatasetType {key: r.key})
  ON CREATE SET t.name = r.name, t.repository = r.repository, t.dimensions = r.dimensions,
                t.storage_class = r.storage_class
RETURN t.name AS name, t.dimensions AS dimensions, t.storage_class AS storage_class;

// name: plan_claim
// Creates the plan in state 'writing' for this writer, or returns the existing plan's state.
MERGE (p:Plan {id: $plan_id})
  ON CREATE SET p.status = 'writing', p.writer = $token, p.writer_host = $host,
                p.writer_pid = $pid, p.heartbeat = datetime(), p.started = datetime(),
                p.digest = $digest, p.attempts = 1
RETURN p.status AS status, p.digest AS digest, p.writer AS writer,
       p.writer_host AS writer_host, p.writer_pid AS writer_pid,
       duration.inSeconds(coalesce(p.heartbeat, datetime()), datetime()).seconds AS idle_seconds;

// name: plan_take_over
// Takes over a 'writing' plan from a writer known to be dead (compare-and-set on its token).
MATCH (p:Plan {id: $plan_id})
SET p._lock = true
REMOVE p._lock
WITH p
WHERE p.status = 'writing' AND p.writer = $previous
SET p.writer = $token, p.writer_host = $host, p.writer_pid = $pid, p.heartbeat = datetime(),
    p.started = datetime(), p.digest = $digest, p.attempts = coalesce(p.attempts, 1) + 1
RETURN p.id AS id;

// name: plan_reclaim_complete
// Puts the complete plan this writer saw ($seen_digest) back into state 'writing', to replace
// it; refused if it changed meanwhile or if another plan now reads what it produces.
MATCH (p:Plan {id: $plan_id})
SET p._lock = true
REMOVE p._lock
WITH p
WHERE p.status = 'complete' AND p.digest = $seen_digest
  AND NOT EXISTS {
    MATCH (:Dataset {plan_id: $plan_id})<-[:CONSUMES]-(reader:Quantum)
    WHERE reader.plan_id <> $plan_id
  }
SET p.status = 'writing', p.writer = $token, p.writer_host = $host, p.writer_pid = $pid,
    p.heartbeat = datetime(), p.started = datetime(), p.digest = $digest, p.attempts = 1
REMOVE p.completed, p.quantum_count, p.dataset_count, p.edge_count
RETURN p.id AS id;

// name: plan_find_conflicts
// Datasets this plan would produce that exist already outside it (pre-existing or another plan's).
UNWIND $dataset_ids AS dataset_id
MATCH (d:Dataset {id: dataset_id})
WHERE coalesce(d.plan_id, '') <> $plan_id
RETURN d.dataset_type AS dataset_type, d.data_id AS data_id, d.run AS run, d.plan_id AS plan_id
LIMIT 5;

// name: plan_find_quantum_conflicts
// Quanta of this plan that already belong to another plan (same run, task and data ID).
UNWIND $quantum_ids AS quantum_id
MATCH (q:Quantum {id: quantum_id})
WHERE q.plan_id <> $plan_id
RETURN q.task AS task, q.data_id AS data_id, q.plan_id AS plan_id
LIMIT 5;

// name: plan_heartbeat
// Shows that the writer is alive. The write batches do not lock the plan node's
// properties (only its relationship chain, for IN_PLAN), so they run in parallel.
MATCH (p:Plan {id: $plan_id})
SET p._lock = true
REMOVE p._lock
WITH p
WHERE p.writer = $token
SET p.heartbeat = datetime()
RETURN count(p) AS held;

// name: plan_set_header
// Writes the plan's header properties.
MATCH (p:Plan {id: $plan_id})
SET p._lock = true
REMOVE p._lock
WITH p
WHERE p.writer = $token
SET p += $props, p.heartbeat = datetime()
RETURN count(p) AS held;

// name: plan_write_notes
// Writes the plan's pre-flight notes: why data IDs were dropped, one node per reason.
MATCH (p:Plan {id: $plan_id})
WHERE p.writer = $token
WITH p
UNWIND $notes AS n
CREATE (p)-[:HAS_NOTE]->(:PlanNote {plan_id: $plan_id, task: n.task, kind: n.kind,
                                     connection: n.connection, dataset_type: n.dataset_type,
                                     upstream_task: n.upstream_task, message: n.message, data_ids: n.data_ids,
                                     data_id_count: size(n.data_ids)})
RETURN count(*) AS written;

// name: plan_write_inputs
// Writes one batch of the plan's input datasets (no producer in this plan); existing ones are
// kept, and gain the Butler id and existence this plan knows of them. Returns the inputs that another plan produces but has not completed: a plan may
// only read what exists or what a complete plan will produce.
MATCH (p:Plan {id: $plan_id})
WHERE p.writer = $token
WITH p
UNWIND $rows AS r
MERGE (d:Dataset {id: r.id})
  ON CREATE SET d.dataset_type = r.dataset_type, d.data_id = r.data_id,
                d.data_id_display = r.data_id_display, d.run = r.run, d.uri = r.uri,
                d.repository = r.repository, d.butler_id = r.butler_id, d.exists = r.exists,
                d += r.dims
  ON MATCH SET d.uri = coalesce(d.uri, r.uri), d.butler_id = coalesce(d.butler_id, r.butler_id),
               d.exists = coalesce(d.exists, r.exists)
WITH d
OPTIONAL MATCH (producer:Plan {id: d.plan_id})
WHERE producer.status <> 'complete'
RETURN count(d) AS written,
       collect(DISTINCT CASE WHEN producer IS NOT NULL THEN [d.dataset_type, d.data_id, producer.id] END)[..5]
         AS unfinished;

// name: plan_write_outputs
// Writes one batch of the datasets the plan produces; the unique id constraint refuses any
// that exist already, so a dataset never gets a second producer.
MATCH (p:Plan {id: $plan_id})
WHERE p.writer = $token
WITH p
UNWIND $rows AS r
CREATE (d:Dataset {id: r.id, dataset_type: r.dataset_type, data_id: r.data_id,
                   data_id_display: r.data_id_display, run: r.run, plan_id: $plan_id, uri: r.uri, repository: r.repository, butler_id: r.butler_id})
SET d += r.dims
RETURN count(d) AS written;

// name: plan_write_quanta
// Writes one batch of quanta with their plan membership and their CONSUMES and PRODUCES
// edges; every dataset was written before.
MATCH (p:Plan {id: $plan_id})
WHERE p.writer = $token
WITH p
UNWIND $rows AS r
CREATE (q:Quantum {id: r.id, task: r.task, data_id: r.data_id, data_id_display: r.data_id_display,
                   run: r.run, plan_id: $plan_id, repository: r.repository, butler_id: r.butler_id,
                   signature: r.signature})
SET q += r.dims
CREATE (q)-[:IN_PLAN]->(p)
WITH q, r
CALL (q, r) {
  UNWIND r.inputs AS input_id
  MATCH (d:Dataset {id: input_id})
  CREATE (q)-[:CONSUMES]->(d)
  RETURN count(d) AS consumed
}
CALL (q, r) {
  UNWIND r.outputs AS output_id
  MATCH (d:Dataset {id: output_id})
  CREATE (q)-[:PRODUCES]->(d)
  RETURN count(d) AS produced
}
RETURN count(q) AS written, sum(consumed) AS consumed, sum(produced) AS produced;

// name: plan_complete
// Makes the plan visible: status 'complete', with its content digest, its element counts, and
// its task summaries and status cells ($tasks and $cells: whole nodes' properties, see
// status_counts.cypher). A plan written in parts knows its digest only now.
// Under the plan's lock, it checks that this writer still holds the plan and that every
// quantum and produced dataset is there; otherwise nothing changes and `held` or the counts
// say why.
MATCH (p:Plan {id: $plan_id})
SET p._lock = true
REMOVE p._lock
WITH p
WHERE p.writer = $token
WITH p,
     COUNT { MATCH (q:Quantum {plan_id: $plan_id}) } AS quanta,
     COUNT { MATCH (d:Dataset {plan_id: $plan_id}) } AS produced
WITH p, quanta, produced, quanta = $quantum_count AND produced = $produced_count AS whole
FOREACH (_ IN CASE WHEN whole THEN [1] ELSE [] END |
  SET p.status = 'complete', p.completed = datetime(), p.digest = $digest,
      p.quantum_count = $quantum_count,
      p.dataset_count = $dataset_count, p.edge_count = $edge_count
  REMOVE p.writer, p.writer_host, p.writer_pid, p.heartbeat
)
FOREACH (t IN CASE WHEN whole THEN $tasks ELSE [] END | CREATE (s:TaskSummary) SET s = t)
FOREACH (c IN CASE WHEN whole THEN $cells ELSE [] END | CREATE (x:StatusCell) SET x = c)
RETURN count(p) AS held, quanta, produced, whole;

// name: plan_external_consumers
// Quanta of other plans that read datasets this plan produces (they block deleting it).
MATCH (d:Dataset {plan_id: $plan_id})<-[:CONSUMES]-(q:Quantum)
WHERE q.plan_id <> $plan_id
RETURN DISTINCT q.plan_id AS plan_id, count(*) AS edges
LIMIT 5;

// name: plan_delete_own_run_inputs
// Deletes the datasets a plan reads from its own output run without producing them, unless
// a quantum of another plan reads them too. Pre-flight never plans such an input (it reads
// from other runs), but a plan file or QuantumGraph may; the plan created the node, which
// would otherwise outlive the plan and block the plan that does produce that dataset.
// Run it before the plan's quanta are deleted: they are what links these datasets to it.
MATCH (p:Plan {id: $plan_id})
MATCH (q:Quantum {plan_id: $plan_id})-[:CONSUMES]->(d:Dataset)
WHERE d.plan_id IS NULL AND d.run = p.output_run
  AND NOT EXISTS { MATCH (d)<-[:CONSUMES]-(other:Quantum) WHERE other.plan_id <> $plan_id }
WITH DISTINCT d
DETACH DELETE d
RETURN count(*) AS deleted;

// name: plan_delete_quanta
// Deletes a plan's quanta and their edges, in batches (auto-commit only).
MATCH (q:Quantum {plan_id: $plan_id})
CALL (q) {
  DETACH DELETE q
} IN TRANSACTIONS OF 5000 ROWS;

// name: plan_delete_notes
// Deletes a plan's pre-flight notes.
MATCH (n:PlanNote {plan_id: $plan_id})
DETACH DELETE n;

// name: plan_delete_datasets
// Deletes the datasets a plan produced, unless another plan still reads them (auto-commit only).
MATCH (d:Dataset {plan_id: $plan_id})
CALL (d) {
  OPTIONAL MATCH (d)<-[:CONSUMES]-(reader:Quantum)
  WITH d, count(reader) AS readers
  FOREACH (_ IN CASE WHEN readers = 0 THEN [1] ELSE [] END | DELETE d)
  FOREACH (_ IN CASE WHEN readers > 0 THEN [1] ELSE [] END | REMOVE d.plan_id)
} IN TRANSACTIONS OF 10000 ROWS;

// name: plan_delete_node
// Deletes the :Plan node itself, once its quanta are gone, if $token (when given) still holds it.
MATCH (p:Plan {id: $plan_id})
SET p._lock = true
REMOVE p._lock
WITH p
WHERE $token IS NULL OR p.writer = $token
DETACH DELETE p
RETURN count(*) AS deleted;

// name: plan_has_content
// Whether quanta or produced datasets of this plan id exist (leftovers of a deleted plan node).
RETURN EXISTS { MATCH (:Quantum {plan_id: $plan_id}) } OR EXISTS { MATCH (:Dataset {plan_id: $plan_id}) }
  AS found;
