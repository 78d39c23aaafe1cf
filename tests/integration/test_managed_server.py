"""The managed server's whole life, in its own home and ports: start, status, logs, stop."""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
from pydantic import SecretStr

from provenance_graph.errors import DatabaseAuthError
from provenance_graph.server import ManagedServer
from provenance_graph.settings import ConnectionSettings
from provenance_graph.store import GraphStore
from tests.support.servers import free_port, reuse_assembled_jars

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))


@pytest.mark.slow
def test_start_status_logs_stop(tmp_path: Path) -> None:
    bolt, http = free_port(), free_port()
    env = {
        **os.environ,
        "PROVGRAPH_HOME": str(tmp_path / "neo4j"),
        "PROVGRAPH_BOLT_PORT": str(bolt),
        "PROVGRAPH_HTTP_PORT": str(http),
        "PROVGRAPH_NEO4J_HEAP": "512m",
        "PROVGRAPH_NEO4J_PAGECACHE": "128m",
        "PROVGRAPH_CONFIG": str(tmp_path / "none.toml"),
    }
    env.pop("NEO4J_URI", None)
    (tmp_path / "none.toml").write_text("")
    reuse_assembled_jars(tmp_path / "neo4j", ManagedServer())

    def provgraph(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PROVGRAPH, *args], capture_output=True, text=True, env=env, timeout=900, check=False
        )

    started = provgraph("server", "start")
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"bolt:    neo4j://127.0.0.1:{bolt}" in started.stdout
        assert f"browser: http://127.0.0.1:{http}/browser/" in started.stdout

        password_file = tmp_path / "neo4j" / "password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 24

        status = provgraph("server", "status")
        assert status.returncode == 0
        assert "state:   running" in status.stdout
        assert "Neo4j 5.26." in status.stdout
        assert password not in started.stdout + started.stderr + status.stdout + status.stderr
        pid = int(next(line.split()[1] for line in status.stdout.splitlines() if line.startswith("pid:")))

        again = provgraph("server", "start")
        assert again.returncode == 0 and f"pid {pid}" in again.stdout, "start is idempotent"

        listening = {
            (ipaddress.ip_address(c.laddr.ip.removeprefix("::ffff:")), c.laddr.port)
            for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert {port for _, port in listening} >= {bolt, http}
        assert all(ip.is_loopback for ip, _ in listening), f"only loopback: {listening}"

        assert password in provgraph("server", "status", "--show-password").stdout

        with urllib.request.urlopen(f"http://127.0.0.1:{http}/browser/", timeout=10) as page:
            assert page.status == 200
            assert "Neo4j Browser" in page.read().decode()

        good = ConnectionSettings(uri=f"neo4j://127.0.0.1:{bolt}", password=SecretStr(password))
        with GraphStore(good) as store, store.session() as session:
            record = session.run("RETURN apoc.version() AS apoc").single()
            assert record is not None
            assert record["apoc"].startswith("5.26")
        bad = ConnectionSettings(uri=f"neo4j://127.0.0.1:{bolt}", password=SecretStr("wrong"))
        with GraphStore(bad) as store, pytest.raises(DatabaseAuthError):
            store.verify()

        logs = provgraph("server", "logs", "-n", "200")
        assert "Started." in logs.stdout
    finally:
        stopped = provgraph("server", "stop")
    assert stopped.returncode == 0
    assert "Neo4j stopped." in stopped.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    after = provgraph("server", "status")
    assert after.returncode == 3
    assert "state:   stopped" in after.stdout


def test_a_read_only_command_with_no_server_says_how_to_start_one_and_starts_none(tmp_path: Path) -> None:
    """Nothing configured and no server running: no read-only command starts the 5 GB server.

    HOME and the XDG directories are temporary, so the user's default server, its home and
    config file are never touched; a command that started a server would assemble it there.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "PROVGRAPH_"))}
    env |= {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    (tmp_path / "home").mkdir()
    commands = [
        ["plans", "list"],
        ["plans", "show", "p"],
        ["plans", "notes", "p"],
        ["query", "lineage", "d"],
        ["query", "overview", "p"],
        ["viz", "plan", "p", "-o", str(tmp_path / "p.svg")],
        ["status", "p"],
        ["report", "p"],
        ["stats", "p"],
        ["footprint", "p"],
        ["browse", "--no-open"],
        ["run-job", "--plan", "p", "--clustering", "c", "--job", "j"],
    ]
    for args in commands:
        done = subprocess.run(
            [PROVGRAPH, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert done.returncode == 1, (args, done.stdout + done.stderr)
        assert done.stderr.strip() == (
            "error: no server configured or running: start one with 'provgraph server start' "
            "(or set NEO4J_URI)"
        ), (args, done.stderr)
    assert not (tmp_path / "data" / "provenance-graph" / "neo4j").exists(), "no server home was made"
    started = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(str(tmp_path) in arg for arg in p.info["cmdline"] or ())
    ]
    assert started == [], "no server was started"
