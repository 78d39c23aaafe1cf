"""Pre-flight of a Rubin pipeline: pipe_base's own QuantumGraph builder, saved as a ``.qg`` file.

A pipeline YAML is either ours (tasks derive from
`provenance_graph.pipeline.PipelineTask`, loaded by `provenance_graph.pipeline.Pipeline`)
or Rubin's (tasks derive from ``lsst.pipe.base.PipelineTask``, loaded by pipe_base).
`is_rubin_pipeline` tells them apart; the rule, in order:

1. the file uses syntax only pipe_base's format has: a top-level ``imports``,
   ``instrument``, ``parameters``, ``subsets``, ``steps`` or ``contracts`` key;
2. a task's class (given as ``class:`` or, pipe_base's short form, as a bare class
   string ``label: package.module.Class``) lives in the ``lsst`` namespace package (``lsst.*``), where our
   framework never puts a task;
3. a task's class, imported, is a subclass of ``lsst.pipe.base.PipelineTask``
   (a Rubin task in a package of its own), or its module cannot be imported because
   an ``lsst`` package is missing.

Anything else is ours, including a file that is not YAML at all: our loader then
names what is wrong. Rules 1 and 2 need no import, so without the LSST stack a
Rubin pipeline is still recognised, and `build_quantum_graph` says what to install.

`build_quantum_graph` does what ``pipetask qgraph`` does, with the same pieces of
pipe_base (``Pipeline.from_uri(...).to_graph(registry=...)``,
``AllDimensionsQuantumGraphBuilder``, ``finish(..., attach_datastore_records=True)``,
``components.write``), and checks first what it can name for the user: a Butler
path that is not a repository, an input collection the repository lacks, an empty
graph. It writes the file and returns its counts; storing it as a plan is the
importer's job (`provenance_graph.interop.load_quantum_graph`), composed above.

``lsst-pipe-base`` is imported only inside `build_quantum_graph` and in rule 3 when a
task module itself imports it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provenance_graph.errors import (
    ConfigurationError,
    PipelineError,
    PreflightError,
    ProvenanceGraphError,
    RepositoryError,
)
from provenance_graph.interop.qgraph import LSST_INSTALL_HINT
from provenance_graph.textfiles import read_text_file

__all__ = [
    "RUBIN_ONLY_KEYS",
    "BuiltQuantumGraph",
    "build_quantum_graph",
    "default_rubin_output_run",
    "is_rubin_pipeline",
    "parse_rubin_config",
]

_log = logging.getLogger(__name__)

#: Top-level keys of a pipe_base pipeline file that our pipeline format does not have.
RUBIN_ONLY_KEYS = frozenset({"imports", "instrument", "parameters", "subsets", "steps", "contracts"})


def is_rubin_pipeline(path: Path) -> bool:
    """Whether the pipeline file at ``path`` is a Rubin (pipe_base) pipeline; see the module doc."""
    try:
        content = yaml.safe_load(read_text_file(path, "pipeline file", PipelineError))
    except (ProvenanceGraphError, yaml.YAMLError, RecursionError, ValueError):
        return False  # our loader reports it, naming the culprit
    if not isinstance(content, dict):
        return False
    tasks = content.get("tasks")
    entries = list(tasks.values()) if isinstance(tasks, dict) else []
    if RUBIN_ONLY_KEYS & content.keys():
        return True
    # pipe_base also takes a task as a bare class string; ours does not, so such an entry
    # decides only through the class it names (a mangled entry of ours stays ours).
    paths = [e for e in entries if isinstance(e, str)]
    paths += [e["class"] for e in entries if isinstance(e, dict) and isinstance(e.get("class"), str)]
    if any(p == "lsst" or p.startswith("lsst.") for p in paths):
        return True
    return any(_is_rubin_task_class(p) for p in paths)


def _is_rubin_task_class(path: str) -> bool:
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        return False
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        return (err.name or "").split(".")[0] == "lsst"
    except Exception as err:  # our loader imports it again and reports the failure
        _log.debug("cannot import %r to classify the pipeline: %s", module_name, err)
        return False
    base = getattr(sys.modules.get("lsst.pipe.base"), "PipelineTask", None)
    found = getattr(module, class_name, None)
    return base is not None and isinstance(found, type) and issubclass(found, base)


def parse_rubin_config(items: Sequence[str] | None) -> list[tuple[str, str, str]]:
    """Parse pipetask's ``-c LABEL:FIELD=VALUE`` overrides into (label, field, value) strings.

    The value stays a string: pipe_base's config machinery converts it to the field's
    type, as it does for ``pipetask -c``.
    """
    overrides: list[tuple[str, str, str]] = []
    for item in items or []:
        target, sep, value = item.partition("=")
        label, colon, field = target.partition(":")
        if not sep or not colon or not label.strip() or not field.strip():
            raise PipelineError(
                f"config override {item!r} is not LABEL:FIELD=VALUE",
                hint="e.g. -c isr:doBias=False, as for pipetask",
            )
        overrides.append((label.strip(), field.strip(), value))
    return overrides


def default_rubin_output_run(output: str, now: dt.datetime | None = None) -> str:
    """``OUTPUT/<UTC time>``, e.g. ``u/jdoe/drp/20261204T173000Z``: pipetask's default output run."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{output}/{when:%Y%m%dT%H%M%S}Z"


@dataclass(frozen=True)
class BuiltQuantumGraph:
    """What `build_quantum_graph` wrote."""

    path: Path
    """The ``.qg`` file, absolute."""
    output_run: str
    """The RUN collection its quanta write to."""
    quanta_per_task: Mapping[str, int]
    """Quanta per task label, for tasks with at least one quantum."""

    @property
    def n_quanta(self) -> int:
        """All quanta."""
        return sum(self.quanta_per_task.values())


def build_quantum_graph(
    pipeline_file: Path,
    butler_config: str,
    *,
    where: str,
    inputs: Sequence[str],
    output: str | None,
    output_run: str,
    save_to: Path,
    config: Sequence[tuple[str, str, str]] = (),
    metadata: Mapping[str, Any] | None = None,
) -> BuiltQuantumGraph:
    """Build the QuantumGraph of a Rubin pipeline with pipe_base and write it to ``save_to``.

    Parameters
    ----------
    pipeline_file
        The pipe_base pipeline YAML.
    butler_config
        The Butler repository (its root, its ``butler.yaml``, or an alias), opened read-only.
    where
        The data query (pipetask's ``-d``); empty for everything the inputs allow.
    inputs
        The input collections, searched in order.
    output
        The output CHAINED collection recorded in the graph (pipetask's ``-o``), if any.
    output_run
        The RUN collection the quanta write to.
    save_to
        Where to write the ``.qg`` file; it must not exist yet.
    config
        ``(label, field, value)`` overrides, as `parse_rubin_config` gives.
    metadata
        More entries for the graph header's metadata, beside ``data_query`` and
        ``butler_argument`` (the names ``pipetask qgraph`` records).

    Raises
    ------
    ConfigurationError
        ``lsst-pipe-base`` is not installed.
    PipelineError
        pipe_base cannot load the pipeline or apply a config override.
    RepositoryError
        ``butler_config`` is not a Butler repository, or lacks an input collection.
    PreflightError
        The graph cannot be built, e.g. the query does not parse or matches nothing.
    """
    if not inputs:
        raise PreflightError(
            "no input collections given",
            hint="name them with -i, e.g. -i HSC/defaults; 'butler query-collections REPO' lists them",
        )
    target = save_to.expanduser().absolute()
    if target.exists():
        raise PreflightError(
            f"QuantumGraph file {target} exists already",
            hint="a stored plan may be reading it: pass another --save-qgraph or --output-run",
        )
    lsst = _import_lsst()
    pipeline = _load_pipeline(lsst, pipeline_file, config)
    butler = _open_butler(lsst, butler_config)
    with butler:
        _check_collections(lsst, butler, butler_config, inputs)
        try:
            pipeline_graph = pipeline.to_graph(registry=butler.registry)
        except Exception as err:
            raise PreflightError(
                f"pipeline {pipeline_file} does not fit Butler repository {butler_config}: "
                f"{type(err).__name__}: {_first_line(err)}",
                hint="check the dataset types the pipeline and the repository define "
                "('butler query-dataset-types REPO')",
            ) from err
        quiet = _EmptyGraphNotice()
        builder_log = logging.getLogger("lsst.pipe.base.quantum_graph_builder")
        builder_log.addFilter(quiet)
        try:
            builder = lsst.builder(
                pipeline_graph, butler, where=where, input_collections=list(inputs), output_run=output_run
            )
            components = builder.finish(
                output=output,
                metadata={"data_query": where, "butler_argument": butler_config, **(metadata or {})},
                attach_datastore_records=True,
            )
        except lsst.query_error as err:
            raise PreflightError(
                f"data query {where!r}: {_first_line(err)}",
                hint="write it as for pipetask -d, e.g. \"instrument = 'HSC' AND visit IN (1..10)\"",
            ) from err
        except lsst.output_exists as err:
            raise PreflightError(
                f"output run {output_run!r} already holds outputs of this pipeline: {_first_line(err)}",
                hint="choose another --output-run, or leave it out for a new timestamped run",
            ) from err
        except Exception as err:
            raise PreflightError(
                f"pipe_base cannot build the QuantumGraph of {pipeline_file}: "
                f"{type(err).__name__}: {_first_line(err)}"
            ) from err
        finally:
            builder_log.removeFilter(quiet)
    counts = {label: n for label, n in components.header.n_task_quanta.items() if n}
    if not counts:
        raise PreflightError(
            f"the data query {where!r} matches nothing in collections {', '.join(inputs)} of "
            f"{butler_config}: the QuantumGraph is empty",
            hint="check the query and the -i collections, e.g. with 'butler query-datasets REPO "
            "DATASET_TYPE --collections COLLECTION --where QUERY'",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    components.write(str(target))
    return BuiltQuantumGraph(target, output_run, counts)


@dataclass(frozen=True)
class _Lsst:
    pipeline: Any
    butler: Any
    builder: Any
    missing_collection: type[Exception]
    query_error: type[Exception]
    output_exists: type[Exception]


def _import_lsst() -> _Lsst:
    try:
        from lsst.daf.butler import Butler, InvalidQueryError, MissingCollectionError
        from lsst.pipe.base import Pipeline
        from lsst.pipe.base.all_dimensions_quantum_graph_builder import AllDimensionsQuantumGraphBuilder
        from lsst.pipe.base.quantum_graph_builder import OutputExistsError
    except ImportError as err:
        raise ConfigurationError(
            f"planning a Rubin pipeline needs lsst-pipe-base, which cannot be imported: {err}",
            hint=LSST_INSTALL_HINT,
        ) from err
    return _Lsst(
        Pipeline,
        Butler,
        AllDimensionsQuantumGraphBuilder,
        MissingCollectionError,
        InvalidQueryError,
        OutputExistsError,
    )


def _load_pipeline(lsst: _Lsst, path: Path, config: Sequence[tuple[str, str, str]]) -> Any:
    try:
        pipeline = lsst.pipeline.from_uri(str(path))
    except Exception as err:
        raise PipelineError(
            f"pipe_base cannot load pipeline {path}: {type(err).__name__}: {_first_line(err)}"
        ) from err
    for label, field, value in config:
        try:
            pipeline.addConfigOverride(label, field, value)
        except Exception as err:
            raise PipelineError(
                f"config override {label}:{field}={value}: {_first_line(err)}",
                hint=f"the task labels of {path.name}: {', '.join(pipeline.task_labels)}",
            ) from err
    return pipeline


def _open_butler(lsst: _Lsst, butler_config: str) -> Any:
    try:
        return lsst.butler.from_config(butler_config, writeable=False)
    except Exception as err:
        local = Path(butler_config)
        if not local.exists():
            why = "does not exist"
        elif local.is_dir() and not (local / "butler.yaml").exists():
            why = "has no butler.yaml"
        else:
            # daf_butler appends how it looked the name up, in parentheses: not the culprit.
            why = f"cannot be opened: {type(err).__name__}: {_first_line(err).split(' (given ')[0]}"
        raise RepositoryError(
            f"{butler_config} is not a Butler repository: it {why}",
            hint="pass the repository's root (the directory holding butler.yaml); "
            "'butler create REPO' makes a new one",
        ) from err


class _EmptyGraphNotice(logging.Filter):
    """Drops pipe_base's long log record about an empty graph: our error says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Initial data ID query returned no rows")


def _check_collections(lsst: _Lsst, butler: Any, butler_config: str, inputs: Sequence[str]) -> None:
    for name in inputs:
        try:
            butler.collections.get_info(name)
        except lsst.missing_collection:
            raise RepositoryError(
                f"Butler repository {butler_config} has no collection {name!r} (an -i input)",
                hint=f"'butler query-collections {butler_config}' lists its collections",
            ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
