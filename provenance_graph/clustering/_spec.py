"""Clustering rules as written in YAML: which quanta go together into one batch job.

The vocabulary follows Rubin's BPS (``lsst-ctrl-bps``) dimension clustering, so a
BPS user recognises it: a ``cluster:`` table of named rules, each with ``pipetasks``
(the task labels it selects), ``dimensions`` (quanta with equal values of these go
into one job) and ``equalDimensions`` (``visit:exposure``: read a quantum's
``exposure`` as its ``visit``), and BPS's job resources (``requestMemory``,
``requestMemoryMax``, ``memoryMultiplier``, ``requestCpus``, ``requestDisk``,
``requestWalltime``, ``numberOfRetries``). Every key is accepted in BPS's camelCase and in our snake_case
(`CAMEL_CASE`), not both at once. We add ``max_quanta``, the most quanta one job may
hold; a larger group is split. Anything wrong is a `ClusteringError` that names
the rule and key, with a hint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from provenance_graph.errors import ClusteringError, InvalidNameError
from provenance_graph.model import check_task_label
from provenance_graph.textfiles import read_text_file

__all__ = ["CAMEL_CASE", "ClusterRule", "ClusteringSpec", "load_clustering", "walltime_seconds"]

#: Each rule key's BPS (camelCase) spelling, by our (snake_case) field name.
CAMEL_CASE = {
    "equal_dimensions": "equalDimensions",
    "max_quanta": "maxQuanta",
    "request_memory": "requestMemory",
    "request_memory_max": "requestMemoryMax",
    "memory_multiplier": "memoryMultiplier",
    "request_cpus": "requestCpus",
    "request_disk": "requestDisk",
    "request_walltime": "requestWalltime",
    "number_of_retries": "numberOfRetries",
}
#: BPS's job keys (resources and retries), added to rules after the first schema.
_JOB_KEYS = (
    "request_memory",
    "request_memory_max",
    "memory_multiplier",
    "request_cpus",
    "request_disk",
    "request_walltime",
    "number_of_retries",
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_DIMENSION = re.compile(r"[a-z][a-z0-9_]*\Z")


def _words(value: Any) -> Any:
    """``"isr, calibrate"`` (BPS writes lists as comma-separated text) or a list, as a tuple."""
    if isinstance(value, str):
        return tuple(w.strip() for w in value.split(",") if w.strip())
    return value


def walltime_seconds(text: str) -> int:
    """Seconds of a wall time written ``HH:MM:SS``, ``MM:SS`` or ``D-HH:MM:SS``; ValueError otherwise."""
    days, _, rest = text.strip().rpartition("-")
    parts = rest.split(":")
    if not (days == "" or days.isdigit()) or not 1 < len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a wall time: give seconds (3600) or HH:MM:SS ('01:00:00')")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds + int(days or 0) * 86400


def _check_dimension(name: str) -> str:
    if not _DIMENSION.match(name):
        raise ValueError(f"{name!r} is not a dimension name (lower-case identifiers such as 'visit')")
    return name


class ClusterRule(BaseModel):
    """One rule: the quanta of some tasks, grouped by dimensions, into batch jobs."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    pipetasks: tuple[str, ...] = Field(min_length=1)
    """Task labels the rule selects, e.g. ``[isr, characterizeImage, calibrate]``.

    Quanta of all of them with equal `dimensions` go into one job, run in dependency order.
    """
    dimensions: tuple[str, ...] = ()
    """Quanta with equal values of these dimensions share a job; empty: all selected quanta."""
    equal_dimensions: tuple[tuple[str, str], ...] = Field(
        default=(), validation_alias=AliasChoices("equal_dimensions", "equalDimensions")
    )
    """Pairs ``(dimension, other)``: a quantum without ``dimension`` uses its ``other`` value.

    ``visit:exposure`` lets ``isr`` (per exposure) join ``calibrate`` (per visit) in one job.
    Written as ``"visit:exposure, ..."`` (BPS style) or a mapping ``{visit: exposure}``.
    """
    max_quanta: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("max_quanta", "maxQuanta")
    )
    """The most quanta one job may hold; a larger group is split, keeping connected quanta
    together where they fit. None: no limit."""
    request_memory: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("request_memory", "requestMemory")
    )
    """BPS ``requestMemory``: MB of memory each of the rule's jobs asks the batch system for."""
    request_memory_max: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("request_memory_max", "requestMemoryMax")
    )
    """BPS ``requestMemoryMax``: the most MB a retried job asks for (with `memory_multiplier`)."""
    memory_multiplier: float | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("memory_multiplier", "memoryMultiplier")
    )
    """BPS ``memoryMultiplier``: each retry of a job asks for this many times the memory of the one before."""
    request_cpus: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("request_cpus", "requestCpus")
    )
    """BPS ``requestCpus``: cores each of the rule's jobs asks for (default 1)."""
    request_disk: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("request_disk", "requestDisk")
    )
    """BPS ``requestDisk``: MB of scratch disk each of the rule's jobs asks for."""
    request_walltime: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("request_walltime", "requestWalltime")
    )
    """BPS ``requestWalltime``: seconds each of the rule's jobs may run before the batch system stops
    it; written as seconds (``3600``) or ``HH:MM:SS`` (``"01:00:00"``)."""
    number_of_retries: int | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("number_of_retries", "numberOfRetries")
    )
    """BPS ``numberOfRetries``: how many times a failed job of the rule runs again (instead of
    ``--retries``/``--retry``)."""

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for snake, camel in CAMEL_CASE.items():
                if snake in data and camel in data:
                    raise ValueError(f"both {camel} and {snake} are given; they are one key: keep one")
        return data

    @model_validator(mode="after")
    def _memory_range(self) -> ClusterRule:
        low, high = self.request_memory, self.request_memory_max
        if low is not None and high is not None and high < low:
            raise ValueError(f"requestMemoryMax {high} is below requestMemory {low}")
        return self

    @field_validator("request_walltime", mode="before")
    @classmethod
    def _walltime(cls, value: Any) -> Any:
        """``"HH:MM:SS"``, ``"MM:SS"`` or ``"D-HH:MM:SS"`` (Slurm's forms) as seconds."""
        if isinstance(value, str) and not value.strip().isdigit():
            return walltime_seconds(value)
        return value

    @field_validator("pipetasks", mode="before")
    @classmethod
    def _pipetasks(cls, value: Any) -> Any:
        value = _words(value)
        if isinstance(value, (list, tuple)):
            for label in value:
                try:
                    check_task_label(label)
                except InvalidNameError as err:
                    raise ValueError(err.message) from None
            if len(set(value)) != len(value):
                raise ValueError(f"a task label appears twice in {list(value)}")
        return value

    @field_validator("dimensions", mode="before")
    @classmethod
    def _dimensions(cls, value: Any) -> Any:
        value = _words(value)
        if isinstance(value, (list, tuple)):
            for name in value:
                if isinstance(name, str):
                    _check_dimension(name)
        return value

    @field_validator("equal_dimensions", mode="before")
    @classmethod
    def _equal_dimensions(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = list(value.items())
        value = _words(value)
        if not isinstance(value, (list, tuple)):
            return value
        pairs = []
        for item in value:
            pair = item
            if isinstance(item, str):
                left, sep, right = item.partition(":")
                if not sep:
                    raise ValueError(f"{item!r} is not 'dimension:other', e.g. 'visit:exposure'")
                pair = (left.strip(), right.strip())
            if isinstance(pair, (list, tuple)) and len(pair) == 2:
                pairs.append((_check_dimension(str(pair[0])), _check_dimension(str(pair[1]))))
            else:
                raise ValueError(f"{item!r} is not a pair 'dimension:other'")
        return tuple(pairs)

    def aliases(self) -> dict[str, str]:
        """``{dimension: other}`` from `equal_dimensions`."""
        return dict(self.equal_dimensions)


class ClusteringSpec(BaseModel):
    """A set of clustering rules, as read from a YAML file.

    Quanta of tasks that no rule names each get a batch job of their own (as in BPS).
    A task may be named by one rule only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    """The clustering's name in the graph; ``provgraph cluster --name`` overrides it, and
    without either the file's stem is used."""
    description: str = ""
    """Free text for people."""
    cluster: dict[str, ClusterRule] = Field(default_factory=dict)
    """The rules, by label. A rule's label names its batch jobs (``visit_chain_3_12``)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r} is not a clustering name (letters, digits, _ and -)")
        return value

    @field_validator("cluster", mode="before")
    @classmethod
    def _no_rules(cls, value: Any) -> Any:
        return {} if value is None else value  # ``cluster:`` with nothing under it

    @field_validator("cluster")
    @classmethod
    def _rules(cls, value: dict[str, ClusterRule]) -> dict[str, ClusterRule]:
        owner: dict[str, str] = {}
        for label, rule in value.items():
            if not _NAME.match(label):
                raise ValueError(
                    f"rule label {label!r} must be letters, digits, _ and - (starting with a letter)"
                )
            for task in rule.pipetasks:
                if task in owner:
                    raise ValueError(
                        f"task {task!r} is in rules {owner[task]!r} and {label!r}; "
                        "a task may be in one rule only"
                    )
                owner[task] = label
        return value

    def rule_of(self) -> dict[str, str]:
        """The rule label of each task some rule names."""
        return {task: label for label, rule in self.cluster.items() for task in rule.pipetasks}

    @classmethod
    def from_yaml(cls, text: str, source: str = "<clustering>") -> ClusteringSpec:
        """Read rules from YAML text; ``source`` names it in errors."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ClusteringError(
                f"{source}: not valid YAML: {err}", hint="check indentation and quoting"
            ) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ClusteringError(
                f"{source}: the top level must be a mapping with a 'cluster:' table, "
                f"not {type(data).__name__}",
                hint="see docs/batch.md for an example",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = []
            for e in err.errors():
                where = ".".join(str(p) for p in e["loc"]) or "(top level)"
                message = e["msg"].removeprefix("Value error, ")
                if e["type"] == "extra_forbidden":
                    message = f"unknown key {e['loc'][-1]!r}"
                problems.append(f"{where}: {message}")
            raise ClusteringError(
                f"{source}: {'; '.join(problems)}",
                hint="a rule takes pipetasks, dimensions, equalDimensions, maxQuanta and BPS's job keys "
                "(requestMemory, requestMemoryMax, memoryMultiplier, requestCpus, requestDisk, "
                "requestWalltime, numberOfRetries), in camelCase or snake_case (docs/batch.md)",
            ) from None

    def digest_text(self) -> str:
        """The rules as canonical JSON, for the stored clustering's digest.

        BPS's job keys appear only when set, so rules written before they existed keep their digest.
        """
        unset = {
            label: {f for f in _JOB_KEYS if getattr(rule, f) is None} for label, rule in self.cluster.items()
        }
        return self.model_dump_json(exclude={"description": True, "cluster": unset})


def load_clustering(path: str | Path) -> ClusteringSpec:
    """Read clustering rules from a YAML file; the file's stem names them if they have no ``name``."""
    path = Path(path)
    text = read_text_file(path, "clustering file", ClusteringError)
    spec = ClusteringSpec.from_yaml(text, source=str(path))
    if spec.name is None and _NAME.match(path.stem):
        spec = spec.model_copy(update={"name": path.stem})
    return spec
