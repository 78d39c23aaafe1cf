"""Which Neo4j the tool uses: environment, config file, or the managed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance_graph.errors import ConfigurationError
from provenance_graph.settings import DEFAULT_RETRY_SECONDS, connection_from_env, server_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (
        "NEO4J_URI",
        "NEO4J_USER",
        "NEO4J_PASSWORD",
        "NEO4J_DATABASE",
        "NEO4J_TRUSTED_CA",
        "NEO4J_RETRY_SECONDS",
        "PROVGRAPH_HOME",
        "PROVGRAPH_BOLT_PORT",
        "PROVGRAPH_HTTP_PORT",
        "PROVGRAPH_NEO4J_HEAP",
        "PROVGRAPH_NEO4J_PAGECACHE",
        "PROVGRAPH_BOLT_TLS",
    ):
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


def test_a_trusted_ca_from_the_environment_or_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(
        '[neo4j]\nuri = "bolt://graph.example.org:7687"\npassword = "pw"\ntrusted_ca = "~/ca.pem"\n'
    )
    settings = connection_from_env()
    assert settings is not None
    assert settings.trusted_ca == Path("~/ca.pem").expanduser()
    monkeypatch.setenv("NEO4J_TRUSTED_CA", str(tmp_path / "env-ca.pem"))
    settings = connection_from_env()
    assert settings is not None and settings.trusted_ca == tmp_path / "env-ca.pem", "the environment wins"
    monkeypatch.setenv("NEO4J_URI", "neo4j://graph.example.org:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "pw")
    settings = connection_from_env()
    assert settings is not None and settings.trusted_ca == tmp_path / "env-ca.pem"
    monkeypatch.delenv("NEO4J_TRUSTED_CA")
    settings = connection_from_env()
    assert settings is not None and settings.trusted_ca is None


def test_a_trusted_ca_without_a_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_TRUSTED_CA", "/etc/ssl/ca.pem")
    with pytest.raises(ConfigurationError, match="NEO4J_TRUSTED_CA is set but no server is configured"):
        connection_from_env()


def test_managed_server_tls_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert server_settings().bolt_tls == "disabled"
    monkeypatch.setenv("PROVGRAPH_BOLT_TLS", "Required")
    assert server_settings().bolt_tls == "required"
    monkeypatch.delenv("PROVGRAPH_BOLT_TLS")
    (tmp_path / "config.toml").write_text('[server]\nbolt_tls = "optional"\n')
    assert server_settings().bolt_tls == "optional"
    monkeypatch.setenv("PROVGRAPH_BOLT_TLS", "yes")
    with pytest.raises(ConfigurationError, match="bolt_tls"):
        server_settings()


def test_the_retry_window_comes_from_the_environment_or_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEO4J_URI", "neo4j://graph.example.org:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    settings = connection_from_env()
    assert settings is not None and settings.retry_seconds == DEFAULT_RETRY_SECONDS
    monkeypatch.setenv("NEO4J_RETRY_SECONDS", "7.5")
    settings = connection_from_env()
    assert settings is not None and settings.retry_seconds == 7.5
    monkeypatch.delenv("NEO4J_URI")
    (tmp_path / "config.toml").write_text(
        '[neo4j]\nuri = "neo4j://h:7687"\npassword = "p"\nretry_seconds = 30\n'
    )
    settings = connection_from_env()
    assert settings is not None and settings.retry_seconds == 7.5, "the environment wins"
    monkeypatch.delenv("NEO4J_RETRY_SECONDS")
    settings = connection_from_env()
    assert settings is not None and settings.retry_seconds == 30


@pytest.mark.parametrize("value", ["soon", "-1", "inf", "nan"])
def test_a_bad_retry_window_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("NEO4J_URI", "neo4j://graph.example.org:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("NEO4J_RETRY_SECONDS", value)
    with pytest.raises(ConfigurationError, match=f"NEO4J_RETRY_SECONDS='{value}' is not a number of seconds"):
        connection_from_env()


@pytest.mark.parametrize("scheme", ["bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "Neo4j+SSC"])
def test_every_bolt_scheme_is_accepted(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    monkeypatch.setenv("NEO4J_URI", f"{scheme}://graph.example.org:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "pw")
    assert connection_from_env() is not None


@pytest.mark.parametrize(
    "uri", ["http://u:hunter2@h:7474", "https://h", "graph.example.org:7687", "file:///x"]
)
def test_a_uri_of_another_scheme_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    monkeypatch.setenv("NEO4J_URI", uri)
    monkeypatch.setenv("NEO4J_PASSWORD", "pw")
    with pytest.raises(ConfigurationError, match=r"uri: its scheme \(.*\) is not one of bolt, ") as caught:
        connection_from_env()
    assert "hunter2" not in str(caught.value) and "graph.example.org" not in str(caught.value)


def test_a_config_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("neo4j = 'bolt://u:secret@h'\nserver = [1, 2]\n")
    with pytest.raises(ConfigurationError, match="'neo4j' must be a table, not a str") as caught:
        connection_from_env()
    assert "secret" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="'server' must be a table, not a list"):
        server_settings()
    (tmp_path / "config.toml").write_text("[server]\nhome = 5\n")
    with pytest.raises(ConfigurationError, match="home must be a path, not a int"):
        server_settings()


def test_an_infinite_retry_window_is_refused_in_the_config_file_too(tmp_path: Path) -> None:
    for value in ("inf", "-inf", "nan", "-1"):
        (tmp_path / "config.toml").write_text(
            f'[neo4j]\nuri = "neo4j://h:7687"\npassword = "p"\nretry_seconds = {value}\n'
        )
        with pytest.raises(ConfigurationError, match=r"retry_seconds = .* is not a number of seconds"):
            connection_from_env()


def test_a_named_home_must_exist_unless_the_server_is_being_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROVGRAPH_HOME", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match=r"home .*missing \(PROVGRAPH_HOME\) does not exist"):
        server_settings()
    assert server_settings(create_home=True).home == tmp_path / "missing"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("PROVGRAPH_HOME", str(tmp_path / "file"))
    with pytest.raises(ConfigurationError, match="is not a directory"):
        server_settings()
    monkeypatch.delenv("PROVGRAPH_HOME")
    (tmp_path / "config.toml").write_text(f'[server]\nhome = "{tmp_path / "gone"}"\n')
    with pytest.raises(
        ConfigurationError, match=r"gone \(home in the \[server\] table of .*\) does not exist"
    ):
        server_settings()


def test_the_default_home_may_be_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert not server_settings().home.exists(), "created on demand, by the server, not here"


def test_a_config_file_that_is_a_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVGRAPH_CONFIG", "/dev/zero")
    with pytest.raises(ConfigurationError, match="config file '/dev/zero' is not a regular file"):
        connection_from_env()
