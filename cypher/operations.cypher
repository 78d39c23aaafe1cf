// Operations questions (docs/operations.md): triage of a plan's failures and the root cause
// of bad outputs. Both rank upstream nodes by how well they separate two sets of lineages:
// for a node, margin = k_bad * good_total - k_good * bad_total, which orders nodes as
// score = k_bad / bad_total - k_good / good_total does (taken as k_bad / bad_total when
// there is nothing good to compare with), in exact integers. Ties go to the node nearest
// to the outputs (fewest relationships), then by kind, name, data ID and id.

// name: triage_execution
// The plan an execution ran (no row: no such execution).
MATCH (e:Execution {id: $execution_id})
RETURN e.plan_id AS plan_id, e.status AS status;

// name: triage_failures
// A plan's failures (of task $task, or of all tasks when null), each with the error of its last
// failed attempt: without $execution_id the quanta that are failed now; with it, the quanta
// whose last attempt in that execution failed.
MATCH (a:Attempt {plan_id: $plan_id, status: 'failed'})
WHERE ($execution_id IS NULL OR a.execution_id = $execution_id) AND ($task IS NULL OR a.task = $task)
MATCH (q:Quantum)-[:HAS_ATTEMPT]->(a)
WITH q, max(a.number) AS number
WHERE CASE WHEN $execution_id IS NULL THEN q.status = 'failed'
      ELSE NOT EXISTS {
        MATCH (q)-[:HAS_ATTEMPT]->(later:Attempt {execution_id: $execution_id}) WHERE later.number > number
      } END
MATCH (q)-[:HAS_ATTEMPT]->(a:Attempt {number: number})
RETURN q.id AS id, q.task AS task, q.data_id AS data_id, a.number AS attempt, a.error AS error,
       a.execution_id AS execution_id
ORDER BY task, data_id;

// name: triage_blocked
// A plan's blocked quanta, per failed quantum that blocked them (blocked_by): how many per task,
// as [task, quanta] pairs (one row a failure: a million-quantum plan blocks hundreds of
// thousands of quanta, which are counted here and never sent).
MATCH (q:Quantum:Blocked {plan_id: $plan_id})
WITH q.blocked_by AS blocked_by, q.task AS task, count(*) AS quanta
RETURN blocked_by, collect([task, quanta]) AS tasks;

// name: triage_causes
// Likely common causes of one group of failures ($failed: quantum ids, all of task $task): the
// upstream datasets and quanta of the failed quanta (their inputs and everything these were
// made from), ranked by how much more often they are upstream of the failures than of the
// plan's successful quanta (succeeded or skipped) of the same task, at most $sample of them
// (the first by id: ids are hashes, so a repeatable sample). Nodes upstream of no failure, or
// as often of the successes, are left out. $limit: at most that many.
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
CALL () {
    UNWIND $failed AS id
    MATCH (q:Quantum {id: id})
    RETURN q, true AS bad
  UNION
    MATCH (q:Quantum {plan_id: $plan_id, task: $task})
    WHERE q.status IN ['succeeded', 'skipped']
    WITH q ORDER BY q.id LIMIT $sample
    RETURN q, false AS bad
}
WITH plans, collect([q, bad]) AS compared
WITH plans, compared, size([c IN compared WHERE c[1]]) AS bad_total,
     size([c IN compared WHERE NOT c[1]]) AS good_total
UNWIND compared AS c
WITH plans, bad_total, good_total, c[0] AS q, c[1] AS bad
MATCH (q)-[:CONSUMES]->(input:Dataset)
// Each input is walked once, however many of the compared quanta read it.
WITH plans, bad_total, good_total, input, collect([q.id, bad]) AS readers
CALL (input, plans) {
    RETURN input AS d, 0 AS level
  UNION
    MATCH p = ANY SHORTEST (input) ((:Dataset)<-[:PRODUCES]-(u:Quantum)-[:CONSUMES]->(:Dataset)
        WHERE u.plan_id IN plans){1,} (x:Dataset)
    RETURN x AS d, length(p) / 2 AS level
}
WITH plans, bad_total, good_total, readers, d, 1 + 2 * min(level) AS hops
CALL (d, hops, plans) {
    RETURN d AS node, hops AS node_hops
  UNION
    MATCH (d)<-[:PRODUCES]-(u:Quantum) WHERE u.plan_id IN plans
    RETURN u AS node, hops + 1 AS node_hops
}
UNWIND readers AS r
WITH bad_total, good_total, r[0] AS q, r[1] AS bad, node, min(node_hops) AS hops
WITH bad_total, good_total, node, count(CASE WHEN bad THEN 1 END) AS k_bad,
     count(CASE WHEN NOT bad THEN 1 END) AS k_good, min(CASE WHEN bad THEN hops END) AS hops
WHERE k_bad > 0
WITH bad_total, good_total, node, k_bad, k_good, hops,
     CASE good_total WHEN 0 THEN k_bad ELSE k_bad * good_total - k_good * bad_total END AS margin
WHERE margin > 0
WITH node, k_bad, k_good, bad_total, good_total, hops, margin,
     CASE WHEN node:Quantum THEN 'quantum' ELSE 'dataset' END AS kind
RETURN kind, node.id AS id, coalesce(node.task, node.dataset_type) AS name, node.data_id AS data_id,
       CASE kind WHEN 'quantum' THEN coalesce(node.status, 'pending') END AS status,
       k_bad, bad_total, k_good, good_total, hops
ORDER BY margin DESC, hops, kind, name, data_id, id
LIMIT $limit;

// name: suspects_default_good
// What bad outputs are compared with when no good ones are given: the other existing datasets
// of the same dataset types made by the same plans (for a pre-existing dataset: in the same run).
UNWIND $bad AS id
MATCH (b:Dataset {id: id})
WITH collect(DISTINCT {t: b.dataset_type, plan: b.plan_id, run: b.run}) AS kinds
UNWIND kinds AS k
CALL (k) {
    MATCH (d:Dataset {dataset_type: k.t, plan_id: k.plan})
    RETURN d
  UNION
    MATCH (d:Dataset {dataset_type: k.t, run: k.run})
    WHERE k.plan IS NULL AND d.plan_id IS NULL
    RETURN d
}
WITH DISTINCT d
WHERE d.exists = true AND NOT d.id IN $bad
RETURN d.id AS id
ORDER BY d.data_id, id;

// name: suspects_missing
// Which of the given dataset ids no dataset has (checked in one round trip).
UNWIND $ids AS id
OPTIONAL MATCH (d:Dataset {id: id})
WITH id, d WHERE d IS NULL
RETURN id;

// name: suspects_outputs_at
// A plan's datasets of one type whose data ID has all the given dimension values ($values, a map).
MATCH (d:Dataset {plan_id: $plan_id, dataset_type: $dataset_type})
WHERE all(k IN keys($values) WHERE d[k] = $values[k])
RETURN d.id AS id
ORDER BY d.data_id;

// name: suspects_scores
// Suspects for bad outputs: the upstream datasets and quanta of the $bad datasets (everything
// they were made from, themselves excluded), ranked by how much more often they are upstream of
// the bad outputs than of the $good ones. Nodes upstream of no bad output, or as often of the
// good ones, are left out. $limit: at most that many.
MATCH (plan:Plan {status: 'complete'})
WITH collect(plan.id) AS plans
UNWIND [id IN $bad | [id, true]] + [id IN $good | [id, false]] AS out
// An output's lineage: the quantum that made it (1 away), that quantum's inputs (2 away) and
// all they were made from; each input is walked once, however many of the outputs it is under.
MATCH (:Dataset {id: out[0]})<-[:PRODUCES]-(maker:Quantum) WHERE maker.plan_id IN plans
WITH plans, size($bad) AS bad_total, size($good) AS good_total, collect([maker, out]) AS made
CALL (plans, made) {
    UNWIND made AS m
    RETURN m[1] AS out, m[0] AS node, 1 AS hops
  UNION
    UNWIND made AS m
    WITH m[0] AS maker, m[1] AS out
    MATCH (maker)-[:CONSUMES]->(input:Dataset)
    WITH input, collect(out) AS readers
    CALL (input, plans) {
        RETURN input AS d, 0 AS level
      UNION
        MATCH p = ANY SHORTEST (input) ((:Dataset)<-[:PRODUCES]-(u:Quantum)-[:CONSUMES]->(:Dataset)
            WHERE u.plan_id IN plans){1,} (x:Dataset)
        RETURN x AS d, length(p) / 2 AS level
    }
    WITH readers, d, 2 + 2 * min(level) AS hops
    CALL (d, hops, plans) {
        RETURN d AS node, hops AS node_hops
      UNION
        MATCH (d)<-[:PRODUCES]-(u:Quantum) WHERE u.plan_id IN plans
        RETURN u AS node, hops + 1 AS node_hops
    }
    UNWIND readers AS out
    RETURN out, node, node_hops AS hops
}
WITH bad_total, good_total, out, out[1] AS bad, node, min(hops) AS hops
WITH bad_total, good_total, node, count(CASE WHEN bad THEN 1 END) AS k_bad,
     count(CASE WHEN NOT bad THEN 1 END) AS k_good, min(CASE WHEN bad THEN hops END) AS hops
WHERE k_bad > 0
WITH bad_total, good_total, node, k_bad, k_good, hops,
     CASE good_total WHEN 0 THEN k_bad ELSE k_bad * good_total - k_good * bad_total END AS margin
WHERE margin > 0
WITH node, k_bad, k_good, bad_total, good_total, hops, margin,
     CASE WHEN node:Quantum THEN 'quantum' ELSE 'dataset' END AS kind
RETURN kind, node.id AS id, coalesce(node.task, node.dataset_type) AS name, node.data_id AS data_id,
       CASE kind WHEN 'quantum' THEN coalesce(node.status, 'pending') END AS status,
       k_bad, bad_total, k_good, good_total, hops
ORDER BY margin DESC, hops, kind, name, data_id, id
LIMIT $limit;
