// The version of the graph schema, kept in one :SchemaVersion node.

// name: schema_version_get
// The schema version the database holds, if any.
MATCH (s:SchemaVersion {name: 'provenance-graph'})
RETURN s.version AS version;

// name: schema_version_set
// Records the schema version after the schema queries have run.
MERGE (s:SchemaVersion {name: 'provenance-graph'})
SET s.version = $version, s.updated = datetime(), s.writer = $writer
RETURN s.version AS version;

// name: schema_await_indexes
// Waits until every index is online.
CALL db.awaitIndexes($timeout_seconds);
