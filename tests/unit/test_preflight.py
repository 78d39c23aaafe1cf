"""Pre-flight over demo repositories: counts derived independently, notes, errors, and real runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from provenance_graph.demo import CALIB_RUN, RAW_RUN, demo_pipeline_path, make_demo_repo
from provenance_graph.errors import ExpressionError, PreflightError, RepositoryError
from provenance_graph.model import DatasetType, NoteKind, PlanGraph
from provenance_graph.pipeline import Pipeline
from provenance_graph.preflight import preflight
from provenance_graph.repository import Repository, RepositoryQuantumIO
from tests.support.drp import expected_counts

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline.from_file(demo_pipeline_path())


@pytest.mark.parametrize(("visits", "detectors", "tracts"), [(3, 4, 1), (7, 9, 2), (12, 5, 3)])
def test_counts_match_the_repository(
    tmp_path: Path, pipeline: Pipeline, visits: int, detectors: int, tracts: int
) -> None:
    repo = make_demo_repo(tmp_path / "repo", visits, detectors, tracts, write_pixels=False)
    graph = preflight(pipeline, repo, output_run="u/test/run")
    assert graph.task_counts() == {k: v for k, v in expected_counts(repo).items() if v}
    assert not graph.notes


def test_where_restricts_and_missing_inputs_are_noted(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = make_demo_repo(
        tmp_path / "repo", 6, 4, missing_raws={(2, 1), (3, 0)}, missing_biases={3}, write_pixels=False
    )
    where = "instrument='DemoCam' AND visit IN (1..5) AND visit != 3"
    graph = preflight(pipeline, repo, where, output_run="u/test/run")
    keep = lambda v, d: 1 <= v <= 5 and v != 3  # noqa: E731
    assert graph.task_counts() == expected_counts(repo, keep)
    notes = {(n.task_label, n.kind, n.dataset_type): n for n in graph.notes}
    bias_note = notes[("isr", NoteKind.MISSING_PREREQUISITE, "bias")]
    assert {(d["exposure"], d["detector"]) for d in bias_note.data_ids} == {(10 * v, 3) for v in (1, 2, 4, 5)}
    raw_note = notes[("isr", NoteKind.MISSING_INPUT, "raw")]
    assert [(d["exposure"], d["detector"]) for d in raw_note.data_ids] == [
        (20, 1)
    ]  # visit 3 is not asked for
    roots = {k for k in notes if k[1] is not NoteKind.UPSTREAM}
    assert roots == {("isr", NoteKind.MISSING_PREREQUISITE, "bias"), ("isr", NoteKind.MISSING_INPUT, "raw")}
    # Later tasks repeat no root cause: what they lack, an earlier task dropped, and they say which.
    forced = notes[("forcedPhotCcd", NoteKind.UPSTREAM, "calexp")]
    assert forced.upstream_task == "calibrate" and "calibrate dropped them upstream" in forced.message
    for note in graph.notes:
        if note.kind is NoteKind.UPSTREAM:
            assert note.upstream_task == pipeline.producers[note.dataset_type]
    assert graph.plan.constraints == where
    assert "isr" in graph.plan.pipeline


def test_everything_is_planned_and_uris_follow_templates(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = make_demo_repo(tmp_path / "repo", 2, 2, write_pixels=False)
    graph = preflight(pipeline, repo, output_run="u/test/run", plan_id="p1")
    assert graph.plan.id == "p1"
    assert set(graph.uris) == set(graph.datasets)
    raws = [r for r in graph.initial_inputs() if r.dataset_type.name == "raw"]
    assert {r.run for r in raws} == {RAW_RUN}
    assert all(graph.uris[r.id].startswith("file://") for r in raws)
    calexp = next(r for r in graph.datasets.values() if r.dataset_type.name == "calexp")
    assert graph.uris[calexp.id] == repo.uri(calexp)
    assert f"/u/test/run/calexp/{calexp.data_id['visit']}/" in graph.uris[calexp.id]


def test_first_input_run_wins(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = make_demo_repo(tmp_path / "repo", 1, 1, write_pixels=True)
    bias = repo.ref("bias", {"instrument": "DemoCam", "detector": 0}, "DemoCam/calib/new")
    repo.put(np.zeros((32, 32)), bias)
    newer = preflight(pipeline, repo, output_run="out", input_runs=["DemoCam/calib/new", RAW_RUN, CALIB_RUN])
    older = preflight(pipeline, repo, output_run="out", input_runs=[RAW_RUN, CALIB_RUN, "DemoCam/calib/new"])
    runs = {
        g: {r.run for r in gr.initial_inputs() if r.dataset_type.name == "bias"}
        for g, gr in (("n", newer), ("o", older))
    }
    assert runs == {"n": {"DemoCam/calib/new"}, "o": {CALIB_RUN}}


def test_input_missing_from_repository_is_an_error(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = Repository.create(tmp_path / "empty")
    repo.register_dataset_type(
        DatasetType(name="raw", dimensions=("instrument", "exposure", "detector"), storage_class="Image")
    )
    with pytest.raises(
        PreflightError, match="input 'bias' \\(bias\\) of task 'isr' is neither produced"
    ) as caught:
        preflight(pipeline, repo, output_run="out")
    assert "ingest it" in (caught.value.hint or "")


def test_bad_expression_and_unknown_input_run(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = make_demo_repo(tmp_path / "repo", 1, 1, write_pixels=False)
    with pytest.raises(ExpressionError, match="unknown dimension 'detectr'"):
        preflight(pipeline, repo, "detectr = 1", output_run="out")
    with pytest.raises(PreflightError, match="input run 'DemoCam/raw/al' is not in the repository") as caught:
        preflight(pipeline, repo, output_run="out", input_runs=["DemoCam/raw/al"])
    assert "DemoCam/raw/all" in (caught.value.hint or "")
    with pytest.raises(PreflightError, match="output run"):
        preflight(pipeline, repo, output_run="bad run name")


def test_output_run_that_holds_outputs_is_refused(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = make_demo_repo(tmp_path / "repo", 1, 1)
    graph = preflight(pipeline, repo, output_run="out")
    _run_all(graph, pipeline, repo, limit=1)
    with pytest.raises(PreflightError, match="output run 'out' already holds 1 dataset"):
        preflight(pipeline, repo, output_run="out")


def _run_all(graph, pipeline: Pipeline, repo: Repository, limit: int | None = None) -> None:  # type: ignore[no-untyped-def]
    for dtype in pipeline.dataset_types.values():
        if dtype.name in pipeline.producers:
            repo.register_dataset_type(dtype)
    tasks = {node.label: (node, node.make_task()) for node in pipeline}
    for i, quantum in enumerate(graph.in_order()):
        if limit is not None and i >= limit:
            return
        node, task = tasks[quantum.task_label]
        task.run_quantum(RepositoryQuantumIO(repo, quantum, node.connections))


def test_demo_tasks_compute_real_results(tmp_path: Path, pipeline: Pipeline) -> None:
    repo = make_demo_repo(tmp_path / "repo", 4, 4)
    graph = preflight(pipeline, repo, output_run="u/test/run")
    _run_all(graph, pipeline, repo)
    for ref in graph.datasets.values():
        assert repo.exists(ref), ref
    by_type = {}
    for ref in graph.datasets.values():
        by_type.setdefault(ref.dataset_type.name, []).append(ref)
    raw_ref = by_type["raw"][0]
    post = next(
        r
        for r in by_type["postISRCCD"]
        if r.data_id["exposure"] == raw_ref.data_id["exposure"]
        and r.data_id["detector"] == raw_ref.data_id["detector"]
    )
    bias = next(r for r in by_type["bias"] if r.data_id["detector"] == raw_ref.data_id["detector"])
    np.testing.assert_allclose(repo.get(post), np.minimum(repo.get(raw_ref) - repo.get(bias), 60000.0))
    objects = repo.get(by_type["objectTable_tract"][0])
    assert len(objects) > 0
    assert list(objects["id"]) == list(range(len(objects)))
    forced_total = sum(len(repo.get(r)) for r in by_type["forced_src"])
    assert forced_total > 0
    summary = repo.get(by_type["visitSummary"][0])
    assert set(summary["detectors"]) == {"0", "1", "2", "3"}
    coadd = repo.get(by_type["deepCoadd"][0])
    assert np.isfinite(coadd).any()
    with pytest.raises(RepositoryError, match="exists already"):
        repo.put(repo.get(post), post)


def test_planning_does_not_load_the_database_driver() -> None:
    """Pre-flight, the demo repository and plan files work without the Neo4j driver loaded.

    The driver (and what it imports) is most of a planning process's baseline memory.
    """
    code = (
        "import sys\n"
        "from provenance_graph.demo import demo_pipeline_path, make_demo_repo\n"
        "from provenance_graph.pipeline import Pipeline\n"
        "from provenance_graph.planfile import save_plan\n"
        "from provenance_graph.preflight import preflight\n"
        "Pipeline.from_file(demo_pipeline_path())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'neo4j'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_data_query_constrains_every_task_and_is_never_a_note(tmp_path: Path, pipeline: Pipeline) -> None:
    """``tract = 1`` plans only the images that touch tract 1, as pipe_base's one big query does."""
    repo = make_demo_repo(tmp_path / "repo", 8, 4, 2, write_pixels=False)
    overlaps = repo.join_rows("visit_detector_patch")
    touching = {(r["visit"], r["detector"]) for r in overlaps if r["tract"] == 1}
    elsewhere = {(r["visit"], r["detector"]) for r in overlaps} - touching
    assert touching and elsewhere  # the sky has images on both tracts
    graph = preflight(pipeline, repo, "tract = 1", output_run="u/test/run")
    calibrated = {(q.data_id["visit"], q.data_id["detector"]) for q in _of(graph, "calibrate")}
    assert calibrated == touching
    assert {q.data_id["tract"] for q in _of(graph, "assembleCoadd")} == {1}
    assert not graph.notes, "data IDs the query excludes are not notes"
    # An exposure query: raws of other exposures are not "missing".
    graph = preflight(pipeline, repo, "exposure = 30", output_run="u/test/run")
    assert {q.data_id["exposure"] for q in _of(graph, "isr")} == {30}
    assert not graph.notes


def test_a_query_that_matches_nothing_names_its_term(tmp_path: Path, pipeline: Pipeline) -> None:
    make_demo_repo(tmp_path / "repo", 3, 2, write_pixels=False).close()
    args = [str(demo_pipeline_path()), "--repo", str(tmp_path / "repo"), "--no-store"]
    where = ["--where", "visit IN (1..3) AND patch = 99"]
    done = subprocess.run(
        [PROVGRAPH, "plan", *args, *where], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "'patch = 99' matches no data ID" in done.stderr
    assert "--allow-empty" in done.stderr
    empty = subprocess.run(
        [PROVGRAPH, "plan", *args, *where, "--allow-empty"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert empty.returncode == 0, empty.stderr
    assert "warning: the data query matches nothing: 'patch = 99' matches no data ID" in empty.stderr
    assert "quanta: 0" in empty.stdout


def _of(graph, label: str) -> list:  # type: ignore[no-untyped-def,type-arg]
    return [q for q in graph.quanta.values() if q.task_label == label]


def _plan_tasks(repo: Repository, *tasks: str) -> PlanGraph:
    text = "tasks:\n" + "".join(f"  {t}:\n    class: tests.support.tasks.{t}\n" for t in tasks)
    return preflight(Pipeline.from_yaml(text), repo, output_run="u/test/run")


def test_a_task_whose_only_input_is_a_prerequisite_is_planned_from_the_records(tmp_path: Path) -> None:
    repo = make_demo_repo(tmp_path / "repo", 2, 4, missing_biases={3}, write_pixels=False)
    graph = _plan_tasks(repo, "BiasStats")
    assert sorted(q.data_id["detector"] for q in graph.quanta.values()) == [0, 1, 2]
    [note] = graph.notes
    assert note.kind is NoteKind.MISSING_PREREQUISITE
    assert [d["detector"] for d in note.data_ids] == [3]


def test_an_optional_input_does_not_drop_its_quantum(tmp_path: Path) -> None:
    repo = make_demo_repo(tmp_path / "repo", 2, 4, missing_biases={3}, write_pixels=False)
    graph = _plan_tasks(repo, "OptionalBias")
    assert len(graph) == 2 * 4  # every raw, with or without its bias
    without = [q for q in graph.quanta.values() if q.data_id["detector"] == 3]
    assert len(without) == 2 and all([r.dataset_type.name for r in q.inputs] == ["raw"] for q in without)
    assert not graph.notes


def test_a_data_id_that_define_quanta_plans_after_all_is_no_note(tmp_path: Path) -> None:
    repo = make_demo_repo(tmp_path / "repo", 2, 4, missing_biases={3}, write_pixels=False)
    graph = _plan_tasks(repo, "RescuesDropped")
    assert len(graph) == 2 * 4
    assert not graph.notes


def test_a_repository_without_records_says_which_records_to_add(tmp_path: Path) -> None:
    repo = Repository.create(tmp_path / "repo")
    repo.register_dataset_type(
        DatasetType(name="raw", dimensions=("instrument", "exposure", "detector"), storage_class="Image")
    )
    repo.register_dataset_type(
        DatasetType(name="bias", dimensions=("instrument", "detector"), storage_class="Image")
    )
    with pytest.raises(PreflightError) as refused:
        _plan_tasks(repo, "OptionalBias")
    assert "the repository has no detector records" in refused.value.message
    assert "no input datasets match the query" not in refused.value.message
    assert "provgraph repo add-records" in (refused.value.hint or "")


def test_part_queries_and_merged_notes_of_a_split_pre_flight() -> None:
    """``--split-by``: each part's data query, and one plan's notes made from its parts'."""
    from provenance_graph.model import DataId, PlanNote
    from provenance_graph.preflight import merge_notes, part_query

    assert part_query("visit IN (1..3)", "tract", 2) == "(visit IN (1..3)) AND tract = 2"
    assert part_query("", "band", "g") == "band = 'g'"
    assert part_query("", "band", "it's") == 'band = "it\'s"'

    def note(kind: NoteKind, task: str, *visits: int) -> PlanNote:
        ids = tuple(DataId.of(instrument="DemoCam", visit=v, detector=7) for v in visits)
        return PlanNote(
            task_label=task, kind=kind, connection="bias" if ids else "", dataset_type="bias" if ids else "",
            data_ids=ids, message=f"{task}: part note",
        )  # fmt: skip

    merged = merge_notes(
        [
            note(NoteKind.MISSING_PREREQUISITE, "isr", 3, 1),
            note(NoteKind.NO_QUANTA, "makeWarp"),
            note(NoteKind.MISSING_PREREQUISITE, "isr", 2, 1),
            note(NoteKind.NO_QUANTA, "consolidateObjectTable"),
            note(NoteKind.NO_QUANTA, "consolidateObjectTable"),
        ],
        {"isr": 10, "makeWarp": 4},
    )
    [isr, none] = merged
    assert [d.to_dict()["visit"] for d in isr.data_ids] == [1, 2, 3]
    assert isr.message.startswith(
        "isr: no bias (prerequisite input 'bias') in the repository for 3 data IDs, e.g. "
    )
    assert (none.task_label, none.kind) == ("consolidateObjectTable", NoteKind.NO_QUANTA)
