"""`Pipeline`: tasks loaded from a YAML definition, checked, and put in dependency order.

A pipeline file names each task's label, the import path of its class, config
overrides and, optionally, new dataset type names for its connections::

    description: A small data-release pipeline
    tasks:
      isr:
        class: provenance_graph.demo.tasks.IsrTask
        config:
          saturation: 60000
      characterizeImage:
        class: provenance_graph.demo.tasks.CharacterizeImageTask
        connections:
          exposure: postISRCCD

Loading checks everything that can be checked without a repository, and
raises `PipelineError` naming the culprit (with close matches where a name was
misspelt): YAML syntax, unknown keys, classes that do not import or are not
tasks, unknown or ill-typed config fields, unknown connections, unknown
dimensions, outputs outside the quantum dimensions, one dataset type with two
definitions, two tasks producing one dataset type, a prerequisite that a task
produces, and cycles. Whether every overall input exists is checked by
pre-flight, against the repository.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provenance_graph.errors import ModelError, PipelineError, ProvenanceGraphError
from provenance_graph.model import (
    DEFAULT_UNIVERSE,
    DatasetRef,
    DatasetType,
    DimensionUniverse,
    Quantum,
    suggest,
)
from provenance_graph.model._names import check_task_label
from provenance_graph.pipeline._connections import Connection, ConnectionKind
from provenance_graph.pipeline._task import PipelineTask, TaskConfig
from provenance_graph.textfiles import read_text_file

__all__ = ["DuplicateKeyError", "Pipeline", "PipelineFile", "TaskEntry", "TaskNode", "YamlLoader"]

_log = logging.getLogger(__name__)


class TaskEntry(BaseModel):
    """One task of a pipeline file."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    class_path: str = Field(alias="class")
    """Import path of the task class, ``package.module.ClassName``."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Config field overrides."""
    connections: dict[str, str] = Field(default_factory=dict)
    """New dataset type names for connections, by connection name."""


class PipelineFile(BaseModel):
    """The content of a pipeline YAML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    """What the pipeline does."""
    tasks: dict[str, TaskEntry]
    """The tasks, by label."""


@dataclass(frozen=True)
class TaskNode:
    """A task of a loaded pipeline: its label, class, validated config and resolved connections."""

    label: str
    task_class: type[PipelineTask]
    config: TaskConfig
    connections: Mapping[str, Connection]

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The quantum dimensions, sorted."""
        return tuple(sorted(self.task_class.dimensions))

    @property
    def class_path(self) -> str:
        """The import path of the task class."""
        return f"{self.task_class.__module__}.{self.task_class.__qualname__}"

    def inputs(self) -> dict[str, Connection]:
        """Regular and prerequisite inputs, by connection name."""
        return {n: c for n, c in self.connections.items() if c.is_input}

    def outputs(self) -> dict[str, Connection]:
        """Outputs, by connection name."""
        return {n: c for n, c in self.connections.items() if not c.is_input}

    def make_task(self) -> PipelineTask:
        """Instantiate the task."""
        return self.task_class(self.label, self.config, self.connections)


def _located(err: ValidationError, where: str) -> PipelineError:
    first = err.errors()[0]
    path = [str(p) for p in first["loc"]]
    loc = ".".join(path)
    place = f"{where}: {loc}" if loc else where
    hint = None
    if first["type"] == "extra_forbidden":
        allowed = ["description", "tasks"] if len(path) == 1 else ["class", "config", "connections"]
        return PipelineError(
            f"{where}: unknown key {path[-1]!r}" + (f" in {'.'.join(path[:-1])}" if len(path) > 1 else ""),
            hint=suggest(path[-1], allowed) or f"allowed keys: {', '.join(allowed)}",
        )
    if first["type"] == "missing":
        hint = f"add {first['loc'][-1]!r}"
    return PipelineError(f"{place}: {first['msg']}", hint=hint)


class Pipeline:
    """An ordered, checked set of tasks.

    Build it with `Pipeline.from_file`, `Pipeline.from_yaml` or
    `Pipeline.from_definition`. Iterating yields `TaskNode` in dependency order.
    """

    def __init__(self, definition: PipelineFile, universe: DimensionUniverse = DEFAULT_UNIVERSE) -> None:
        self.definition = definition
        self.universe = universe
        nodes = [self._load_task(label, entry) for label, entry in definition.tasks.items()]
        if not nodes:
            raise PipelineError("the pipeline has no tasks", hint="list at least one task under 'tasks:'")
        self.dataset_types = self._check_dataset_types(nodes)
        self.producers = self._check_producers(nodes)
        self.tasks = self._order(nodes)

    # --- construction ----------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, universe: DimensionUniverse = DEFAULT_UNIVERSE) -> Pipeline:
        """Load a pipeline YAML file: a regular file of at most 10 MB (`textfiles.read_text_file`)."""
        path = Path(path)
        text = read_text_file(path, "pipeline file", PipelineError)
        return cls.from_yaml(text, source=str(path), universe=universe)

    @classmethod
    def from_yaml(
        cls, text: str, *, source: str = "<pipeline>", universe: DimensionUniverse = DEFAULT_UNIVERSE
    ) -> Pipeline:
        """Load a pipeline from YAML text; ``source`` names it in errors."""
        data = _load_yaml(text, source)
        if not isinstance(data, dict):
            raise PipelineError(
                f"{source} must be a mapping with a 'tasks' key, not {type(data).__name__}",
                hint="start the file with 'tasks:' and one entry per task label",
            )
        try:
            definition = PipelineFile.model_validate(data)
        except ValidationError as err:
            raise _located(err, source) from None
        try:
            return cls(definition, universe)
        except PipelineError as err:
            raise PipelineError(f"{source}: {err.message}", hint=err.hint) from None

    # --- checks ----------------------------------------------------------------------
    def _load_task(self, label: str, entry: TaskEntry) -> TaskNode:
        try:
            check_task_label(label)
        except ProvenanceGraphError as err:
            raise PipelineError(f"task {label!r}: {err.message}", hint=err.hint) from None
        task_class = _import_task_class(label, entry.class_path)
        config = _make_config(label, task_class, entry.config)
        try:
            dims = self.universe.check(task_class.dimensions, f"task {label!r} ({entry.class_path})")
        except ModelError as err:
            raise PipelineError(err.message, hint=err.hint) from None
        connections: dict[str, Connection] = {}
        unknown = set(entry.connections) - set(task_class.connections)
        if unknown:
            name = sorted(unknown)[0]
            raise PipelineError(
                f"task {label!r} renames unknown connection {name!r}",
                hint=suggest(name, sorted(task_class.connections))
                or f"its connections: {', '.join(sorted(task_class.connections))}",
            )
        if not task_class.connections:
            raise PipelineError(f"task {label!r} ({entry.class_path}) declares no connections")
        for name, declared in task_class.connections.items():
            conn = declared
            if name in entry.connections:
                try:
                    conn = declared.renamed(entry.connections[name])
                except ProvenanceGraphError as err:
                    raise PipelineError(f"task {label!r}, connection {name!r}: {err.message}") from None
            where = f"connection {name!r} ({conn.dataset_type}) of task {label!r}"
            try:
                self.universe.check(conn.dimensions, where)
            except ModelError as err:
                raise PipelineError(err.message, hint=err.hint) from None
            if conn.kind is ConnectionKind.OUTPUT and not set(conn.dimensions) <= set(dims):
                extra = sorted(set(conn.dimensions) - set(dims))
                raise PipelineError(
                    f"output {where} has dimensions {', '.join(extra)} that the task's quantum "
                    f"dimensions ({', '.join(dims)}) lack",
                    hint="an output's dimensions must be among the quantum dimensions",
                )
            connections[name] = conn
        seen: dict[str, str] = {}
        for name, conn in connections.items():
            if conn.dataset_type in seen:
                raise PipelineError(
                    f"task {label!r} uses dataset type {conn.dataset_type!r} in two connections: "
                    f"{seen[conn.dataset_type]!r} and {name!r}",
                    hint="rename one of them under 'connections:'",
                )
            seen[conn.dataset_type] = name
        return TaskNode(label=label, task_class=task_class, config=config, connections=connections)

    def _check_dataset_types(self, nodes: list[TaskNode]) -> dict[str, DatasetType]:
        found: dict[str, tuple[DatasetType, str]] = {}
        for node in nodes:
            for name, conn in node.connections.items():
                dtype = conn.as_dataset_type()
                where = f"task {node.label!r} connection {name!r}"
                if dtype.name in found and found[dtype.name][0] != dtype:
                    other, other_where = found[dtype.name]
                    raise PipelineError(
                        f"dataset type {dtype.name!r} has two definitions: "
                        f"{_describe(other)} in {other_where} and {_describe(dtype)} in {where}",
                        hint="make the connections agree, or rename one dataset type under 'connections:'",
                    )
                found.setdefault(dtype.name, (dtype, where))
        return {name: t for name, (t, _) in found.items()}

    def _check_producers(self, nodes: list[TaskNode]) -> dict[str, str]:
        producers: dict[str, str] = {}
        for node in nodes:
            for conn in node.outputs().values():
                if conn.dataset_type in producers:
                    raise PipelineError(
                        f"tasks {producers[conn.dataset_type]!r} and {node.label!r} both produce "
                        f"dataset type {conn.dataset_type!r}",
                        hint="a dataset type has one producing task; rename one output under 'connections:'",
                    )
                producers[conn.dataset_type] = node.label
        for node in nodes:
            for name, conn in node.inputs().items():
                if conn.kind is ConnectionKind.PREREQUISITE and conn.dataset_type in producers:
                    raise PipelineError(
                        f"prerequisite input {name!r} ({conn.dataset_type}) of task {node.label!r} is "
                        f"produced by task {producers[conn.dataset_type]!r}",
                        hint="a prerequisite must exist before the pipeline runs; "
                        "declare it as a regular Input instead",
                    )
        return producers

    def _order(self, nodes: list[TaskNode]) -> list[TaskNode]:
        parents: dict[str, set[str]] = {}
        for node in nodes:
            parents[node.label] = set()
            for conn in node.inputs().values():
                producer = self.producers.get(conn.dataset_type)
                if producer == node.label:
                    raise PipelineError(
                        f"task {node.label!r} reads {conn.dataset_type!r}, which it writes itself",
                        hint="a task cannot consume its own output",
                    )
                if producer is not None:
                    parents[node.label].add(producer)
        sorter: TopologicalSorter[str] = TopologicalSorter(parents)
        try:
            sorter.prepare()
        except CycleError as err:
            raise PipelineError(
                f"tasks depend on each other in a cycle: {' -> '.join(err.args[1])}",
                hint="a task must not read, directly or through other tasks, what it writes",
            ) from None
        # Keep the file's order wherever the dependencies allow it.
        by_label = {n.label: n for n in nodes}
        done: list[str] = []
        remaining = list(by_label)
        while remaining:
            ready = next(label for label in remaining if parents[label] <= set(done))
            done.append(ready)
            remaining.remove(ready)
        return [by_label[label] for label in done]

    # --- the pipeline ----------------------------------------------------------------
    def __iter__(self) -> Iterator[TaskNode]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, label: str) -> TaskNode:
        for node in self.tasks:
            if node.label == label:
                return node
        raise KeyError(label)

    @property
    def labels(self) -> list[str]:
        """Task labels in execution order."""
        return [n.label for n in self.tasks]

    def overall_inputs(self) -> dict[str, DatasetType]:
        """Dataset types read by some task and produced by none: they must be in the repository."""
        return {
            conn.dataset_type: conn.as_dataset_type()
            for node in self.tasks
            for conn in node.inputs().values()
            if conn.dataset_type not in self.producers
        }

    def check_quantum(self, quantum: Quantum) -> None:
        """Check that ``quantum`` is one this pipeline's tasks could have planned.

        Its task is in the pipeline; its data ID has exactly the task's quantum dimensions;
        its inputs are of the task's input dataset types; and its outputs are exactly
        those the task's output connections derive: one of each, at the quantum's data ID
        restricted to the output's dimensions, in the quantum's run. A plan file edited
        by hand is checked this way before anything of it is stored or run.

        Raises
        ------
        PipelineError
            Naming the first thing that does not hold.
        """
        label = quantum.task_label
        node = next((n for n in self.tasks if n.label == label), None)
        if node is None:
            raise PipelineError(
                f"task {label!r} of quantum {quantum} is not in the pipeline",
                hint=suggest(label, self.labels) or f"its tasks: {', '.join(self.labels)}",
            )
        if quantum.data_id.dimensions != node.dimensions:
            raise PipelineError(
                f"quantum {quantum} has dimensions {', '.join(quantum.data_id.dimensions)}; task "
                f"{label!r} has {', '.join(node.dimensions)}"
            )
        inputs = {c.dataset_type: c.as_dataset_type() for c in node.inputs().values()}
        for ref in quantum.inputs:
            if inputs.get(ref.dataset_type.name) != ref.dataset_type:
                raise PipelineError(
                    f"quantum {quantum} reads {ref}, which is not one of task {label!r}'s inputs "
                    f"({', '.join(sorted(inputs)) or 'none'})"
                )
        expected = {
            ref.id: ref
            for ref in (
                DatasetRef(
                    dataset_type=conn.as_dataset_type(),
                    data_id=quantum.data_id.subset(conn.dimensions),
                    run=quantum.run,
                )
                for conn in node.outputs().values()
            )
        }
        found = {ref.id: ref for ref in quantum.outputs}
        if found.keys() != expected.keys() or any(expected[i] != ref for i, ref in found.items()):
            missing = [str(r) for i, r in expected.items() if found.get(i) != r]
            extra = [str(r) for i, r in found.items() if expected.get(i) != r]
            parts = ([f"lacks {', '.join(missing)}"] if missing else []) + (
                [f"has {', '.join(extra)} besides"] if extra else []
            )
            raise PipelineError(
                f"the outputs of quantum {quantum} are not what the connections of task {label!r} derive: "
                + "; ".join(parts)
            )

    def with_config(self, overrides: Mapping[str, Mapping[str, Any]]) -> Pipeline:
        """A copy with config fields overridden: ``{label: {field: value}}``.

        Raises `PipelineError` naming an unknown label or field, or a bad value.
        """
        tasks = dict(self.definition.tasks)
        for label, fields in overrides.items():
            if label not in tasks:
                raise PipelineError(
                    f"config override for unknown task {label!r}", hint=suggest(label, sorted(tasks))
                )
            entry = tasks[label]
            tasks[label] = entry.model_copy(update={"config": {**entry.config, **fields}})
        return Pipeline(self.definition.model_copy(update={"tasks": tasks}), self.universe)

    def to_yaml(self) -> str:
        """The resolved definition as YAML text (what plans record)."""
        data = self.definition.model_dump(by_alias=True, exclude_defaults=False)
        return yaml.safe_dump(data, sort_keys=False)

    def digest(self) -> str:
        """A SHA-256 of the resolved definition (classes, configs, connections); task order does not count."""
        payload = [
            {
                "label": n.label,
                "class": n.class_path,
                "config": n.config.model_dump(mode="json"),
                "connections": {k: c.model_dump(mode="json") for k, c in sorted(n.connections.items())},
            }
            for n in sorted(self.tasks, key=lambda node: node.label)
        ]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """Raised by `YamlLoader` when a mapping holds one key twice; it names both lines."""

    def __init__(self, key: object, first: yaml.Mark, again: yaml.Mark) -> None:
        if first.line == again.line:
            where = f"at line {first.line + 1}, columns {first.column + 1} and {again.column + 1}"
        else:
            where = f"at line {first.line + 1} and again at line {again.line + 1}"
        super().__init__(None, None, f"duplicate key {key!r} {where}", again)
        self.key = key
        self.first_line = first.line + 1
        self.again_line = again.line + 1


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only), with integers of at most 64 bits and unique keys.

    YAML writes integers in bases 2, 8, 10, 16 and 60, and Python builds them of any
    size; but one of more than 4300 decimal digits cannot even be printed
    (`sys.get_int_max_str_digits`), so it broke the first message or digest showing it.

    PyYAML keeps the last of two equal keys of a mapping without a word, so a task label
    written twice silently replaced the first task. Here any repeated key, at any depth,
    is a `DuplicateKeyError` naming both lines. Keys merged in with ``<<`` may still be
    overridden, as YAML's merge key allows.
    """

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """Build an integer, refusing one that does not fit in 64 bits (signed)."""
        value = super().construct_yaml_int(node)
        if not -(2**63) <= value < 2**63:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {value.bit_length()} bits; 64 at most", node.start_mark
            )
        return value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing a key that appears twice in it (`DuplicateKeyError`)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


YamlLoader.add_constructor("tag:yaml.org,2002:int", YamlLoader.construct_yaml_int)


def _load_yaml(text: str, source: str) -> Any:
    """Parse YAML text as plain data; every way it fails is a `PipelineError` naming ``source``."""
    try:
        return yaml.load(text, Loader=YamlLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(err, DuplicateKeyError):
            hint: str | None = "give each key once; a task label names one task"
        elif isinstance(err, yaml.constructor.ConstructorError):
            hint = None
        else:
            hint = "check the indentation and the ':' after each key"
        raise PipelineError(f"{source} is not valid YAML{where}: {err.problem}", hint=hint) from err
    except yaml.YAMLError as err:
        raise PipelineError(f"{source} is not valid YAML: {err}") from err
    except RecursionError:
        raise PipelineError(
            f"{source} nests too deeply to read", hint="a pipeline needs a few levels, not hundreds"
        ) from None
    except ValueError as err:  # a scalar that resolves to a type but not to a value: 2024-13-45, !!int x
        raise PipelineError(f"{source} holds a value YAML cannot build: {err}") from None


def _describe(dtype: DatasetType) -> str:
    return f"({', '.join(dtype.dimensions)}; {dtype.storage_class})"


def _import_task_class(label: str, path: str) -> type[PipelineTask]:
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise PipelineError(
            f"task {label!r}: class {path!r} is not an import path",
            hint="write it as package.module.ClassName",
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or module_name
        parent = missing.rpartition(".")[0]
        hint = "check the spelling and that the package is installed"
        if parent:
            try:
                siblings = [m for m in dir(importlib.import_module(parent)) if not m.startswith("_")]
                hint = suggest(missing.rpartition(".")[2], siblings) or hint
            except ImportError as why:  # then the error goes without a suggestion
                _log.debug("no names to suggest for %r: cannot import %r (%s)", missing, parent, why)
        raise PipelineError(
            f"task {label!r}: cannot import module {module_name!r} of class {path!r}", hint=hint
        ) from None
    except Exception as err:
        raise PipelineError(
            f"task {label!r}: importing {module_name!r} failed: {type(err).__name__}: {err}"
        ) from err
    found = getattr(module, class_name, None)
    if found is None:
        tasks = [
            n
            for n, v in vars(module).items()
            if inspect.isclass(v) and issubclass(v, PipelineTask) and v is not PipelineTask
        ]
        raise PipelineError(
            f"task {label!r}: module {module_name!r} has no class {class_name!r}",
            hint=suggest(class_name, tasks) or (f"its tasks: {', '.join(sorted(tasks))}" if tasks else None),
        )
    if not (inspect.isclass(found) and issubclass(found, PipelineTask)):
        raise PipelineError(
            f"task {label!r}: {path!r} is not a PipelineTask subclass",
            hint="a task class derives from provenance_graph.pipeline.PipelineTask",
        )
    return found


def _make_config(label: str, task_class: type[PipelineTask], overrides: Mapping[str, Any]) -> TaskConfig:
    config_class = task_class.ConfigClass
    fields = sorted(config_class.model_fields)
    for key in overrides:
        if key not in config_class.model_fields:
            raise PipelineError(
                f"task {label!r}: unknown config field {key!r} for {task_class.__name__}",
                hint=suggest(key, fields)
                or (f"its fields: {', '.join(fields)}" if fields else "it has none"),
            )
    try:
        return config_class.model_validate(dict(overrides))
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PipelineError(
            f"task {label!r}: config field {field!r} = {first.get('input')!r}: {first['msg']}",
            hint=f"see {config_class.__module__}.{config_class.__qualname__}",
        ) from None
