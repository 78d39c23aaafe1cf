"""Logging: silent as a library, configured by ``provgraph --log-level/--log-file``, and what is swallowed is logged."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from provenance_graph import logs
from provenance_graph.errors import ConfigurationError
from provenance_graph.repository import Repository
from provenance_graph.server import ManagedServer
from provenance_graph.server.tls import BoltCertificates
from provenance_graph.settings import ConnectionSettings, ServerSettings
from tests.unit.test_quantum_runner import _setup

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))
#: A log line in a file: UTC time to the millisecond, level, logger[pid]: message.
FILE_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) (?P<logger>[\w.]+)\[\d+\]: (?P<message>.*)$"
)


@pytest.fixture
def configured() -> Iterator[list[Callable[[], None]]]:
    """Undoes whatever `logs.configure` a test does, so no other test sees it."""
    undos: list[Callable[[], None]] = []
    yield undos
    for undo in reversed(undos):
        undo()


def _provgraph(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in (logs.LEVEL_ENV, logs.LOG_FILE_ENV)}
    return subprocess.run(
        [PROVGRAPH, *args], capture_output=True, text=True, env={**full_env, **env}, timeout=120, check=False
    )


def test_levels_are_names_in_any_case_for_provenance_graph_or_a_component() -> None:
    assert logs.parse_levels([]) == {"": logging.WARNING, "provenance_graph": logging.WARNING}
    assert logs.parse_levels(["debug"])["provenance_graph"] == logging.DEBUG
    parsed = logs.parse_levels(
        ["provenance_graph.store=DEBUG", ".=info", "neo4j=Error,parsl=critical", "Info"]
    )
    assert parsed == {
        "": logging.INFO,
        "provenance_graph": logging.INFO,
        "provenance_graph.store": logging.DEBUG,
        "neo4j": logging.ERROR,
        "parsl": logging.CRITICAL,
    }


@pytest.mark.parametrize("value", ["verbose", "store=loud", "=debug", "debug=", "5"])
def test_a_bad_level_names_itself_and_the_valid_ones(value: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        logs.parse_levels([value])
    message = str(err.value)
    assert repr(value) in message and "CRITICAL, ERROR, WARNING, INFO, DEBUG" in message
    assert "\n" not in message


def test_passwords_in_uris_and_known_secrets_are_redacted() -> None:
    text = "connect neo4j+s://alice:s3cr%40t@db.example:7687 and bolt://db:7687 with hunter22"
    assert logs.redact(text, ("hunter22", "")) == (
        "connect neo4j+s://alice:***@db.example:7687 and bolt://db:7687 with ***"
    )


def test_a_password_holding_at_or_slash_is_hidden_whole() -> None:
    text = "at 'neo4j://alice:p@ss/w0rd@db:7687' and bolt://:only-secret@db"
    assert logs.redact(text) == "at 'neo4j://alice:***@db:7687' and bolt://:***@db"


def test_settings_show_a_password_in_the_uri_as_stars() -> None:
    settings = ConnectionSettings(uri="neo4j://alice:hunter22@db:7687", password=SecretStr("x"))
    assert settings.display_uri == "neo4j://alice:***@db:7687"
    assert "hunter22" not in repr(settings) and "hunter22" not in str(settings)


def test_a_configured_file_gets_the_levels_asked_for_and_nothing_else(
    tmp_path: Path, configured: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "hunter22")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    log_file = tmp_path / "log.txt"
    configured.append(logs.configure(["provenance_graph.store=debug", ".=info"], log_file))
    assert os.environ[logs.LOG_FILE_ENV] == str(log_file)
    logging.getLogger("provenance_graph.store.plans").debug("kept: store is at DEBUG")
    logging.getLogger("provenance_graph.server").info("dropped: provenance_graph is at WARNING")
    logging.getLogger("neo4j.pool").info("kept: the root is at INFO, password hunter22")
    parsl = logging.getLogger("parsl.dataflow")
    parsl.setLevel(logging.DEBUG)  # as Parsl does to its own loggers
    parsl.debug("dropped: parsl turned itself up, we did not")
    configured.pop()()
    parsl.setLevel(logging.NOTSET)
    assert root.handlers == handlers and root.level == level
    assert logs.LOG_FILE_ENV not in os.environ
    lines = [FILE_LINE.match(line) for line in log_file.read_text().splitlines()]
    assert [(m["level"], m["logger"], m["message"]) for m in lines if m] == [
        ("DEBUG", "provenance_graph.store.plans", "kept: store is at DEBUG"),
        ("INFO", "neo4j.pool", "kept: the root is at INFO, password ***"),
    ]
    assert all(lines)


def test_workers_take_the_settings_from_the_environment(
    tmp_path: Path, configured: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_file = tmp_path / "worker.log"
    monkeypatch.setenv(logs.LEVEL_ENV, "provenance_graph=DEBUG .=WARNING")
    monkeypatch.setenv(logs.LOG_FILE_ENV, str(log_file))
    logs.configure_from_env()
    configured.extend(logs._ACTIVE)
    logging.getLogger("provenance_graph.quantum_runner").debug("from a worker")
    assert log_file.read_text().endswith(
        f"DEBUG provenance_graph.quantum_runner[{os.getpid()}]: from a worker\n"
    )


def test_the_library_alone_writes_nothing_to_stderr() -> None:
    """Importing every package configures nothing, and a warning goes nowhere (the NullHandler)."""
    script = (
        "import logging, provenance_graph.cli.main\n"
        "assert logging.getLogger().handlers == [] and logging.getLogger().level == logging.WARNING\n"
        "[handler] = logging.getLogger('provenance_graph').handlers\n"
        "assert isinstance(handler, logging.NullHandler)\n"
        "logging.getLogger('provenance_graph.store.plans').warning('a warning of the library')\n"
        "logging.getLogger('elsewhere').warning('an application warning')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "an application warning\n"  # Python's last resort, which ours never reaches


def test_a_swallowed_bad_certificate_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="provenance_graph")
    certificates = BoltCertificates(tmp_path)
    certificates.directory.mkdir()
    certificates.key_file.write_text("not a key")
    assert not certificates.usable(dt.datetime.now(dt.UTC))
    [record] = [r for r in caplog.records if r.name == "provenance_graph.server.tls"]
    assert record.levelno == logging.DEBUG and "no usable Bolt certificates" in record.getMessage()


def test_a_swallowed_bad_pid_file_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="provenance_graph")
    server = ManagedServer(ServerSettings(home=tmp_path))
    server.pid_file.write_text("garbage")
    assert server.status().pid is None
    messages = [r.getMessage() for r in caplog.records if r.name == "provenance_graph.server.managed"]
    assert f"{server.pid_file} holds no pid" in messages[0]


def test_an_output_a_failed_attempt_cannot_remove_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo, runner, [quantum] = _setup(tmp_path, "WritesThenFails")
    calls: list[str] = []

    def remove(self: Repository, ref: object) -> None:
        calls.append(str(ref))
        if len(calls) > 1:  # the clean-up before the attempt works; the one after it fails
            raise PermissionError("read-only file system")

    monkeypatch.setattr(Repository, "remove", remove)
    outcome = runner.run(quantum)
    assert not outcome.succeeded
    [record] = [r for r in caplog.records if r.name == "provenance_graph.quantum_runner"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"quantum {quantum.id} failed, and its output {quantum.outputs[0]} could not be removed: "
        "a rerun may take it as done (PermissionError: read-only file system)"
    )


def test_provgraph_log_file_has_the_debug_lines_and_stderr_none(tmp_path: Path) -> None:
    (tmp_path / "neo4j.pid").write_text("garbage")  # a swallowed ValueError, logged at DEBUG
    log_file = tmp_path / "provgraph.log"
    args = ["--log-level", "debug", "--log-file", str(log_file), "server", "status"]
    done = _provgraph(args, PROVGRAPH_HOME=str(tmp_path))
    assert done.returncode == 3, done.stderr  # stopped
    assert done.stderr == ""
    matches = [FILE_LINE.match(line) for line in log_file.read_text().splitlines()]
    assert matches and all(matches)
    assert {(m["level"], m["logger"]) for m in matches if m} == {("DEBUG", "provenance_graph.server.managed")}
    assert any(f"{tmp_path / 'neo4j.pid'} holds no pid" in m["message"] for m in matches if m)
    # At the default level (WARNING) the same command logs nothing.
    quiet = _provgraph(
        ["--log-file", str(tmp_path / "quiet.log"), "server", "status"], PROVGRAPH_HOME=str(tmp_path)
    )
    assert quiet.returncode == 3 and (tmp_path / "quiet.log").read_text() == ""


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--log-level", "loud"], "error: --log-level 'loud' is not LEVEL or COMPONENT=LEVEL; LEVEL is one of "
         "CRITICAL, ERROR, WARNING, INFO, DEBUG (any case), COMPONENT a logger name or '.' for all\n"),
        (["--log-file", "."], f"error: --log-file {str(Path.cwd())!r}: cannot write there: Is a directory\n"),
    ],
    ids=["level", "file"],
)  # fmt: skip
def test_provgraph_refuses_bad_logging_options_in_one_line(args: list[str], error: str) -> None:
    done = _provgraph([*args, "version"])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == error
