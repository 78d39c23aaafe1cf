"""The lsst-pipe-base side of the provenance query benchmark: questions asked of a ``.qg`` file in memory.

Standalone on purpose, like its siblings `benchmarks/lsst_qgraph_build.py` and
`benchmarks/mock_drp.py`: it imports nothing from provenance_graph, only the
public API of lsst-pipe-base and lsst-daf-butler, networkx and the standard
library, so it runs under any Python that has lsst-pipe-base. Prints one JSON
object on stdout.

    python benchmarks/lsst_qgraph_build.py --visits 10 --detectors 16 --tracts 1 --write /tmp/g.qg
    python benchmarks/lsst_qgraph_query.py --qg /tmp/g.qg --make-questions /tmp/q.json --n 20 --seed 7
    python benchmarks/lsst_qgraph_query.py --qg /tmp/g.qg --questions /tmp/q.json

The questions file names every start by its *data ID* (not by UUID), so that the
Neo4j side can ask the very same questions of the same graph::

    {"coadds": [{"tract": 0, "patch": 5, "band": "g"}, ...],             # deepCoadd datasets
     "raws": [{"visit": 1003, "detector": 7}, ...],                        # raw datasets
     "quanta": [{"task": "calibrate", "data_id": {"visit": 1003, "detector": 7}}, ...],
     "subgraph": {"task": "isr", "visits": [1000, 1001, 1002]}}           # or a list of these

Data ID values are the *real* ones stored in the graph (visit ids start at the
mock sky's ``first_visit``, 1000 in lsst_qgraph_build.py; not 0-based indices),
and only the distinguishing dimensions are given: never ``instrument`` or
``skymap`` (`GLOBAL_DIMENSIONS`). A node matches when every given key/value
equals its data ID's. ``raw`` is keyed by (instrument, visit, detector) in
``benchmarks/lsst_drp_pipeline.yaml``: there is no ``exposure`` dimension.
``--make-questions`` writes such a file sampled (seeded) from the graph itself
(`default_questions`).

What it measures, in one process:

1. *load*: ``PredictedQuantumGraph.open(...)`` then ``reader.read_all()`` (thin
   graph, init quanta, dimension data and every quantum's datasets:
   ``read_seconds``), and ``reader.finish()``, which assembles the
   `PredictedQuantumGraph`, whose constructor builds the two networkx graphs
   (``quantum_only_xgraph``, ``bipartite_xgraph``) and the by-task and by-type
   data ID mappings (``xgraph_seconds``). Task classes are not imported
   (``TaskImportMode.DO_NOT_IMPORT``: a provenance user need not have the
   pipelines' code) unless ``--import-tasks``. Peak RSS after load is
   ``ru_maxrss`` of this process, so it includes everything imported.
2. *index* (``index_seconds``): dictionaries from (dataset type, data ID) and
   (task label, data ID) to node keys, data IDs reduced to their distinguishing
   required values (`data_id_key`), built from ``datasets_by_type`` and ``quanta_by_task``.
3. *questions*, each start timed with `time.perf_counter`, data ID lookup
   included; the answers are sets of (node key, task label or dataset type, data
   ID), i.e. printable, not just counts:

   - ``upstream_coadd``: every ancestor of the coadd in the bipartite graph
     (`networkx.ancestors`), datasets and quanta;
   - ``upstream_coadd_depth2``: the same to 2 quantum levels (a breadth-first
     search against the edges, 4 hops: dataset -> producer -> its inputs is one level);
   - ``downstream_raw``: every descendant of the raw (`networkx.descendants`);
   - ``parents_children``: a quantum's parent and child quanta (``quantum_only_xgraph``);
   - ``subgraph``: a task's quanta whose visit is listed, and their external
     inputs (input datasets that no quantum of the set produced).

   Each reports n, p50/p95/max in ms and the answer sizes of the first 5 starts.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import networkx as nx
from lsst.daf.butler import DataCoordinate
from lsst.pipe.base.pipeline_graph import TaskImportMode
from lsst.pipe.base.quantum_graph import PredictedQuantumGraph

GLOBAL_DIMENSIONS = frozenset({"instrument", "skymap"})
"""Dimensions left out of the questions' data IDs: one value each in these graphs."""
COADD = "deepCoadd"  # assembleCoadd's output (benchmarks/lsst_drp_pipeline.yaml)
RAW = "raw"
DEPTH2_HOPS = 4  # 2 quantum levels: dataset -> producer -> its inputs -> their producers -> their inputs
BOOKKEEPING_SUFFIXES = ("_metadata", "_log")  # every quantum writes <label>_metadata and <label>_log
SUBGRAPH_QUANTA = 10_000  # default_questions: about this many quanta in the subgraph (like queries.py)

Key: TypeAlias = tuple[str, tuple[tuple[str, Any], ...]]
"""A node's index key: task label or dataset type, and its distinguishing data ID items, sorted."""
Described: TypeAlias = tuple[uuid.UUID, str, DataCoordinate]
"""A node in an answer: its key, task label or dataset type, and data ID."""


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def versions() -> dict[str, str]:
    return {
        name: importlib.metadata.version(name) for name in ("lsst-pipe-base", "lsst-daf-butler", "networkx")
    }


def distinguishing(data_id: DataCoordinate) -> dict[str, Any]:
    """A data ID's required values, less the `GLOBAL_DIMENSIONS`: what the questions file gives."""
    return {k: v for k, v in data_id.required.items() if k not in GLOBAL_DIMENSIONS}


def data_id_key(name: str, values: Mapping[str, Any]) -> Key:
    return name, tuple(sorted(values.items()))


# ---------------------------------------------------------------------------------------------- loading


def load(path: str, import_tasks: bool) -> tuple[PredictedQuantumGraph, dict[str, float]]:
    """Read the whole graph and assemble it (which builds its networkx graphs); time both."""
    mode = TaskImportMode.ASSUME_CONSISTENT_EDGES if import_tasks else TaskImportMode.DO_NOT_IMPORT
    started = time.perf_counter()
    with PredictedQuantumGraph.open(path, import_mode=mode) as reader:
        reader.read_all()
        read = time.perf_counter()
        graph = reader.finish()
    graph.bipartite_xgraph  # noqa: B018 (both are read-only views, made on access)
    graph.quantum_only_xgraph  # noqa: B018
    done = time.perf_counter()
    return graph, {
        "read_seconds": round(read - started, 3),
        "xgraph_seconds": round(done - read, 3),
        "load_seconds": round(done - started, 3),
    }


class Index:
    """(dataset type, data ID) and (task label, data ID) to node keys; partial data IDs by a scan."""

    def __init__(self, graph: PredictedQuantumGraph) -> None:
        self.graph = graph
        self.datasets: dict[Key, uuid.UUID] = {
            data_id_key(name, distinguishing(data_id)): node
            for name, by_data_id in graph.datasets_by_type.items()
            for data_id, node in by_data_id.items()
        }
        self.quanta: dict[Key, uuid.UUID] = {
            data_id_key(label, distinguishing(data_id)): node
            for label, by_data_id in graph.quanta_by_task.items()
            for data_id, node in by_data_id.items()
        }

    def dataset(self, dataset_type: str, data_id: Mapping[str, Any]) -> list[uuid.UUID]:
        found = self.datasets.get(data_id_key(dataset_type, data_id))
        if found is not None:
            return [found]
        return _scan(self.graph.datasets_by_type.get(dataset_type, {}), data_id, dataset_type)

    def quantum(self, task: str, data_id: Mapping[str, Any]) -> list[uuid.UUID]:
        found = self.quanta.get(data_id_key(task, data_id))
        if found is not None:
            return [found]
        return _scan(self.graph.quanta_by_task.get(task, {}), data_id, task)


def _scan(
    by_data_id: Mapping[DataCoordinate, uuid.UUID], wanted: Mapping[str, Any], name: str
) -> list[uuid.UUID]:
    """The nodes whose data IDs hold every one of ``wanted``'s key/values (fewer keys than indexed)."""
    found = [
        node
        for data_id, node in by_data_id.items()
        if all(k in data_id.dimensions.names and data_id[k] == v for k, v in wanted.items())
    ]
    if not found:
        raise LookupError(f"nothing of {name!r} matches {dict(wanted)}")
    return found


# --------------------------------------------------------------------------------------------- questions


def describe(xgraph: nx.DiGraph, nodes: Iterable[uuid.UUID]) -> tuple[set[Described], set[Described]]:
    """Split nodes of the bipartite graph into quanta and datasets, each with its label and data ID."""
    quanta: set[Described] = set()
    datasets: set[Described] = set()
    for node in nodes:
        info = xgraph.nodes[node]
        if "task_label" in info:
            quanta.add((node, info["task_label"], info["data_id"]))
        else:
            datasets.add((node, info["dataset_type_name"], info["data_id"]))
    return quanta, datasets


def upstream(
    graph: PredictedQuantumGraph, starts: list[uuid.UUID], hops: int | None = None
) -> dict[str, Any]:
    """Everything the starts were made from (not the starts), to ``hops`` edges back if given."""
    xgraph = graph.bipartite_xgraph
    reached: set[uuid.UUID] = set()
    for start in starts:
        if hops is None:
            reached |= nx.ancestors(xgraph, start)
        else:
            reached.update(v for _, v in nx.bfs_edges(xgraph, start, reverse=True, depth_limit=hops))
    quanta, datasets = describe(xgraph, reached - set(starts))
    return {"quanta": quanta, "datasets": datasets}


def downstream(graph: PredictedQuantumGraph, starts: list[uuid.UUID]) -> dict[str, Any]:
    """Everything made from the starts, directly or not (not the starts)."""
    xgraph = graph.bipartite_xgraph
    reached: set[uuid.UUID] = set()
    for start in starts:
        reached |= nx.descendants(xgraph, start)
    quanta, datasets = describe(xgraph, reached - set(starts))
    return {"quanta": quanta, "datasets": datasets}


def parents_children(graph: PredictedQuantumGraph, quanta: list[uuid.UUID]) -> dict[str, Any]:
    """The quanta that made the inputs of ``quanta``, and those that use their outputs."""
    xgraph = graph.quantum_only_xgraph
    parents = {p for q in quanta for p in xgraph.predecessors(q)}
    children = {c for q in quanta for c in xgraph.successors(q)}
    return {"parents": describe(xgraph, parents)[0], "children": describe(xgraph, children)[0]}


def subgraph(graph: PredictedQuantumGraph, task: str, visits: Sequence[int]) -> dict[str, Any]:
    """The task's quanta at the listed visits, and their inputs that none of them made."""
    wanted = set(visits)
    members = [node for data_id, node in graph.quanta_by_task[task].items() if data_id["visit"] in wanted]
    xgraph = graph.bipartite_xgraph
    inside = set(members)
    external = {
        dataset
        for quantum in members
        for dataset in xgraph.predecessors(quantum)
        if not inside.intersection(xgraph.predecessors(dataset))
    }
    quanta, _ = describe(xgraph, members)
    _, inputs = describe(xgraph, external)
    return {"quanta": quanta, "external_inputs": inputs}


def timed(ask: Callable[[Any], dict[str, Any]], starts: Sequence[Any]) -> dict[str, Any]:
    """Ask about each start in turn; latency percentiles and the first 5 answers' sizes."""
    seconds: list[float] = []
    sizes: list[dict[str, int]] = []
    for start in starts:
        began = time.perf_counter()
        answer = ask(start)
        seconds.append(time.perf_counter() - began)
        if len(sizes) < 5:
            size = {part: len(nodes) for part, nodes in answer.items()}
            if "datasets" in answer:  # the Neo4j side may not hold the tasks' _metadata and _log datasets
                size["datasets_not_metadata_log"] = sum(
                    not name.endswith(BOOKKEEPING_SUFFIXES) for _, name, _ in answer["datasets"]
                )
            sizes.append(size)
    if not seconds:
        return {"n": 0}
    ordered = sorted(seconds)
    return {
        "n": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        "first_sizes": sizes,
    }


def ask_all(graph: PredictedQuantumGraph, index: Index, questions: Mapping[str, Any]) -> dict[str, Any]:
    coadds = questions.get("coadds", [])
    raws = questions.get("raws", [])
    quanta = questions.get("quanta", [])
    parts = questions.get("subgraph", [])
    parts = [parts] if isinstance(parts, Mapping) else parts
    return {
        "upstream_coadd": timed(lambda d: upstream(graph, index.dataset(COADD, d)), coadds),
        "upstream_coadd_depth2": timed(
            lambda d: upstream(graph, index.dataset(COADD, d), hops=DEPTH2_HOPS), coadds
        ),
        "downstream_raw": timed(lambda d: downstream(graph, index.dataset(RAW, d)), raws),
        "parents_children": timed(
            lambda q: parents_children(graph, index.quantum(q["task"], q["data_id"])), quanta
        ),
        "subgraph": timed(lambda s: subgraph(graph, s["task"], s["visits"]), parts),
    }


def default_questions(graph: PredictedQuantumGraph, n: int, seed: int) -> dict[str, Any]:
    """Up to ``n`` coadds, raws and quanta sampled (seeded) from ``graph``, and one subgraph.

    The subgraph is the isr quanta of the first visits, about `SUBGRAPH_QUANTA`
    of them (all visits in a small graph), as in ``benchmarks/queries.py``.
    """
    rng = random.Random(seed)

    def pick(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return rng.sample(items, min(n, len(items)))

    coadds = pick([distinguishing(d) for d in graph.datasets_by_type[COADD]])
    raws = pick([distinguishing(d) for d in graph.datasets_by_type[RAW]])
    quanta = pick(
        [
            {"task": task, "data_id": distinguishing(data_id)}
            for task, by_data_id in graph.quanta_by_task.items()
            for data_id in by_data_id
        ]
    )
    isr = graph.quanta_by_task["isr"]
    visits = sorted({data_id["visit"] for data_id in isr})
    detectors = len({data_id["detector"] for data_id in isr})
    first = visits[: max(1, SUBGRAPH_QUANTA // max(1, detectors))]
    return {"coadds": coadds, "raws": raws, "quanta": quanta, "subgraph": {"task": "isr", "visits": first}}


def questions_json(questions: Mapping[str, Any]) -> str:
    """A questions file's text: JSON with one start per line."""
    blocks = []
    for kind, value in questions.items():
        if isinstance(value, list):
            items = ",\n".join(f"  {json.dumps(item)}" for item in value)
            blocks.append(f"{json.dumps(kind)}: [\n{items}\n ]")
        else:
            blocks.append(f"{json.dumps(kind)}: {json.dumps(value)}")
    return "{\n " + ",\n ".join(blocks) + "\n}\n"


# -------------------------------------------------------------------------------------------------- main


def graph_summary(graph: PredictedQuantumGraph) -> dict[str, Any]:
    xgraph = graph.bipartite_xgraph
    in_xgraph = {
        info["dataset_type_name"] for _, info in xgraph.nodes(data=True) if "dataset_type_name" in info
    }
    return {
        "quanta": len(graph),
        "header_datasets": graph.header.n_datasets,
        "bipartite_nodes": xgraph.number_of_nodes(),
        "bipartite_edges": xgraph.number_of_edges(),
        "quantum_edges": graph.quantum_only_xgraph.number_of_edges(),
        # Init-inputs/outputs, configs and packages: in datasets_by_type, never in the bipartite graph.
        "types_not_in_xgraph": sorted(
            name
            for name, by_data_id in graph.datasets_by_type.items()
            if by_data_id and name not in in_xgraph
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qg", required=True, help="a .qg file (lsst_qgraph_build.py --write)")
    parser.add_argument("--questions", help="the questions file (JSON) to ask")
    parser.add_argument(
        "--make-questions", metavar="OUT", help="write a questions file sampled from the graph"
    )
    parser.add_argument("--n", type=int, default=20, help="starts per question kind (--make-questions)")
    parser.add_argument("--seed", type=int, default=7, help="sampling seed (--make-questions)")
    parser.add_argument("--import-tasks", action="store_true", help="import the task classes when reading")
    args = parser.parse_args()
    if (args.questions is None) == (args.make_questions is None):
        parser.error("give --questions or --make-questions, one of them")

    record: dict[str, Any] = {
        "tool": "lsst-pipe-base",
        "version": versions()["lsst-pipe-base"],
        "versions": versions(),
        "python": sys.version.split()[0],
        "qg": args.qg,
        "qg_bytes": Path(args.qg).stat().st_size,
        "import_tasks": args.import_tasks,
        "rss_after_import_mb": peak_rss_mb(),
    }
    graph, seconds = load(args.qg, args.import_tasks)
    record.update(seconds)
    record["peak_rss_mb_after_load"] = peak_rss_mb()

    if args.make_questions:
        questions = default_questions(graph, args.n, args.seed)
        Path(args.make_questions).write_text(questions_json(questions))
        print(json.dumps({k: len(v) if isinstance(v, list) else v for k, v in questions.items()}))
        return

    questions = json.loads(Path(args.questions).read_text())
    record["graph"] = graph_summary(graph)
    started = time.perf_counter()
    index = Index(graph)
    record["index_seconds"] = round(time.perf_counter() - started, 3)
    record.update(ask_all(graph, index, questions))
    record["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(record))


if __name__ == "__main__":
    main()
