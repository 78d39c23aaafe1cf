"""The install is reproducible: requirements/constraints.txt pins every package the tests install."""

from __future__ import annotations

import re
import subprocess
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


def test_the_wheel_packs_the_explorer_page_and_its_vendored_libraries() -> None:
    # The wheel is the package folder (hatch's wheel target), less what git ignores: the page,
    # its modules and the vendored Cytoscape.js with their licences must be in the folder and
    # not ignored. (Checked once by hand: 'pip wheel --no-deps .' lists them all.)
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["provenance_graph"] and "exclude" not in wheel
    static = ROOT / "provenance_graph" / "api" / "static"
    page = ["index.html", "page.js", "page.css"]
    vendor = ["cytoscape.esm.min.mjs", "cytoscape-dagre.min.mjs", "README.md"]
    licences = ["LICENSE.cytoscape", "LICENSE.cytoscape-dagre", "LICENSE.dagre", "LICENSE.graphlib"]
    files = [static / f for f in page] + [static / "vendor" / f for f in vendor + licences]
    assert all(f.is_file() for f in files), [f.name for f in files if not f.is_file()]
    ignored = subprocess.run(
        ["git", "check-ignore", *map(str, files)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout == "", f"git ignores, so the wheel would leave out: {ignored.stdout}"
    script = (static / "page.js").read_text()  # the page imports the vendored modules by these names
    assert all(f"./vendor/{m}" in script for m in vendor[:2])
