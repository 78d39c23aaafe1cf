"""Pipeline YAML: the demo loads in dependency order; each kind of mistake is a clear error."""

from __future__ import annotations

import pytest
import yaml

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.errors import PipelineError
from provenance_graph.pipeline import Pipeline

T = "tests.support.tasks"


def test_demo_pipeline_loads_in_dependency_order() -> None:
    pipeline = Pipeline.from_file(demo_pipeline_path())
    assert pipeline.labels[0] == "isr"
    assert len(pipeline) == 12
    position = {label: i for i, label in enumerate(pipeline.labels)}
    for node in pipeline:
        for conn in node.inputs().values():
            producer = pipeline.producers.get(conn.dataset_type)
            if producer is not None:
                assert position[producer] < position[node.label]
    assert set(pipeline.overall_inputs()) == {"raw", "bias", "camera", "skyMap"}
    assert pipeline["isr"].config.model_dump() == {"saturation": 60000.0, "fail_on": [], "sleep": 0.0}


def test_tasks_listed_out_of_order_are_sorted() -> None:
    data = yaml.safe_load(demo_pipeline_path().read_text())
    data["tasks"] = dict(reversed(list(data["tasks"].items())))
    reversed_pipeline = Pipeline.from_yaml(yaml.safe_dump(data, sort_keys=False))
    labels = reversed_pipeline.labels
    assert labels[0] == "isr"
    assert labels.index("makeWarp") < labels.index("assembleCoadd") < labels.index("forcedPhotCcd")
    assert reversed_pipeline.digest() == Pipeline.from_file(demo_pipeline_path()).digest()


def test_renamed_connections_and_config_overrides_apply() -> None:
    text = f"tasks:\n  scale:\n    class: {T}.AtoB\n    config:\n      factor: 2.5\n    connections:\n      b: bScaled\n"
    pipeline = Pipeline.from_yaml(text)
    node = pipeline["scale"]
    assert node.config.model_dump() == {"factor": 2.5}
    assert node.connections["b"].dataset_type == "bScaled"
    assert pipeline.producers == {"bScaled": "scale"}


MISTAKES = {
    "yaml syntax": ("tasks:\n  isr:\n    class: [unclosed\n", r"not valid YAML at line \d+, column \d+"),
    "not a mapping": ("- just\n- a list\n", "must be a mapping with a 'tasks' key"),
    "no tasks": ("description: nothing\n", r"tasks.*Field required"),
    "unknown top-level key": (f"taks: {{}}\ntasks:\n  a:\n    class: {T}.AtoB\n", "unknown key 'taks'"),
    "missing class": ("tasks:\n  a:\n    config: {}\n", r"class"),
    "unknown module": ("tasks:\n  a:\n    class: tests.support.taskz.AtoB\n", "cannot import module"),
    "unknown class": (f"tasks:\n  a:\n    class: {T}.AtoC\n", "has no class 'AtoC'"),
    "not a task": (f"tasks:\n  a:\n    class: {T}.NotATask\n", "is not a PipelineTask subclass"),
    "unknown config field": (
        f"tasks:\n  a:\n    class: {T}.AtoB\n    config:\n      factr: 2\n",
        "unknown config field 'factr'",
    ),
    "bad config value": (
        f"tasks:\n  a:\n    class: {T}.AtoB\n    config:\n      factor: big\n",
        "config field 'factor' = 'big'",
    ),
    "unknown connection": (
        f"tasks:\n  a:\n    class: {T}.AtoB\n    connections:\n      bb: x\n",
        "renames unknown connection 'bb'",
    ),
    "cycle": (f"tasks:\n  a:\n    class: {T}.AtoB\n  b:\n    class: {T}.BtoA\n", "cycle"),
    "two producers": (f"tasks:\n  a:\n    class: {T}.AtoB\n  b:\n    class: {T}.AtoBAgain\n", "both produce"),
    "prerequisite produced": (
        f"tasks:\n  a:\n    class: {T}.AtoB\n  p:\n    class: {T}.NeedsBAsPrerequisite\n",
        "is produced by task 'a'",
    ),
    "output outside quantum": (f"tasks:\n  w:\n    class: {T}.WideOutput\n", "lack"),
    "unknown dimension": (f"tasks:\n  u:\n    class: {T}.UnknownDimension\n", "unknown dimension 'vist'"),
    "two definitions": (
        f"tasks:\n  a:\n    class: {T}.AtoB\n  o:\n    class: {T}.BWithOtherDimensions\n",
        "dataset type 'b' has two definitions",
    ),
    "bad label": (f"tasks:\n  1bad:\n    class: {T}.AtoB\n", "invalid task label"),
}


@pytest.mark.parametrize("kind", sorted(MISTAKES))
def test_each_mistake_is_a_clear_error(kind: str) -> None:
    text, message = MISTAKES[kind]
    with pytest.raises(PipelineError, match=message) as caught:
        Pipeline.from_yaml(text, source="my.yaml")
    assert str(caught.value).startswith("my.yaml")


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        (f"tasks:\n  a:\n    class: {T}.AtoBAgian\n", "did you mean 'AtoBAgain'"),
        (f"tasks:\n  a:\n    class: {T}.AtoB\n    config:\n      factr: 2\n", "did you mean 'factor'"),
        (f"tasks:\n  a:\n    class: {T}.AtoB\n    connections:\n      bb: x\n", "did you mean 'b'"),
        (f"tasks:\n  u:\n    class: {T}.UnknownDimension\n", "did you mean 'visit'"),
        (f"taks: {{}}\ntasks:\n  a:\n    class: {T}.AtoB\n", "did you mean 'tasks'"),
    ],
)
def test_misspellings_get_close_matches(text: str, suggestion: str) -> None:
    with pytest.raises(PipelineError) as caught:
        Pipeline.from_yaml(text)
    assert suggestion in (caught.value.hint or "")


def test_missing_file_is_named(tmp_path: object) -> None:
    with pytest.raises(PipelineError, match="does not exist"):
        Pipeline.from_file("/nonexistent/pipeline.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"tasks:\n  a:\n    class: {T}.AtoB\n  a:\n    class: {T}.AtoB\n",
            "at line 4, column 3: duplicate key 'a' at line 2 and again at line 4",
        ),
        (
            f"tasks:\n  a:\n    class: {T}.AtoB\n    config: {{factor: 2, factor: 3}}\n",
            "duplicate key 'factor' at line 4, columns 14 and 25",
        ),
        ("description: x\ntasks: {}\ndescription: y\n", "duplicate key 'description' at line 1"),
    ],
)
def test_a_key_given_twice_anywhere_is_an_error_naming_both_places(text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        Pipeline.from_yaml(text)


def test_a_merged_key_may_still_be_overridden() -> None:
    """YAML's merge key (<<) is not a duplicate: the mapping's own key wins, as YAML says."""
    text = f"tasks:\n  a: &a\n    class: {T}.AtoB\n    config: {{factor: 2}}\n  b:\n    <<: *a\n    config: {{factor: 3}}\n"
    with pytest.raises(PipelineError, match="both produce"):  # loaded, then checked as a pipeline
        Pipeline.from_yaml(text)
