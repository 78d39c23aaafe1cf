// The version of the graph schema, kept in one :SchemaVersion node.

// name: schema_version_get
// The schema version the database holds, if any.
MATCH (s:SchemaVersion {name: 'provenance-graph'})
RETURN s.version AS version;

// name: schema_version_advance
// Records that migration step $version is done. Never lowers the version: a slower client
// finishing an earlier step after a faster one finished a later step leaves the later one.
MERGE (s:SchemaVersion {name: 'provenance-graph'})
WITH s, coalesce(s.version, 0) < $version AS advances
FOREACH (_ IN CASE WHEN advances THEN [1] ELSE [] END |
  SET s.version = $version, s.updated = datetime(), s.writer = $writer)
RETURN s.version AS version;

// name: schema_version_set
// Sets the recorded schema version as given, lower or higher (tests fake other versions with it).
MERGE (s:SchemaVersion {name: 'provenance-graph'})
SET s.version = $version, s.updated = datetime(), s.writer = $writer
RETURN s.version AS version;

// name: schema_indexes_not_online
// Indexes still being populated, or failed, with what Neo4j says about a failed one. Polled
// instead of CALL db.awaitIndexes(), which waits inside its transaction and so holds up a
// concurrent client's CREATE CONSTRAINT until it times out.
SHOW INDEXES YIELD name, state, populationPercent
WHERE state <> 'ONLINE'
RETURN name, state, populationPercent
ORDER BY name;
