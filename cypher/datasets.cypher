// Datasets registered outside any plan: files ingested into a repository.

// name: datasets_register
// Creates or updates pre-existing datasets (no producer) with their file URI. A dataset that
// a plan produces keeps its producer; only its URI is filled in.
UNWIND $rows AS r
MERGE (d:Dataset {id: r.id})
  ON CREATE SET d.dataset_type = r.dataset_type, d.data_id = r.data_id,
                d.data_id_display = r.data_id_display, d.run = r.run, d += r.dims
SET d.uri = r.uri
RETURN count(d) AS registered;
