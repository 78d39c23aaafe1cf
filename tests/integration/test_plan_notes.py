"""Pre-flight's notes after planning, and plan conflicts, as a user meets them on the command line.

- ``provgraph plans notes PLAN`` lists why data IDs were dropped; ``plans show`` counts the notes.
- ``provgraph query why DATA_ID`` says, per task, why a data ID has no quantum.
- A plan stored again under its id with other content is refused with a hint in the command
  line's words (``--replace``, ``--plan-id``) and says what differs.

One demo repository of 3 visits x 3 detectors with a missing raw (visit 2, detector 1:
exposure 20) and no bias for detector 2, planned under ``visit IN (1..3) AND detector != 0``.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance_graph.demo import demo_pipeline_path, make_demo_repo
from provenance_graph.errors import PlanConflictError
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import load_plan
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore, delete_plan, write_plan
from tests.integration.test_cli import run

PIPELINE = str(demo_pipeline_path())
DOCS = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
WHERE = "visit IN (1..3) AND detector != 0"
#: The raw the repository lacks, as its isr quantum's data ID is printed.
MISSING_RAW = "instrument=DemoCam exposure=20 detector=1"
#: The demo pipeline's task labels, in its order: `query why` answers for each.
TASKS = Pipeline.from_file(PIPELINE).labels


@dataclass(frozen=True)
class NotedPlan:
    plan_id: str
    prefix: str
    repo: Path
    file: Path


def _plan_args(repo: Path, plan_id: str, prefix: str, where: str, output_run: str = "") -> list[str]:
    return [
        "plan",
        PIPELINE,
        "--repo",
        str(repo),
        "--where",
        where,
        "--plan-id",
        plan_id,
        "--output-run",
        output_run or f"{prefix}/out",
    ]


@pytest.fixture(scope="module")
def noted_plan(
    store: GraphStore, neo4j_settings: ConnectionSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NotedPlan]:
    """A stored demo plan with notes (a missing raw, a missing bias), shared by this module's tests."""
    root = tmp_path_factory.mktemp("notes")
    repo = root / "repo"
    make_demo_repo(repo, 3, 3, missing_raws={(2, 1)}, missing_biases={2}, write_pixels=False).close()
    prefix = f"t{uuid.uuid4().hex[:12]}"
    plan_id = f"{prefix}-notes"
    file = root / "plan.json.gz"
    done = run([*_plan_args(repo, plan_id, prefix, WHERE), "--save", str(file)], neo4j_settings)
    assert done.returncode == 0, done.stderr
    yield NotedPlan(plan_id, prefix, repo, file)
    for row in store.read("plan_list", include_incomplete=True):
        if row["id"].startswith(prefix):
            with contextlib.suppress(Exception):
                delete_plan(store, row["id"])
    store.autocommit("datasets_delete_orphans", run_prefix=prefix)


# --- problem 8: after planning, notes are visible --------------------------------------------


def test_plans_notes_lists_each_note_readably(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    done = run(["plans", "notes", noted_plan.plan_id], neo4j_settings)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"plan {noted_plan.plan_id}: ") and "without a quantum" in lines[0]
    # A table row per note: task, kind, input, how many data IDs.
    [raw] = [line for line in lines if "missing_input" in line]
    assert [c.strip() for c in raw.split("│")[1:5]] == ["isr", "missing_input", "raw", "1"]
    [bias] = [line for line in lines if "missing_prerequisite" in line]
    assert [c.strip() for c in bias.split("│")[1:5]] == ["isr", "missing_prerequisite", "bias", "3"]
    # What later tasks could not plan because of those is listed as upstream drops.
    upstream = [line.split("│")[1:4] for line in lines if "│" in line and "upstream" in line]
    assert ["characterizeImage", "upstream"] in [[c.strip() for c in u[:2]] for u in upstream]
    # Then each note's message, naming a data ID in full, and its data IDs, in the one human
    # form: the instrument, the same for all of them, is left out of the list.
    message = lines.index(next(line for line in lines if line.startswith("isr: no raw")))
    assert MISSING_RAW in lines[message]
    assert lines[message + 1] == "  exposure=20 detector=1"
    message = lines.index(next(line for line in lines if line.startswith("isr: no bias")))
    assert lines[message + 1 : message + 4] == [f"  exposure={e} detector=2" for e in (10, 20, 30)]


def test_plans_notes_json_has_every_data_id(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    done = run(["plans", "notes", noted_plan.plan_id, "--json"], neo4j_settings)
    assert done.returncode == 0, done.stderr
    notes = {n["kind"]: n for n in json.loads(done.stdout)}
    assert set(notes) == {"missing_input", "missing_prerequisite", "upstream"}
    raw = notes["missing_input"]
    assert (raw["task"], raw["connection"], raw["dataset_type"], raw["data_id_count"]) == (
        "isr",
        "raw",
        "raw",
        1,
    )
    assert raw["data_ids"] == [{"detector": 1, "exposure": 20, "instrument": "DemoCam"}]
    assert raw["message"].startswith("isr: no raw")
    assert sorted(d["exposure"] for d in notes["missing_prerequisite"]["data_ids"]) == [10, 20, 30]


def test_plans_notes_of_an_unknown_plan_is_one_error_with_a_suggestion(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    done = run(["plans", "notes", noted_plan.plan_id[:-1]], neo4j_settings)
    assert done.returncode == 1
    assert f"no plan {noted_plan.plan_id[:-1]!r} is stored" in done.stderr
    assert f"did you mean {noted_plan.plan_id!r}" in done.stderr
    assert "Traceback" not in done.stderr


def test_plans_show_counts_the_notes_per_kind(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    done = run(["plans", "show", noted_plan.plan_id], neo4j_settings)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if line.startswith("notes:")]
    assert "missing_input 1 (1 data ID)" in line
    assert "missing_prerequisite 1 (3 data IDs)" in line


def _why(plan: NotedPlan, settings: ConnectionSettings, *args: str) -> list[str]:
    done = run(["query", "why", *args, "--plan", plan.plan_id], settings)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_why_names_the_note_that_dropped_a_data_id(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    [answer] = _why(noted_plan, neo4j_settings, "exposure=20,detector=1", "--task", "isr")
    assert answer.startswith("isr: no quantum at " + MISSING_RAW)
    assert "no raw" in answer and "missing_input" in answer


def test_why_says_a_task_has_a_quantum_there_and_its_status(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    [answer] = _why(noted_plan, neo4j_settings, "visit=1 detector=1", "--task", "calibrate")  # as printed
    assert answer == "calibrate: 1 quantum at instrument=DemoCam visit=1 detector=1: pending."
    [same] = _why(noted_plan, neo4j_settings, "visit=1,detector=1", "--task", "calibrate")  # with commas
    [unquoted] = _why(noted_plan, neo4j_settings, "visit=1", "detector=1", "--task", "calibrate")
    assert same == unquoted == answer


def test_why_says_the_data_query_excluded_it(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    [answer] = _why(noted_plan, neo4j_settings, "visit=1,detector=0", "--task", "calibrate")
    assert answer == (
        f"calibrate: no quantum at visit=1 detector=0: the plan's data query excludes it ({WHERE})."
    )


def test_why_says_when_nothing_in_the_plan_mentions_it(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    [answer] = _why(noted_plan, neo4j_settings, "visit=2,detector=7", "--task", "calibrate")
    assert answer.startswith("calibrate: nothing in plan")
    assert "mentions visit=2 detector=7:" in answer


def test_why_without_a_task_answers_for_every_task(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    answers = _why(noted_plan, neo4j_settings, "visit=2,detector=1")
    assert [a.split(":")[0] for a in answers] == TASKS
    by_task = {a.split(":")[0]: a for a in answers}
    # isr runs per exposure: detector 1 is shared, so it has quanta there and dropped one.
    assert "no raw" in by_task["isr"]
    assert (
        "consolidateObjectTable" in by_task and "none of the dimensions" in by_task["consolidateObjectTable"]
    )


def test_why_json_is_the_same_answer(noted_plan: NotedPlan, neo4j_settings: ConnectionSettings) -> None:
    done = run(
        ["query", "why", "exposure=20,detector=1", "--task", "isr", "--plan", noted_plan.plan_id, "--json"],
        neo4j_settings,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["plan_id"] == noted_plan.plan_id
    assert answer["data_id"] == {"detector": 1, "exposure": 20}
    [task] = answer["tasks"]
    assert (task["task"], task["answer"]) == ("isr", "dropped")
    assert [n["kind"] for n in task["notes"]] == ["missing_input"]
    assert task["notes"][0]["data_ids"] == [{"detector": 1, "exposure": 20, "instrument": "DemoCam"}]


def test_the_why_examples_of_the_docs_are_what_the_command_prints(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    """docs/queries.md shows ``query why`` on this module's plan; each line is run as written (P: its id)."""
    section = DOCS.read_text().split("## Why a data ID has no quantum", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    examples = [(line, block[i + 1]) for i, line in enumerate(block) if line.startswith("$ provgraph ")]
    assert len(examples) == 3
    for command, expected in examples:
        args = [noted_plan.plan_id if a == "P" else a for a in shlex.split(command)[2:]]
        done = run(args, neo4j_settings)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [expected], command


@pytest.mark.parametrize(
    ("args", "message", "suggestion"),
    [
        (
            ["visit=1", "--task", "calibrat"],
            "plan {plan!r} has no task 'calibrat'",
            "did you mean 'calibrate'",
        ),
        (["visti=1"], "no task of plan {plan!r} has dimension 'visti'", "did you mean 'visit'"),
        (["visit=1", "--plan", "{plan}x"], "no plan '{plan}x' is stored", "did you mean {plan!r}"),
    ],
)
def test_why_refuses_unknown_tasks_dimensions_and_plans(
    noted_plan: NotedPlan,
    neo4j_settings: ConnectionSettings,
    args: list[str],
    message: str,
    suggestion: str,
) -> None:
    plan = noted_plan.plan_id
    args = [a.format(plan=plan) for a in args]
    if "--plan" not in args:
        args += ["--plan", plan]
    done = run(["query", "why", *args], neo4j_settings)
    assert done.returncode == 1
    first = done.stderr.splitlines()[0]
    assert first == "error: " + message.format(plan=plan)
    assert suggestion.format(plan=plan) in done.stderr
    assert "Traceback" not in done.stderr


# --- problem 9: hints name CLI options; a conflict says what differs -------------------------


def test_planning_again_under_a_stored_id_says_what_differs_and_names_options(
    noted_plan: NotedPlan, neo4j_settings: ConnectionSettings
) -> None:
    plan_id = f"{noted_plan.prefix}-again"
    output_run = f"{noted_plan.prefix}/again"
    args = _plan_args(noted_plan.repo, plan_id, noted_plan.prefix, WHERE, output_run)
    first = run(args, neo4j_settings)
    assert first.returncode == 0, first.stderr
    narrower = _plan_args(
        noted_plan.repo, plan_id, noted_plan.prefix, "visit IN (1..2) AND detector != 0", output_run
    )
    done = run(narrower, neo4j_settings)
    assert done.returncode == 1
    message, hint = done.stderr.strip().splitlines()[-2:]
    assert message.startswith(f"error: plan {plan_id!r} is already stored with different content: ")
    stored = load_plan(noted_plan.file)
    assert f"the stored plan has {len(stored)} quanta, this one " in message
    assert f"data query {WHERE!r} stored, 'visit IN (1..2) AND detector != 0' here" in message
    assert "--replace" in hint and "--plan-id" in hint
    assert "write_plan" not in done.stderr and "replace=True" not in done.stderr
    assert run([*narrower, "--replace"], neo4j_settings).returncode == 0


def test_importing_a_plan_file_over_another_plan_names_replace(
    noted_plan: NotedPlan, store: GraphStore, neo4j_settings: ConnectionSettings
) -> None:
    # A plan file of the stored plan's id, planned to another output run and not stored.
    file = noted_plan.file.with_name("other.json.gz")
    other_run = f"{noted_plan.prefix}/other"
    args = _plan_args(noted_plan.repo, noted_plan.plan_id, noted_plan.prefix, WHERE, output_run=other_run)
    planned = run([*args, "--no-store", "--save", str(file)], neo4j_settings)
    assert planned.returncode == 0, planned.stderr
    done = run(["plans", "import", str(file)], neo4j_settings)
    assert done.returncode == 1
    assert f"output run '{noted_plan.prefix}/out' stored, '{other_run}' here" in done.stderr
    assert "--replace" in done.stderr and "write_plan" not in done.stderr
    assert "--plan-id" not in done.stderr  # plans import has no such option
    # From Python, the same refusal names the Python call.
    with pytest.raises(PlanConflictError) as refused:
        write_plan(store, load_plan(file))
    assert refused.value.hint is not None and "replace=True" in refused.value.hint
