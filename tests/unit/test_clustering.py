"""Clustering rules and quanta into batch jobs, as a production user writes and sees them."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance_graph.clustering import (
    ClusteringSpec,
    JobGraph,
    QuantumDag,
    cluster_quanta,
    load_clustering,
    write_dagman,
)
from provenance_graph.demo import demo_pipeline_path
from provenance_graph.errors import ClusteringCycleError, ClusteringError
from provenance_graph.model import PlanGraph
from provenance_graph.synthetic import DRP_TASKS, drp_plan

DEMO_CLUSTERING = Path(demo_pipeline_path()).with_name("clustering.yaml")

CHAIN = """
name: by-visit
cluster:
  visit_chain:
    pipetasks: isr, characterizeImage, calibrate
    dimensions: visit, detector
    equalDimensions: visit:exposure
"""


def spec(text: str) -> ClusteringSpec:
    return ClusteringSpec.from_yaml(text, source="rules.yaml")


def cluster(graph: PlanGraph, text: str) -> JobGraph:
    return cluster_quanta(QuantumDag.from_plan(graph), spec(text))


# --- the YAML --------------------------------------------------------------------------


def test_bps_style_and_plain_yaml_mean_the_same() -> None:
    bps = spec(CHAIN)
    plain = spec(
        """
name: by-visit
cluster:
  visit_chain:
    pipetasks: [isr, characterizeImage, calibrate]
    dimensions: [visit, detector]
    equal_dimensions: {visit: exposure}
"""
    )
    assert bps == plain
    assert bps.cluster["visit_chain"].aliases() == {"visit": "exposure"}


RESOURCES = {
    "requestMemory": "request_memory",
    "requestMemoryMax": "request_memory_max",
    "memoryMultiplier": "memory_multiplier",
    "requestCpus": "request_cpus",
    "requestDisk": "request_disk",
    "requestWalltime": "request_walltime",
    "numberOfRetries": "number_of_retries",
    "maxQuanta": "max_quanta",
}


def test_bps_camel_case_keys_and_our_snake_case_ones_mean_the_same() -> None:
    values = {"requestMemory": 2048, "requestMemoryMax": 8192, "memoryMultiplier": 2.0,
              "requestCpus": 2, "requestDisk": 1000, "requestWalltime": 600, "numberOfRetries": 3,
              "maxQuanta": 50}  # fmt: skip

    def rules(keys: dict[str, object]) -> str:
        lines = "".join(f"    {k}: {v}\n" for k, v in keys.items())
        return f"cluster:\n  chain:\n    pipetasks: isr, calibrate\n    dimensions: visit\n{lines}"

    camel = spec(rules(values))
    snake = spec(rules({RESOURCES[k]: v for k, v in values.items()}))
    assert camel == snake
    rule = camel.cluster["chain"]
    assert (rule.request_memory, rule.request_memory_max, rule.memory_multiplier) == (2048, 8192, 2.0)
    assert (rule.request_cpus, rule.request_disk, rule.number_of_retries, rule.max_quanta) == (2, 1000, 3, 50)
    assert rule.request_walltime == 600


@pytest.mark.parametrize(
    ("written", "seconds"), [("3600", 3600), ("'01:30:00'", 5400), ("'1-00:00:10'", 86410)]
)
def test_request_walltime_is_seconds_or_slurms_hh_mm_ss(written: str, seconds: int) -> None:
    rule = spec(f"cluster:\n  chain:\n    pipetasks: isr\n    requestWalltime: {written}\n").cluster["chain"]
    assert rule.request_walltime == seconds


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("requestMemory: lots", "cluster.chain.requestMemory"),
        ("requestCpus: 0", "greater than or equal to 1"),
        ("requestWalltime: soon", "'soon' is not a wall time"),
        ("memoryMultiplier: 0.5", "greater than or equal to 1"),
        (
            "requestMemoryMax: 1024\n    requestMemory: 2048",
            "requestMemoryMax 1024 is below requestMemory 2048",
        ),
        ("requestMemory: 1\n    request_memory: 2", "both requestMemory and request_memory"),
        ("requestMemry: 2048", "unknown key 'requestMemry'"),
    ],
)
def test_bad_bps_keys_are_one_error_naming_the_key(keys: str, expected: str) -> None:
    with pytest.raises(ClusteringError, match=expected):
        spec(f"cluster:\n  chain:\n    pipetasks: isr\n    {keys}\n")


def test_the_shipped_demo_clustering_reads_and_applies_to_a_drp_plan() -> None:
    rules = load_clustering(DEMO_CLUSTERING)
    assert rules.name == "demo"
    jobs = cluster_quanta(QuantumDag.from_plan(drp_plan(3, 4)), rules)
    assert jobs.summary().quanta == len(drp_plan(3, 4))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cluster:\n  a:\n    pipetasks: isr\n    dimension: [visit]\n",
            "cluster.a.dimension: unknown key 'dimension'",
        ),
        ("cluster:\n  a:\n    pipetasks: isr\n    max_quanta: 0\n", "cluster.a.max_quanta"),
        ("cluster:\n  a:\n    pipetasks: []\n", "cluster.a.pipetasks"),
        (
            "cluster:\n  a: {pipetasks: isr}\n  b: {pipetasks: 'calibrate, isr'}\n",
            "task 'isr' is in rules 'a' and 'b'",
        ),
        ("cluster:\n  a: {pipetasks: isr, equalDimensions: visit}\n", "'visit' is not 'dimension:other'"),
        ("cluster:\n  a: {pipetasks: isr, dimensions: Visit}\n", "'Visit' is not a dimension name"),
        ("cluster:\n  a: {pipetasks: 'is r'}\n", "invalid task label"),
        ("clusters:\n  a: {pipetasks: isr}\n", "unknown key 'clusters'"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("cluster: [a: b\n", "not valid YAML"),
    ],
)
def test_a_malformed_rules_file_is_one_error_naming_the_key(text: str, expected: str) -> None:
    with pytest.raises(ClusteringError, match="rules.yaml") as info:
        spec(text)
    assert expected in str(info.value)


def test_an_unknown_task_or_dimension_suggests_the_close_one() -> None:
    graph = drp_plan(2, 2)
    with pytest.raises(ClusteringError, match="names task 'isrr'") as info:
        cluster(graph, "cluster:\n  a: {pipetasks: isrr}\n")
    assert "did you mean 'isr'" in str(info.value)
    with pytest.raises(ClusteringError, match="dimension 'vist'") as info:
        cluster(graph, "cluster:\n  a: {pipetasks: calibrate, dimensions: vist}\n")
    assert "did you mean 'visit'" in str(info.value)
    # isr is per exposure; with calibrate but without characterizeImage, nothing gives it a visit
    with pytest.raises(ClusteringError, match=r"quantum isr \(.*\) has no 'visit'") as info:
        cluster(graph, "cluster:\n  a: {pipetasks: 'isr, calibrate', dimensions: 'visit, detector'}\n")
    assert "equalDimensions" in str(info.value) and "put the tasks between into rule 'a'" in str(info.value)


def test_a_task_of_the_pipeline_without_quanta_in_this_plan_is_accepted() -> None:
    graph = drp_plan(2, 2)
    jobs = cluster_quanta(
        QuantumDag.from_plan(graph),
        spec("cluster:\n  a: {pipetasks: 'isr, someLaterTask'}\n"),
        known_tasks=[*DRP_TASKS, "someLaterTask"],
    )
    assert jobs.summary().jobs_per_label["a"] == 1


# --- what the jobs are ----------------------------------------------------------------


def test_a_chain_per_visit_and_detector_is_one_job_run_in_dependency_order() -> None:
    graph = drp_plan(3, 4)
    jobs = cluster(graph, CHAIN)
    chains = [j for j in jobs if j.rule == "visit_chain"]
    assert len(chains) == 3 * 4
    for job in chains:
        assert job.tasks == ("isr", "characterizeImage", "calibrate")
        assert [graph.quanta[q].task_label for q in job.quanta] == list(job.tasks)
        visit, detector = job.data_id["visit"], job.data_id["detector"]
        assert job.name == f"visit_chain_{visit}_{detector}"
        assert all(graph.quanta[q].data_id["detector"] == detector for q in job.quanta)
    # everything else is a job of its own, named by its task and data ID
    others = [j for j in jobs if j.rule is None]
    assert all(len(j.quanta) == 1 and j.label == graph.quanta[j.quanta[0]].task_label for j in others)
    assert len(others) == len(graph) - 3 * 3 * 4


def test_a_hundred_isr_quanta_per_job() -> None:
    graph = drp_plan(3, 150)  # 450 isr quanta
    jobs = cluster(graph, "cluster:\n  isr_batch: {pipetasks: isr, max_quanta: 100}\n")
    sizes = sorted(len(j) for j in jobs if j.rule == "isr_batch")
    assert sizes == [50, 100, 100, 100, 100]
    assert {j.name for j in jobs if j.rule == "isr_batch"} == {f"isr_batch_p{k}" for k in range(1, 6)}


def test_a_quantum_without_the_rules_dimension_takes_it_from_the_quanta_it_feeds() -> None:
    graph = drp_plan(2, 3)
    jobs = cluster(graph, CHAIN.replace("    equalDimensions: visit:exposure\n", ""))
    chains = [j for j in jobs if j.rule == "visit_chain"]
    assert len(chains) == 2 * 3
    assert all(j.tasks == ("isr", "characterizeImage", "calibrate") for j in chains)


def test_per_visit_chains_split_by_size_keep_each_detectors_chain_whole() -> None:
    graph = drp_plan(2, 10)
    jobs = cluster(
        graph,
        CHAIN.replace("visit, detector", "visit").replace("exposure\n", "exposure\n    max_quanta: 7\n"),
    )
    for job in (j for j in jobs if j.rule == "visit_chain"):
        assert len(job) <= 7
        detectors = [graph.quanta[q].data_id["detector"] for q in job.quanta]
        for d in set(detectors):
            assert detectors.count(d) == 3, f"{job.name} splits the chain of detector {d}"


def test_grouping_a_task_with_a_downstream_one_but_not_the_one_between_is_a_cycle() -> None:
    graph = drp_plan(2, 2)
    with pytest.raises(ClusteringCycleError) as info:
        cluster(
            graph,
            "cluster:\n  bad:\n    pipetasks: isr, calibrate\n    dimensions: visit, detector\n"
            "    equalDimensions: visit:exposure\n",
        )
    message = str(info.value)
    # the jobs of the cycle, and the quantum dependencies that close it
    assert "batch jobs would depend on each other in a cycle: bad_" in message
    assert "characterizeImage_" in message
    assert "reads what isr (" in message and "reads what characterizeImage (" in message
    assert "rule(s) 'bad'" in message and "add the tasks in between" in message


# --- properties --------------------------------------------------------------------------

RULE_POOL = [
    "  chain: {pipetasks: 'isr, characterizeImage, calibrate', dimensions: 'visit, detector', "
    "equalDimensions: 'visit:exposure'%s}\n",
    "  isr_only: {pipetasks: isr%s}\n",
    "  per_visit: {pipetasks: 'transformSourceTable, consolidateSourceTable', dimensions: visit%s}\n",
    "  coadd: {pipetasks: 'assembleCoadd, detection', dimensions: 'tract, patch, band'%s}\n",
    "  skipping: {pipetasks: 'isr, calibrate', dimensions: detector%s}\n",
    "  forced: {pipetasks: forcedPhotCcd, dimensions: tract%s}\n",
    "  warps: {pipetasks: 'makeWarp, calibrate', dimensions: visit%s}\n",
]


@st.composite
def plans_and_rules(draw: st.DrawFn) -> tuple[PlanGraph, str]:
    graph = drp_plan(
        draw(st.integers(1, 4)), draw(st.integers(1, 6)), tracts=draw(st.integers(1, 2)), patches=4
    )
    chosen = draw(st.lists(st.integers(0, len(RULE_POOL) - 1), unique=True, max_size=3))
    lines, used = ["cluster:\n"], set()
    for index in chosen:
        rule = RULE_POOL[index]
        tasks = set(rule.split("'")[1].split(", ")) if "'" in rule.split("dimensions")[0] else {"isr"}
        if "forcedPhotCcd" in rule:
            tasks = {"forcedPhotCcd"}
        if tasks & used:
            continue
        used |= tasks
        limit = draw(st.one_of(st.none(), st.integers(1, 5)))
        lines.append(rule % ("" if limit is None else f", max_quanta: {limit}"))
    return graph, "".join(lines)


def quantum_graph(graph: PlanGraph) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(graph.quanta)
    g.add_edges_from((p, q) for q in graph.quanta for p in graph.parents(q))
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans_and_rules())
def test_every_clustering_is_a_partition_with_the_projected_dag(case: tuple[PlanGraph, str]) -> None:
    graph, text = case
    rules = spec(text)
    qg = quantum_graph(graph)
    try:
        jobs = cluster_quanta(QuantumDag.from_plan(graph), rules)
    except ClusteringCycleError:
        # refused only when the projection really has a cycle: rebuild it by grouping by hand
        jobs_of = _hand_grouping(graph, rules)
        projected = nx.DiGraph((jobs_of[p], jobs_of[c]) for p, c in qg.edges if jobs_of[p] != jobs_of[c])
        assert not nx.is_directed_acyclic_graph(projected)
        return
    # every quantum in exactly one job
    seen = [q for job in jobs for q in job.quanta]
    assert sorted(seen) == sorted(graph.quanta)
    # jobs respect max size; a rule's jobs hold only its tasks
    for job in jobs:
        if job.rule is not None:
            limit = rules.cluster[job.rule].max_quanta
            assert limit is None or len(job) <= limit
            assert set(job.tasks) <= set(rules.cluster[job.rule].pipetasks)
        else:
            assert len(job) == 1
        # a job runs its quanta in dependency order
        position = {q: i for i, q in enumerate(job.quanta)}
        for p, c in qg.subgraph(job.quanta).edges:
            assert position[p] < position[c]
    # job DAG edges == quantum edges projected onto jobs, minus self-loops
    projected = {(jobs.job_of(p), jobs.job_of(c)) for p, c in qg.edges if jobs.job_of(p) != jobs.job_of(c)}
    assert set(jobs.edges) == projected
    # jobs are listed in a topological order, and the critical path is a longest path
    order = {name: i for i, name in enumerate(jobs.jobs)}
    assert all(order[p] < order[c] for p, c in jobs.edges)
    jdag = nx.DiGraph(list(jobs.edges))
    jdag.add_nodes_from(jobs.jobs)
    assert len(jobs.critical_path()) == nx.dag_longest_path_length(jdag) + 1
    path = jobs.critical_path()
    assert all((a, b) in jobs.edges for a, b in itertools.pairwise(path))


def _hand_grouping(graph: PlanGraph, rules: ClusteringSpec) -> dict[str, tuple[object, ...]]:
    """Group quanta by rule and dimension values (without size limits: splitting can't add a cycle
    between groups that merging would not show)."""
    rule_of = rules.rule_of()
    found: dict[str, tuple[object, ...]] = {}
    for qid, q in graph.quanta.items():
        label = rule_of.get(q.task_label)
        if label is None:
            found[qid] = ("single", qid)
            continue
        rule = rules.cluster[label]
        values = []
        for dim in rule.dimensions:
            alias = rule.aliases().get(dim, dim)
            values.append(q.data_id[dim] if dim in q.data_id else q.data_id[alias])
        found[qid] = (label, *values)
    return found


@settings(max_examples=20, deadline=None)
@given(plans_and_rules())
def test_clustering_does_not_depend_on_the_order_quanta_come_in(case: tuple[PlanGraph, str]) -> None:
    graph, text = case
    dag = QuantumDag.from_plan(graph)
    reversed_dag = QuantumDag(
        dag.plan_id, reversed(dag.nodes), [(dag.nodes[p].id, dag.nodes[c].id) for p, c in dag.edges]
    )
    try:
        a = cluster_quanta(dag, spec(text))
    except ClusteringCycleError:
        return
    b = cluster_quanta(reversed_dag, spec(text))
    assert list(a.jobs.values()) == list(b.jobs.values()) and a.edges == b.edges


# --- DAGMan files --------------------------------------------------------------------------


def test_dagman_files_name_every_job_and_edge(tmp_path: Path) -> None:
    jobs = cluster(drp_plan(2, 3), CHAIN)
    files = write_dagman(jobs, tmp_path, command=["/opt/bin/provgraph"], retry=3)
    lines = files.dag.read_text().splitlines()
    job_lines = [line.split() for line in lines if line.startswith("JOB ")]
    assert [(w[1], w[2]) for w in job_lines] == [(n, f"jobs/{n}.sub") for n in jobs.jobs]
    submit = (tmp_path / "jobs" / "visit_chain_1_2.sub").read_text()
    assert "executable = /opt/bin/provgraph" in submit
    assert 'arguments  = "run-job --plan drp-2x3 --clustering by-visit --job visit_chain_1_2"' in submit
    assert "password" not in submit.lower()
    assert sum(1 for line in lines if line.startswith("RETRY ") and line.endswith(" 3")) == len(jobs)


def test_dagman_submit_files_ask_for_each_rules_resources_as_bps_does(tmp_path: Path) -> None:
    jobs = cluster(
        drp_plan(2, 3),
        CHAIN + "    requestMemory: 2048\n    requestCpus: 2\n    requestDisk: 100\n    numberOfRetries: 1\n"
        "    memoryMultiplier: 2\n    requestMemoryMax: 6000\n    requestWalltime: '00:10:00'\n",
    )
    files = write_dagman(jobs, tmp_path, command=["/opt/bin/provgraph"], retry=3)
    chain = (tmp_path / "jobs" / "visit_chain_1_2.sub").read_text().splitlines()
    assert "request_cpus = 2" in chain and "request_disk = 102400" in chain  # KiB
    # Each retry of a DAG node asks for memoryMultiplier times more, up to requestMemoryMax.
    assert "request_memory = min({int(2048 * pow(2.0, $(RETRY:0))), 6000})" in chain
    assert "periodic_remove = (JobStatus == 2) && ((time() - EnteredCurrentStatus) > 600)" in chain
    other = next(n for n, j in jobs.jobs.items() if j.rule is None)
    assert "request_cpus = 1" in (tmp_path / "jobs" / f"{other}.sub").read_text()
    retries = {
        w[1]: w[2] for w in (line.split() for line in files.dag.read_text().splitlines()) if w[0] == "RETRY"
    }
    assert retries["visit_chain_1_2"] == "1" and retries[other] == "3"  # the rule's, else --retry
