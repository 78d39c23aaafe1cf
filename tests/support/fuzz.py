"""Fuzzing (issue 8): hypothesis strategies for every kind of input a user gives us, and the property.

The property is the same for every input: it is accepted, or it is refused with a
`ProvenanceGraphError` whose message is not empty. Any other exception would reach the
user as a traceback, and is a bug. `accepted_or_ours` checks it.

The strategies start from what is valid (the demo pipeline, data queries of the docs, a
small plan file) and mutate it, structurally and byte by byte, and add plain random
input. Class paths in pipelines are drawn from a fixed list and small edits of it, never
from free text: loading a pipeline imports its task modules, and free text could name a
module with effects on import.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from provenance_graph.demo import demo_pipeline_path
from provenance_graph.errors import ProvenanceGraphError
from provenance_graph.model import DEFAULT_UNIVERSE, ID_NAMESPACE, Quantum
from provenance_graph.pipeline import Pipeline
from provenance_graph.planfile import save_plan
from provenance_graph.synthetic import drp_plan
from tests.conftest import ReliabilityCounts

T = TypeVar("T")


def fuzz_settings(max_examples: int) -> settings:
    """Fixed, reproducible settings: the same inputs on every run and machine."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # `reliability` and the store keep no state per example
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def accepted_or_ours(
    call: Callable[[], T], expected: type[ProvenanceGraphError] = ProvenanceGraphError
) -> tuple[T | None, ProvenanceGraphError | None]:
    """Run ``call``: its result if accepted, or our error if refused; any other exception fails the test.

    ``expected`` narrows which of our errors may refuse it (a plan file: `PlanFileError`).
    """
    try:
        return call(), None
    except expected as err:
        refused = err
    except Exception as err:  # the bug a fuzzer looks for
        raise AssertionError(f"not {expected.__name__}: {type(err).__name__}: {err}"[:2000]) from err
    assert refused.message.strip(), f"{type(refused).__name__} with an empty message"
    return None, refused


def tried(reliability: ReliabilityCounts, kind: str, accepted: bool, *, command: bool = False) -> None:
    """Count one input of ``kind`` (e.g. "plan files") in the report, and whether it was accepted."""
    reliability.count("inputs fuzzed")
    reliability.count(f"inputs fuzzed: {kind}")
    if command:
        reliability.count("inputs fuzzed: through provgraph commands")
    if accepted:
        reliability.count(f"inputs fuzzed: {kind}: accepted")


# --- values of any shape -----------------------------------------------------------------

#: Text that would change a YAML document, a query or a path if pasted into one.
NASTY = [
    "", " ", "'", '"', "`", "\\", "{", "}", "[", "]", "(", ")", ":", ": ", "- ", ",", ";", "#", "&a", "*a",
    "!!python/object:os.system", "\n", "\r\n", "\t", "\x00", "\x7f", "\u2028", "\ufeff", "\ud800", "\udcff",
    "é", "ß", "١٢", "²", "\U0001d518", "../..", "/", "$x", "//", "' OR 1=1 //", "NaN", "-0", "--5",
    "9" * 5000, "0x" + "f" * 4000,
]  # fmt: skip

#: Text of any code points, lone surrogates (what undecodable bytes of argv become) included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12) | st.sampled_from(NASTY)

#: Integers, with the edges of Neo4j's 64-bit integers and beyond.
any_int = st.integers() | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, -1, 0])

scalars = st.none() | st.booleans() | any_int | st.floats() | any_text
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to three byte-level edits: truncation, bit flips, inserted or deleted bytes."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "snippet"]))
        if edit == "truncate":
            data = data[:at]
        elif edit == "flip" and data:
            i = min(at, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
        elif edit == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif edit == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 64)) :]
        else:
            snippet = draw(st.sampled_from(NASTY))
            data = data[:at] + snippet.encode("utf-8", "surrogatepass") + data[at:]
    return data


Edit = Callable[[st.DrawFn, dict[str, Any]], None]


def edited(
    draw: st.DrawFn,
    document: dict[str, Any],
    edits: Sequence[Edit],
    encode: Callable[[Any], bytes],
    at_least: int,
) -> bytes:
    """A copy of ``document`` with up to three of ``edits``, encoded, and in one case of three byte-edited."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(at_least, 3))):
        draw(st.sampled_from(edits))(draw, doc)
    data = encode(doc)
    if draw(st.integers(0, 2)) == 0:
        data = draw(mutated_bytes(data))
    return data


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


def replace_somewhere(draw: st.DrawFn, doc: Any, protect: Sequence[tuple[Any, ...]] = ()) -> Any:
    """``doc`` with the value at one random path replaced by a random value, or removed."""
    paths = [p for p in _paths(doc) if p not in protect]
    path = draw(st.sampled_from(paths))
    if not path:
        return draw(json_values)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = draw(json_values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    return doc


def nested(depth: int, kind: str) -> str:
    """Text of ``depth`` nested lists or mappings (YAML flow style, also JSON)."""
    if kind == "list":
        return "[" * depth + "1" + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


#: How deep generated YAML nests. PyYAML's time grows with the square of the depth of flow
#: lists (5000 levels take seconds), and it gives up at about 300 levels anyway.
YAML_DEPTHS = st.sampled_from([2, 50, 300, 1200])
NESTINGS = st.sampled_from(["list", "map"])


# --- pipeline YAML -----------------------------------------------------------------------

DEMO_PIPELINE_TEXT = demo_pipeline_path().read_text(encoding="utf-8")
DEMO_PIPELINE: dict[str, Any] = yaml.safe_load(DEMO_PIPELINE_TEXT)
_DEMO = Pipeline.from_yaml(DEMO_PIPELINE_TEXT)
DEMO_LABELS = _DEMO.labels
DEMO_CONNECTIONS = {node.label: sorted(node.connections) for node in _DEMO}
DEMO_CONFIG_FIELDS = sorted({f for node in _DEMO for f in type(node.config).model_fields})
DEMO_DATASET_TYPES = sorted(_DEMO.dataset_types)

_TASKS = "provenance_graph.demo.tasks"
_SUPPORT = "tests.support.tasks"
#: Class paths: the real ones, test tasks with broken declarations, and every way to get one wrong.
CLASS_PATHS = [
    *(node.class_path for node in _DEMO),
    *(f"{_SUPPORT}.{c}" for c in ("AtoB", "BtoA", "AtoBAgain", "NeedsBAsPrerequisite", "WideOutput")),
    *(f"{_SUPPORT}.{c}" for c in ("UnknownDimension", "BWithOtherDimensions", "NotATask")),
    f"{_TASKS}.DemoTask", f"{_TASKS}.IsrTsk", f"{_TASKS}.ZERO_POINTS", f"{_TASKS}.find_peaks", _TASKS,
    "provenance_graph.pipeline.PipelineTask", "provenance_graph.errors.PipelineError",
    "provenance_graph.demo.taks.IsrTask", "provenance_graph.nosuch.module.Task", "nosuchpackage.Task",
    "IsrTask", "", ".", "..x.Y", f"{_TASKS}.", f".{_TASKS}.IsrTask", f"{_TASKS}.IsrTask\x00", "a\x00.b",
]  # fmt: skip

class_paths = st.sampled_from(CLASS_PATHS) | st.builds(
    lambda name, edit: f"{_TASKS}.{edit}{name}{edit}",
    st.sampled_from([p.rpartition(".")[2] for p in CLASS_PATHS[:12]]),
    st.sampled_from(["", " ", "_", "\u00e9", "\ud800", "1", "."]),
)
labels = st.sampled_from([*DEMO_LABELS, "isr2", "_x", "Task", "a" * 300]) | any_text
dataset_type_names = st.sampled_from([*DEMO_DATASET_TYPES, "calexp.wcs", "a.b.c", "x" * 300]) | any_text


def _a_task(draw: st.DrawFn, doc: dict[str, Any]) -> str | None:
    tasks = doc.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        return None
    return str(draw(st.sampled_from(sorted(tasks, key=str))))


def _entry(doc: dict[str, Any], label: str) -> dict[str, Any] | None:
    entry = doc["tasks"][label]
    return entry if isinstance(entry, dict) else None


def _drop_task(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    if (label := _a_task(draw, doc)) is not None:
        del doc["tasks"][label]


def _relabel(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    if (label := _a_task(draw, doc)) is not None:
        doc["tasks"][draw(labels)] = doc["tasks"].pop(label)


def _set_class(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    if (label := _a_task(draw, doc)) is not None and (entry := _entry(doc, label)) is not None:
        entry["class"] = draw(class_paths | json_values)


def _set_config(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    if (label := _a_task(draw, doc)) is None or (entry := _entry(doc, label)) is None:
        return
    if draw(st.booleans()):
        entry["config"] = draw(json_values)
    else:
        config = entry.setdefault("config", {})
        if isinstance(config, dict):
            config[draw(st.sampled_from(DEMO_CONFIG_FIELDS) | any_text)] = draw(json_values)


def _rename_connection(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """Rename a connection's dataset type: to another of the pipeline's (cycles, two producers) or junk."""
    if (label := _a_task(draw, doc)) is None or (entry := _entry(doc, label)) is None:
        return
    names = DEMO_CONNECTIONS.get(label, [])
    connection = draw(st.sampled_from(names) | any_text) if names else draw(any_text)
    renames = entry.setdefault("connections", {})
    if isinstance(renames, dict):
        renames[connection] = draw(dataset_type_names | json_values)


def _unknown_key(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    target = doc
    if (label := _a_task(draw, doc)) is not None and draw(st.booleans()):
        target = _entry(doc, label) or doc
    target[draw(st.sampled_from(["classs", "conifg", "connection", "task", "Tasks"]) | any_text)] = draw(
        json_values
    )


def _anywhere(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    replace_somewhere(draw, doc)


_PIPELINE_EDITS = [_drop_task, _relabel, _set_class, _set_config, _rename_connection, _unknown_key, _anywhere]


@st.composite
def pipeline_files(draw: st.DrawFn) -> bytes:
    """The demo pipeline with one to three structural edits, then perhaps byte-level ones."""
    return edited(draw, DEMO_PIPELINE, _PIPELINE_EDITS, _yaml_bytes, at_least=1)


def _yaml_bytes(doc: Any) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


#: Pipeline files that are not the demo pipeline at all.
random_pipeline_files = (
    st.binary(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | st.lists(st.sampled_from(NASTY) | st.sampled_from(["tasks:", "  isr:", "    class: ", "description:"]))
    .map("\n".join)
    .map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.builds(lambda depth, kind: f"tasks: {nested(depth, kind)}".encode(), YAML_DEPTHS, NESTINGS)
)


# --- data-query expressions --------------------------------------------------------------

VALID_EXPRESSIONS = [
    "instrument = 'DemoCam' AND visit IN (1..2)",
    "instrument='HSC' AND visit IN (1..10) AND detector != 3",
    "visit IN (1, 3, 5..9, 10..20:2)",
    "NOT (band = 'g' OR band = \"r\") AND tract >= 0",
    "visit NOT IN (2, 4) and detector <= 7",
    "(visit < 3 OR visit > 5) AND skymap = 'demoSkyMap' AND patch IN (0..8)",
]
DIMENSIONS = list(DEFAULT_UNIVERSE.dimensions)
EXPRESSION_TOKENS = [
    *DIMENSIONS, "vist", "Visit", "id", "AND", "and", "OR", "NOT", "IN", "not in", "=", "!=", "<", "<=", ">",
    ">=", "==", "=<", "(", ")", ",", "..", ":", "1", "-3", "0", "99999999999999999999", "'DemoCam'", '"g"',
    "'", '"', "'unclosed", "1..5", "1..5:2", "5..1", "1..5:0", "1..5:-1", "0..1000000000000",
]  # fmt: skip

expression_tokens = st.sampled_from(EXPRESSION_TOKENS) | st.sampled_from(NASTY) | any_text


@st.composite
def mutated_expressions(draw: st.DrawFn) -> str:
    """A valid data query with one to three edits: inserted tokens, deleted or repeated slices."""
    text = draw(st.sampled_from(VALID_EXPRESSIONS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "repeat"]))
        if edit == "insert":
            text = text[:at] + draw(expression_tokens) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 10)) :]
        else:
            text = text[:at] + text[at:] * 2
    return text


expressions = (
    mutated_expressions()
    | st.lists(expression_tokens, max_size=12).map(" ".join)
    | st.lists(expression_tokens, max_size=12).map("".join)
)

#: A data ID with a value of the right type for every dimension, to evaluate accepted queries on.
FULL_DATA_ID = {d: (3 if DEFAULT_UNIVERSE.value_type(d) is int else "g") for d in DIMENSIONS}


# --- data IDs and dataset types ----------------------------------------------------------

dimension_names = st.sampled_from([*DIMENSIONS, "Visit", "id", "plan_id", "", "1a", "a-b", "x y"]) | any_text
dimension_values = any_int | any_text | scalars | json_values
data_id_mappings = st.dictionaries(dimension_names, dimension_values, max_size=5)
#: What a data ID may be given as: a mapping, pairs, or anything at all (JSON of a plan file).
data_ids = (
    data_id_mappings
    | st.lists(st.tuples(dimension_names, dimension_values) | json_values, max_size=4)
    | json_values
)
_values_as_text = any_int.map(str) | st.sampled_from(NASTY) | any_text
#: Data IDs as typed on the command line: JSON, or key=value,...
data_id_texts = (
    data_id_mappings.map(lambda d: json.dumps(d, ensure_ascii=False))
    | st.lists(st.builds("{}={}".format, dimension_names, _values_as_text), max_size=4).map(",".join)
    | st.builds(nested, st.integers(1, 100_000), NESTINGS)
    | any_text
)
data_id_items = st.lists(st.builds("{}={}".format, dimension_names, _values_as_text) | any_text, max_size=4)

storage_classes = st.sampled_from(["Image", "Catalog", "StructuredData"]) | any_text | json_values
dimension_lists = st.lists(dimension_names, max_size=4) | json_values


# --- config overrides --------------------------------------------------------------------

CONFIG_VALUES = [
    "60000", "1e999", ".nan", "-.inf", "[{visit: 2}]", "[{visit: [1]}]", "[{1: 2}]", "{", "[", "'", "~",
    "!!python/object:os.system {}", "2020-13-45", "!!float x", "!!int x", "!!binary '!'", "9" * 5000,
    "true", "0x" + "f" * 4000, "[{visit: 0x" + "f" * 4000 + "}]", ":".join(["59"] * 3000), '"\\ud800"',
    "&a [*a]", "*a", "[" * 1200, nested(1200, "list"), nested(5000, "map"),
]  # fmt: skip
config_overrides = st.lists(
    st.builds(
        "{}:{}={}".format,
        st.sampled_from(DEMO_LABELS) | labels,
        st.sampled_from(DEMO_CONFIG_FIELDS) | any_text,
        st.sampled_from(CONFIG_VALUES) | any_text | json_values.map(json.dumps),
    )
    | any_text,
    min_size=1,
    max_size=3,
)


# --- plan files --------------------------------------------------------------------------


def plan_document(plan_id: str, run: str) -> dict[str, Any]:
    """The JSON document of a small valid plan file (a DRP plan of 1 visit x 2 detectors)."""
    graph = drp_plan(1, 2, plan_id=plan_id, output_run=run, raw_run=f"{run}/raw", calib_run=f"{run}/calib")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "plan.json.gz"
        save_plan(graph, path)
        document: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return document


def _quanta(doc: dict[str, Any]) -> list[list[Any]]:
    """The quantum entries that still have their shape: [id, label, {data ID}, run, [inputs], [outputs]]."""
    quanta = doc.get("quanta")
    if not isinstance(quanta, list):
        return []
    return [
        q
        for q in quanta
        if isinstance(q, list) and len(q) == 6 and isinstance(q[2], dict)
        and isinstance(q[4], list) and isinstance(q[5], list)
    ]  # fmt: skip


def _two_producers(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """A new quantum, with a correct id, that writes what another quantum writes."""
    if not (quanta := _quanta(doc)):
        return
    twin = copy.deepcopy(draw(st.sampled_from(quanta)))
    twin[2] = {**twin[2], "visit": 99} if "visit" in twin[2] else {**twin[2], "tract": 99}
    try:
        twin[0] = Quantum(task_label=twin[1], data_id=twin[2], run=twin[3]).id
    except (ProvenanceGraphError, ValueError):
        return  # an earlier edit broke the entry already
    doc["quanta"].append(twin)


def _cycle(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """An earlier quantum reads what a later one (often its descendant) writes; ids stay valid."""
    if len(quanta := _quanta(doc)) < 2:
        return
    first, second = sorted(draw(st.lists(st.integers(0, len(quanta) - 1), min_size=2, max_size=2)))
    quanta[first][4].extend(quanta[second][5])


def _dangling(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """A quantum refers to a dataset index that is not there."""
    if not (quanta := _quanta(doc)):
        return
    size = len(doc["datasets"]) if isinstance(doc.get("datasets"), list) else 0
    entry = draw(st.sampled_from(quanta))
    entry[draw(st.sampled_from([4, 5]))].append(draw(st.sampled_from([size, -1, 10**30])))


def _duplicate(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """A quantum or a dataset listed twice."""
    key = draw(st.sampled_from(["quanta", "datasets", "dataset_types"]))
    if isinstance(doc.get(key), list) and doc[key]:
        doc[key].append(copy.deepcopy(draw(st.sampled_from(doc[key]))))


def _version(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    doc["version"] = draw(st.sampled_from([0, 1, 3, "2", None, 2.0, True, -1, 10**30]) | json_values)


def dataset_id(run: str, dataset_type: str, data_id: dict[str, Any]) -> str:
    """The id `DatasetRef.id` computes from these parts, even for a data ID it refuses.

    An edited data ID with its id recomputed gets past the file's id check, to whatever
    comes after it.
    """
    key = json.dumps(dict(sorted(data_id.items())), separators=(",", ":"), ensure_ascii=False)
    name = "\x1f".join([run, dataset_type, key]).encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(ID_NAMESPACE.bytes + name).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=5))


def with_data_id_value(document: dict[str, Any], dimension: str, value: Any) -> bytes:
    """A plan file of ``document``: its first dataset has ``value`` for ``dimension``, and a matching id."""
    doc = copy.deepcopy(document)
    entry = doc["datasets"][0]
    entry[2][dimension] = value
    entry[0] = dataset_id(entry[3], entry[1], entry[2])
    return gzip_json(doc)


def _data_id_value(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """A data ID value of a dataset or quantum becomes something else; a dataset's id may follow."""
    key = draw(st.sampled_from(["datasets", "quanta"]))
    if not isinstance(doc.get(key), list) or not doc[key]:
        return
    entry = draw(st.sampled_from(doc[key]))
    if not (isinstance(entry, list) and len(entry) > 3 and isinstance(entry[2], dict)):
        return
    entry[2][draw(st.sampled_from(sorted(entry[2])) | dimension_names)] = draw(dimension_values)
    if key == "datasets" and isinstance(entry[1], str) and isinstance(entry[3], str) and draw(st.booleans()):
        entry[0] = dataset_id(entry[3], entry[1], entry[2])


def _doc_anywhere(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    replace_somewhere(draw, doc, protect=[(), ("plan",), ("plan", "id")])


_PLAN_EDITS = [_two_producers, _cycle, _dangling, _duplicate, _version, _data_id_value, _doc_anywhere]


def gzip_json(document: Any) -> bytes:
    """``document`` as a plan file's bytes (lone surrogates written as JSON escapes)."""
    return gzip.compress(json.dumps(document).encode(), mtime=0)


@st.composite
def plan_files(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """A plan file of ``document`` with edits to its JSON, or to its gzip bytes, or both.

    The plan's id is never edited: an accepted file is stored under it, and deleted after.
    """
    return edited(draw, document, _PLAN_EDITS, gzip_json, at_least=0)


random_plan_files = (
    st.binary(max_size=100)
    | st.binary(max_size=100).map(gzip.compress)
    | json_values.map(gzip_json)
    | st.builds(
        lambda depth, kind: gzip.compress(nested(depth, kind).encode()), st.integers(1, 10**5), NESTINGS
    )
)
