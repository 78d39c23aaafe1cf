// Housekeeping.

// name: datasets_delete_orphans
// Deletes datasets that no quantum reads or writes, in runs starting with $run_prefix
// (pre-existing datasets left behind once every plan using them is deleted).
MATCH (d:Dataset)
WHERE d.run STARTS WITH $run_prefix AND NOT (d)--()
CALL (d) {
  DELETE d
} IN TRANSACTIONS OF 10000 ROWS;
