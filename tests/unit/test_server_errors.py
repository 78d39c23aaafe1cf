"""The managed server explains what is missing: Java, the right Java, Maven, a free port, Maven Central."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from provenance_graph.errors import JavaNotFoundError, MavenError, PortInUseError
from provenance_graph.server import ManagedServer, find_java
from provenance_graph.settings import ServerSettings


def _script(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def bare_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with only a few basic tools: no java, no mvn."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "echo"):
        target = Path("/bin") / tool
        if target.exists():
            (bin_dir / tool).symlink_to(target)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return bin_dir


def test_no_java_says_what_to_install(bare_path: Path) -> None:
    with pytest.raises(JavaNotFoundError) as info:
        find_java()
    text = str(info.value)
    assert "no Java runtime found" in text
    assert "openjdk-17" in text
    assert "NEO4J_URI" in text
    assert "docker compose" in text


def test_old_java_is_named_with_its_version(bare_path: Path) -> None:
    _script(bare_path, "java", "echo 'openjdk version \"11.0.21\" 2023-10-17' >&2\n")
    with pytest.raises(JavaNotFoundError, match=r"is Java 11\.0\.21; the managed Neo4j server needs Java 17"):
        find_java()
    _script(bare_path, "java", "echo 'java version \"1.8.0_392\"' >&2\n")
    with pytest.raises(JavaNotFoundError, match=r"Java 1\.8\.0_392"):
        find_java()


def test_java_home_wins_over_path(bare_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    _script(home / "bin", "java", "echo 'openjdk version \"21.0.2\" 2024-01-16' >&2\n")
    monkeypatch.setenv("JAVA_HOME", str(home))
    java = find_java()
    assert java.major == 21
    assert java.executable == home / "bin" / "java"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(tmp_path: Path, **kw: int) -> ManagedServer:
    return ManagedServer(
        ServerSettings(
            home=tmp_path / "home",
            bolt_port=kw.get("bolt", _free_port()),
            http_port=kw.get("http", _free_port()),
        )
    )


def test_missing_maven_says_what_to_install(bare_path: Path, tmp_path: Path) -> None:
    real_java = Path(os.popen("command -v java").read().strip() or "/usr/bin/java")
    _script(bare_path, "java", f'exec {real_java} "$@"\n')
    with pytest.raises(MavenError) as info:
        _server(tmp_path).assemble()
    assert "Maven ('mvn') is not on PATH" in str(info.value)
    assert "apt-get install maven" in str(info.value)


def test_unreachable_maven_central_is_explained(bare_path: Path, tmp_path: Path) -> None:
    _script(bare_path, "java", "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    _script(
        bare_path,
        "mvn",
        "echo '[ERROR] Failed to execute goal on project managed-neo4j: Could not resolve dependencies: "
        "Could not transfer artifact org.neo4j:neo4j:pom:5.26.19 from/to central "
        "(https://repo.maven.apache.org/maven2): Unknown host repo.maven.apache.org'\nexit 1\n",
    )
    server = _server(tmp_path)
    with pytest.raises(MavenError) as info:
        server.assemble()
    text = str(info.value)
    assert "could not download Neo4j from Maven Central" in text
    assert "Unknown host" in text
    assert "settings.xml" in text
    assert not server.is_assembled()


def test_port_in_use_names_the_port_and_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        server = _server(tmp_path, bolt=port)
        with pytest.raises(PortInUseError) as info:
            server.start()
    text = str(info.value)
    assert f"127.0.0.1:{port} is already in use" in text
    assert "PROVGRAPH_BOLT_PORT" in text
    assert "NEO4J_URI" in text
    assert not (tmp_path / "home" / "dist").exists(), "nothing is downloaded when the port is taken"
