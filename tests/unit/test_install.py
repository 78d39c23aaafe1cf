"""The install is reproducible: requirements/constraints.txt pins every package the tests install."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = {"pip", "setuptools", "wheel"}
"""Tools of the virtual environment itself, not packages of the project."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_constraints_pin_every_installed_package_at_its_version() -> None:
    pinned = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            pinned[_canonical(name)] = version.strip()
    installed = {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    installed.pop("provenance-graph")
    unpinned = {
        name: version
        for name, version in installed.items()
        if name not in INSTALLERS and pinned.get(name) != version
    }
    assert not unpinned, f"installed but not pinned at this version (run 'make lock'): {unpinned}"


def test_the_lsst_extra_pins_the_stack_the_rubin_tests_use() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    lsst = dict(r.split("==") for r in extras["lsst"])
    assert set(lsst) == {"lsst-pipe-base", "lsst-ctrl-mpexec", "lsst-daf-butler"}
    assert lsst == {name: metadata.version(name) for name in lsst}
