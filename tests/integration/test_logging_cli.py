"""``provgraph --log-level/--log-file`` against a real server: the driver's debug lines, never the password."""

from __future__ import annotations

from pathlib import Path

from provenance_graph.settings import ConnectionSettings
from tests.integration.test_cli import run
from tests.unit.test_logging import FILE_LINE


def test_debug_lines_of_every_library_go_to_the_file_without_the_password(
    neo4j_settings: ConnectionSettings, tmp_path: Path
) -> None:
    log_file = tmp_path / "debug.log"
    args = ["--log-level", ".=debug", "--log-level", "DEBUG", "--log-file", str(log_file), "plans", "list"]
    done = run(args, neo4j_settings)
    assert done.returncode == 0, done.stderr
    assert "DEBUG" not in done.stderr + done.stdout
    text = log_file.read_text()
    loggers = {m["logger"] for m in map(FILE_LINE.match, text.splitlines()) if m}
    assert any(name.startswith("neo4j") for name in loggers), loggers  # the driver's own, at DEBUG
    secret = neo4j_settings.password.get_secret_value()
    assert secret not in text and secret not in done.stdout + done.stderr
