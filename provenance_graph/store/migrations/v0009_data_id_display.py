"""Version 9: quanta and datasets carry their data ID's human form, ``data_id_display``.

``visit=2 detector=1``: what Neo4j Browser captions show (``makeWarp tract=0 patch=5
visit=2``), with instrument and skymap left out unless they are all the data ID has
(`provenance_graph.model.DataId.display`). Plans written from v9 on get it when their nodes
are created; this step fills it in for the quanta and datasets of an older database that
lack it, computed in the server from ``data_id``, in batches of `BATCH_SIZE` a
transaction; a rerun fills only what an interrupted run left. One property a node, so
applied on connect, like v5's labels (about 8,000 nodes a second: minutes only for
millions of nodes).
"""

from provenance_graph.store.migrations._step import Step

STEP = Step(version=9, name="data_id_display", doc=__doc__ or "", queries=("migrate_v9_data_id_display",))
