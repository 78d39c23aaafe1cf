"""What an execution ran with: each task's config digest and code version, and the software.

An execution records these (`task_versions`, `software_versions`) so that ``provgraph
query stale`` can tell, later, which outputs a changed config or changed code would make
differently. A task's code version is its module's source digest, with the distribution
(and version) that installs it and, when its source is in a git work tree, the commit.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance_graph.pipeline._pipeline import Pipeline, TaskNode

__all__ = ["config_digest", "software_versions", "task_versions"]

#: Packages whose versions every execution records, when installed.
RECORDED_PACKAGES = ("provenance-graph", "numpy", "neo4j", "parsl", "lsst-pipe-base", "lsst-daf-butler")


def config_digest(node: TaskNode) -> str:
    """A SHA-256 of what the task is configured to do: its class, config and connections."""
    payload = {
        "class": node.class_path,
        "config": node.config.model_dump(mode="json"),
        "connections": {k: c.model_dump(mode="json") for k, c in sorted(node.connections.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def task_versions(pipeline: Pipeline) -> dict[str, dict[str, str]]:
    """Per task label: ``config`` (`config_digest`) and its code's ``source``, ``package``, ``git``.

    ``source`` is the SHA-256 of the task's module file (empty if it has none); ``package``
    the distribution that installs the module, with its version; ``git`` the commit of the
    work tree the module is in, with ``+dirty`` if that file has changes, or empty.
    """
    found: dict[str, dict[str, str]] = {}
    for node in pipeline.tasks:
        found[node.label] = {"config": config_digest(node), **_code_version(node.task_class.__module__)}
    return found


@functools.cache
def _code_version(module_name: str) -> dict[str, str]:
    module = importlib.import_module(module_name)
    try:
        path = Path(inspect.getsourcefile(module) or "")
    except TypeError:  # a built-in module
        path = Path()
    source = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    top = module_name.split(".", maxsplit=1)[0]
    # An editable install maps no module to its distribution: then try the module's own name.
    names = [*importlib.metadata.packages_distributions().get(top, []), top.replace("_", "-")]
    package = ""
    for name in names:
        try:
            package = f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
        break
    return {"source": source, "package": package, "git": _git_commit(path) if source else ""}


def _git_commit(path: Path) -> str:
    git = shutil.which("git")
    if git is None:
        return ""

    def ask(*args: str) -> str:
        done = subprocess.run(
            [git, "-C", str(path.parent), *args], capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = ask("rev-parse", "HEAD")
    if commit and ask("status", "--porcelain", "--", path.name):
        commit += "+dirty"
    return commit


def software_versions() -> dict[str, str]:
    """Python's version and those of `RECORDED_PACKAGES` that are installed."""
    found = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
