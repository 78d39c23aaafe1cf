"""The managed server keeps its secrets: none on a command line, and a store only its user can read.

One fresh managed server, in a home of its own whose jars are hard links to the session
server's, is started with the real ``provgraph server start`` while a thread reads every
process's command line (``/proc/*/cmdline``, which every local user may read) every few
milliseconds. Its home was left open to others (mode 755), as an older provgraph made it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provenance_graph.server import ManagedServer
from provenance_graph.settings import ServerSettings
from tests.conftest import ReliabilityCounts
from tests.integration.test_cli import PROVGRAPH
from tests.support.servers import free_port, reuse_assembled_jars

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


class CommandLines:
    """Reads every process's command line, over and over, until stopped."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.reads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def __enter__(self) -> CommandLines:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _scan(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        self.seen.add(Path(f"/proc/{pid}/cmdline").read_bytes())
                    except OSError:  # ended meanwhile
                        continue
                    self.reads += 1
            time.sleep(0.002)


@dataclass(frozen=True)
class Started:
    """A fresh managed server, as ``provgraph server start`` left it."""

    server: ManagedServer
    start: subprocess.CompletedProcess[str]
    command_lines: CommandLines
    env: dict[str, str]

    def provgraph(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PROVGRAPH, *args], capture_output=True, text=True, env=self.env, timeout=900, check=False
        )


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    root = tmp_path_factory.mktemp("private")
    (root / "none.toml").write_text("")
    settings = ServerSettings(
        home=root / "neo4j", bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="128m"
    )
    env = {
        **os.environ,
        "PROVGRAPH_HOME": str(settings.home),
        "PROVGRAPH_BOLT_PORT": str(settings.bolt_port),
        "PROVGRAPH_HTTP_PORT": str(settings.http_port),
        "PROVGRAPH_NEO4J_HEAP": settings.heap,
        "PROVGRAPH_NEO4J_PAGECACHE": settings.pagecache,
        "PROVGRAPH_CONFIG": str(root / "none.toml"),
    }
    for var in ("NEO4J_URI", "NEO4J_PASSWORD", "PROVGRAPH_BOLT_TLS"):
        env.pop(var, None)
    reuse_assembled_jars(settings.home, ManagedServer())
    settings.home.chmod(0o755)
    server = ManagedServer(settings)
    try:
        with CommandLines() as command_lines:
            start = subprocess.run(
                [PROVGRAPH, "server", "start"],
                capture_output=True,
                text=True,
                env=env,
                timeout=900,
                check=False,
            )
        assert start.returncode == 0, start.stdout + start.stderr
        yield Started(server, start, command_lines, env)
    finally:
        server.stop()


def test_no_secret_is_on_any_command_line(started: Started, reliability: ReliabilityCounts) -> None:
    password = started.server.password().encode()
    lines = started.command_lines.seen
    reliability.count("secrets: command lines scanned", started.command_lines.reads)
    setting = [line for line in lines if b"set-initial-password" in line]
    assert setting, "the scan missed neo4j-admin setting the password: too slow to show anything"
    leaks = [line.replace(b"\0", b" ").decode() for line in lines if password in line]
    reliability.count("secrets: leaks found", len(leaks))
    assert leaks == []
    assert not list(started.server.home.glob("*.args")), "the argument file is deleted"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_is_private_to_its_user(started: Started, reliability: ReliabilityCounts) -> None:
    server = started.server
    dirs = [server.home, *(server.home / d for d in ("conf", "data", "logs", "run", "import"))]
    files = [server.data_dir / "dbms" / "auth.ini", server.logs_dir / "neo4j.log", server.password_file]
    files += [p for p in server.data_dir.rglob("*") if p.is_file()]
    reliability.count("private store: files and directories checked", len(dirs) + len(files))
    assert {d.name: oct(_mode(d)) for d in dirs} == {d.name: "0o700" for d in dirs}
    assert [str(f) for f in files if _mode(f) & 0o077] == []
    assert f"note: other users could enter {server.home} (was 755); made private (mode 700)" in (
        started.start.stderr
    ), started.start.stderr

    # Opened up while it runs: the next start puts it right, and says so.
    server.home.chmod(0o755)
    server.data_dir.chmod(0o750)
    again = started.provgraph("server", "start")
    assert again.returncode == 0, again.stdout + again.stderr
    note = f"note: other users could enter {server.home} (was 755), data (was 750); made private (mode 700)"
    assert note in again.stderr, again.stderr
    assert _mode(server.home) == _mode(server.data_dir) == 0o700
