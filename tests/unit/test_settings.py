"""Which Neo4j the tool uses: environment, config file, or the managed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance_graph.errors import ConfigurationError
from provenance_graph.settings import connection_from_env, server_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "PROVGRAPH_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PROVGRAPH_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "config.toml").write_text("")


def test_nothing_configured_means_the_managed_server() -> None:
    assert connection_from_env() is None


def test_environment_selects_an_existing_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "neo4j+s://graph.example.org:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("NEO4J_DATABASE", "provenance")
    settings = connection_from_env()
    assert settings is not None
    assert settings.uri == "neo4j+s://graph.example.org:7687"
    assert settings.user == "neo4j"
    assert settings.database == "provenance"
    assert settings.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings)


def test_uri_without_password_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "neo4j://localhost:7687")
    with pytest.raises(ConfigurationError, match="NEO4J_PASSWORD is not"):
        connection_from_env()


def test_config_file_with_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    (tmp_path / "config.toml").write_text(
        f'[neo4j]\nuri = "bolt://127.0.0.1:7999"\npassword_file = "{tmp_path / "pw"}"\n'
        '[server]\nheap = "1g"\nbolt_port = 17687\n'
    )
    settings = connection_from_env()
    assert settings is not None
    assert settings.password.get_secret_value() == "from-file"
    server = server_settings()
    assert server.heap == "1g"
    assert server.bolt_port == 17687


def test_bad_config_names_the_culprit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[neo4j]\nuri = "bolt://x"\npasword = "typo"\n')
    with pytest.raises(ConfigurationError, match="pasword"):
        connection_from_env()
    (tmp_path / "config.toml").write_text("[neo4j\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        connection_from_env()
    (tmp_path / "config.toml").write_text("")
    monkeypatch.setenv("PROVGRAPH_NEO4J_HEAP", "lots")
    with pytest.raises(ConfigurationError, match="heap"):
        server_settings()
