"""The README stays true: its two commands exist, and so does every command it lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provenance_graph.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block_after(heading: str) -> str:
    section = README.split(heading, 1)[1]
    return section.split("```", 2)[1]


def test_quick_start_is_two_make_targets() -> None:
    block = _block_after("## Quick start")
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


@pytest.mark.parametrize(
    "line", [ln for ln in _block_after("## Commands").splitlines() if ln.startswith("provgraph ")]
)
def test_every_listed_command_exists(line: str) -> None:
    words = line.split()[1:]
    path = [w for w in words if re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", w)][:2]
    variants = path[-1].split("|")
    for variant in variants:
        args = [*path[:-1], variant, "--help"]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
