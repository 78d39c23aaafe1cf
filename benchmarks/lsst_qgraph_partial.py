"""The lsst-pipe-base side of the cold-start benchmark: one lineage answer from a ``.qg``, reading only what it needs.

Standalone, like `benchmarks/lsst_qgraph_query.py`: it imports nothing from
provenance_graph, only the public API of lsst-pipe-base and the standard library.
Run cold by `benchmarks/cold_cli.py`, as a user would run a script that answers
"what was this coadd made from, 2 quanta deep", and prints the answer as JSON on stdout
(as ``provgraph query lineage ID --depth 2 --json`` does):

    python benchmarks/lsst_qgraph_partial.py --qg graph.qg --coadd '{"tract": 0, "patch": 5, "band": "g"}'

pipe_base's own partial reader, not a whole load into networkx (what
`lsst_qgraph_query.py` measures):

1. ``PredictedQuantumGraph.open(qg, import_mode=TaskImportMode.DO_NOT_IMPORT)``: the
   header and the pipeline graph, no task classes imported;
2. ``reader.read_thin_graph()``: every quantum's task label, UUID and data ID values,
   and the quantum-to-quantum edges, nothing about datasets;
3. the coadd's producer found by its data ID among the ``assembleCoadd`` quanta, then a
   walk up the thin graph's edges, ``--depth`` quanta deep (1: the producer only);
4. ``reader.read_quantum_datasets(reached)``: the inputs and outputs of the reached
   quanta only, each read through the graph's address file;
5. the answer: the reached quanta (id, task, data ID, level) and the datasets they read
   (id, type, data ID, run), the coadd included, as one JSON object.

A ``.qg`` names datasets only inside the quanta that read or write them, so the start is
the coadd's data ID (tract, patch, band), not its UUID: finding a dataset by UUID would
mean reading every quantum's datasets.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import defaultdict
from typing import Any

from lsst.pipe.base.pipeline_graph import TaskImportMode
from lsst.pipe.base.quantum_graph import PredictedQuantumGraph

PRODUCER = "assembleCoadd"  # makes deepCoadd in benchmarks/lsst_drp_pipeline.yaml


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qg", required=True, help="a .qg file (lsst_qgraph_build.py --write)")
    parser.add_argument("--coadd", required=True, help="the deepCoadd's data ID as JSON (tract, patch, band)")
    parser.add_argument("--depth", type=int, default=2, help="quanta deep, as provgraph's --depth")
    args = parser.parse_args()
    wanted = json.loads(args.coadd)
    with PredictedQuantumGraph.open(args.qg, import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
        reader.read_thin_graph()
        pipeline = reader.pipeline_graph
        thin = reader.components.thin_graph

        def keys(dimensions: Any) -> list[str]:
            return list(dimensions.data_coordinate_keys)

        task_keys = {label: keys(pipeline.tasks[label].dimensions) for label in thin.quanta}
        producer_keys = task_keys[PRODUCER]
        starts = [
            q.quantum_id
            for q in thin.quanta[PRODUCER]
            if all(
                dict(zip(producer_keys, q.data_coordinate, strict=True)).get(k) == v
                for k, v in wanted.items()
            )
        ]
        if len(starts) != 1:
            sys.exit(f"error: {len(starts)} {PRODUCER} quanta match {wanted}")
        parents: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for before, after in thin.edges:
            parents[after].append(before)
        level = {starts[0]: 1}
        frontier = [starts[0]]
        for depth in range(2, args.depth + 1):
            frontier = [p for q in frontier for p in parents[q] if p not in level]
            for p in frontier:
                level.setdefault(p, depth)
        reader.read_quantum_datasets(level)
        found = reader.components.quantum_datasets
    by_id = {
        q.quantum_id: (label, q.data_coordinate)
        for label, qs in thin.quanta.items()
        for q in qs
        if q.quantum_id in level
    }
    quanta = [
        {
            "id": str(q),
            "task": by_id[q][0],
            "data_id": dict(zip(task_keys[by_id[q][0]], by_id[q][1], strict=True)),
            "level": n,
        }
        for q, n in level.items()
    ]
    datasets: dict[uuid.UUID, dict[str, Any]] = {}
    for q, n in level.items():
        sides = [(found[q].inputs, n)] + ([(found[q].outputs, 0)] if q == starts[0] else [])
        for connections, at in sides:
            for refs in connections.values():
                for ref in refs:
                    if at == 0 and ref.dataset_type_name != "deepCoadd":
                        continue
                    dimensions = keys(pipeline.dataset_types[ref.dataset_type_name].dimensions)
                    datasets.setdefault(
                        ref.dataset_id,
                        {
                            "id": str(ref.dataset_id),
                            "dataset_type": ref.dataset_type_name,
                            "data_id": dict(zip(dimensions, ref.data_coordinate, strict=True)),
                            "run": ref.run,
                            "level": at,
                        },
                    )
    json.dump(
        {"direction": "upstream", "start": wanted, "quanta": quanta, "datasets": list(datasets.values())},
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
