"""Where the graph lives: settings for an existing Neo4j server or the managed local one.

Resolution order for the database connection:

1. Environment variables ``NEO4J_URI`` (with ``NEO4J_USER``, ``NEO4J_PASSWORD``,
   ``NEO4J_DATABASE``) select an existing server.
2. Otherwise a TOML config file (``$PROVGRAPH_CONFIG``, else
   ``~/.config/provenance-graph/config.toml``) with a ``[neo4j]`` table does.
3. Otherwise the managed local server is used, started on demand.

TLS to an existing server is chosen by the URI scheme (``bolt+s``/``neo4j+s``: the
system's CAs; ``+ssc``: any certificate), or by ``NEO4J_TRUSTED_CA`` (or ``trusted_ca``
in ``[neo4j]``), a private CA's certificate file, with a ``bolt://`` or ``neo4j://`` URI.

When the server goes away mid-command (a restart, a failover, a network cut), each
transaction is retried with backoff for up to ``NEO4J_RETRY_SECONDS`` (or
``retry_seconds`` in ``[neo4j]``; default 120 s, for the managed server too) before the
command stops with a clear message; every write is safe to retry.

The managed server is tuned by ``PROVGRAPH_HOME``, ``PROVGRAPH_BOLT_PORT``,
``PROVGRAPH_HTTP_PORT``, ``PROVGRAPH_NEO4J_HEAP``, ``PROVGRAPH_NEO4J_PAGECACHE`` and
``PROVGRAPH_BOLT_TLS``, or by a ``[server]`` table in the same config file; the
environment wins. A home that is named (``PROVGRAPH_HOME`` or ``home``) must exist,
except for ``provgraph server start``, which creates it; the default home is created on
demand.

What is refused, with one `ConfigurationError` naming it: a config file that is not a
regular file of at most 10 MB, or not TOML; a ``neo4j`` or ``server`` entry that is not a
table; a URI whose scheme the driver does not speak over Bolt (`URI_SCHEMES`; ``http://``
is Neo4j's HTTP port, not Bolt); a retry window that is not a finite number of seconds.

QuantumGraph files that ``provgraph plan``/``run`` build for Rubin pipelines are kept, by
default, under `qgraph_dir`: ``$PROVGRAPH_QGRAPH_DIR``, else ``qgraphs/`` in the per-user
data directory (next to the managed server's default home). A stored plan names its file
by absolute path and is run from it later, so the file must outlive the command.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from provenance_graph.errors import ConfigurationError
from provenance_graph.logs import redact
from provenance_graph.textfiles import read_text_file

__all__ = [
    "DEFAULT_RETRY_SECONDS",
    "URI_SCHEMES",
    "ConnectionSettings",
    "ServerSettings",
    "TlsMode",
    "config_path",
    "connection_from_env",
    "qgraph_dir",
    "retry_seconds_from_env",
    "server_settings",
]

M = TypeVar("M", bound=BaseModel)
_MEMORY = re.compile(r"[1-9][0-9]*[kKmMgG]\Z")
TlsMode = Literal["disabled", "optional", "required"]
"""TLS on the managed server's Bolt port, as Neo4j's ``server.bolt.tls_level`` names it."""


#: Seconds a transaction is retried while the server does not answer, unless configured.
DEFAULT_RETRY_SECONDS = 120.0
_RETRY_HINT = f"set it to e.g. {DEFAULT_RETRY_SECONDS:.0f} (0: never retry), or unset it"

#: The URI schemes of a Neo4j server (Bolt, routed or not; ``+s``: TLS; ``+ssc``: TLS,
#: any certificate). The driver refuses others, or reaches for a missing HTTP module.
URI_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def retry_seconds_from_env() -> float:
    """``NEO4J_RETRY_SECONDS`` if set, else `DEFAULT_RETRY_SECONDS`."""
    text = os.environ.get("NEO4J_RETRY_SECONDS", "").strip()
    if not text:
        return DEFAULT_RETRY_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigurationError(f"NEO4J_RETRY_SECONDS={text!r} is not a number of seconds", hint=_RETRY_HINT)
    return value


def _check_retry_seconds(table: dict[str, Any], source: str) -> None:
    """Refuse ``retry_seconds`` of a config file as `retry_seconds_from_env` refuses the variable."""
    value = table.get("retry_seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value < float("inf"):
        raise ConfigurationError(
            f"retry_seconds = {value!r} in the [neo4j] table of {source} is not a number of seconds",
            hint=_RETRY_HINT,
        )


class ConnectionSettings(BaseModel):
    """How to reach a Neo4j server; the password is never printed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    """Bolt or Neo4j URI, e.g. ``neo4j://127.0.0.1:7687`` or ``neo4j+s://host:7687``."""
    user: str = "neo4j"
    """The user name."""
    password: SecretStr
    """The password; shown as ``**********`` in any repr or log."""
    database: str = "neo4j"
    """The database to use on that server."""
    trusted_ca: Path | None = None
    """A CA certificate file (PEM) to trust instead of the system's CAs, for a server whose
    certificate a private CA signed. It turns TLS on for a ``bolt://`` or ``neo4j://`` URI;
    the ``+s`` and ``+ssc`` schemes choose their own trust and do not take it."""
    retry_seconds: float = Field(default_factory=retry_seconds_from_env, ge=0, allow_inf_nan=False)
    """How long a transaction is retried, with backoff, while the server does not answer
    (restarting, failing over); then the command stops with a clear message."""
    managed: bool = False
    """True when this is the managed local server."""

    @field_validator("uri")
    @classmethod
    def _scheme(cls, value: str) -> str:
        # Only the scheme is shown: the rest of a URI may hold a user name and password.
        scheme, found, _rest = value.partition("://")
        if not found or scheme.lower() not in URI_SCHEMES:
            shown = repr(scheme.lower()) if found and scheme.isascii() and len(scheme) < 20 else "none"
            raise ValueError(
                f"its scheme ({shown}) is not one of {', '.join(URI_SCHEMES)}: drivers speak Bolt "
                "(an HTTP port serves Neo4j Browser)"
            )
        return value

    @property
    def display_uri(self) -> str:
        """`uri` as messages and logs show it: a password in it (``user:password@``) is ``***``."""
        return redact(self.uri)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields `repr` shows: `uri` as `display_uri`; the password is a `SecretStr`."""
        for name, value in super().__repr_args__():
            yield name, self.display_uri if name == "uri" else value


class ServerSettings(BaseModel):
    """How the managed local Neo4j server is laid out and sized."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path
    """Directory holding the assembled server, its data, logs and password file."""
    bolt_port: int = Field(default=7687, ge=1, le=65535)
    """Bolt port, bound on 127.0.0.1 only."""
    http_port: int = Field(default=7474, ge=1, le=65535)
    """HTTP port of Neo4j Browser, bound on 127.0.0.1 only."""
    heap: str = "2g"
    """JVM heap size (initial and maximum), e.g. ``2g``."""
    pagecache: str = "3g"
    """Page cache size, e.g. ``3g``; the store files it caches are the graph on disk."""
    bolt_tls: TlsMode = "disabled"
    """TLS on the Bolt port: ``disabled``, ``optional`` or ``required``. When on, the server
    gets a certificate for 127.0.0.1 and localhost from a private CA made for it."""

    @field_validator("heap", "pagecache")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError(f"{value!r} is not a memory size like 512m or 2g")
        return value.lower()

    @field_validator("bolt_tls", mode="before")
    @classmethod
    def _tls_mode(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def config_path() -> Path:
    """Return the config file path: ``$PROVGRAPH_CONFIG`` or the per-user default."""
    env = os.environ.get("PROVGRAPH_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("provenance-graph")) / "config.toml"


def qgraph_dir() -> Path:
    """Where QuantumGraph files of planned Rubin pipelines go unless a file is named.

    ``$PROVGRAPH_QGRAPH_DIR`` if set, else ``qgraphs`` in the per-user data directory
    (e.g. ``~/.local/share/provenance-graph/qgraphs``). Not created here.
    """
    env = os.environ.get("PROVGRAPH_QGRAPH_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("provenance-graph")) / "qgraphs"


def _read_config() -> dict[str, Any]:
    path = config_path()
    if not path.exists():
        if os.environ.get("PROVGRAPH_CONFIG"):
            raise ConfigurationError(
                f"config file {path} (from PROVGRAPH_CONFIG) does not exist",
                hint="create it, or unset PROVGRAPH_CONFIG",
            )
        return {}
    text = read_text_file(path, "config file", ConfigurationError)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"config file {path} is not valid TOML: {err}") from err


def _config_table(name: str) -> dict[str, Any]:
    """The ``[name]`` table of the config file, empty if absent; anything but a table is refused."""
    value = _read_config().get(name, {})
    if not isinstance(value, dict):
        # Not the value itself: a misplaced one may hold a password.
        raise ConfigurationError(
            f"config file {config_path()}: {name!r} must be a table, not a {type(value).__name__}",
            hint=f"write it as a [{name}] line followed by key = value lines",
        )
    return dict(value)


def connection_from_env() -> ConnectionSettings | None:
    """Return the settings of an existing server, or None to use the managed one."""
    uri = os.environ.get("NEO4J_URI")
    table: dict[str, Any]
    if uri:
        password = os.environ.get("NEO4J_PASSWORD")
        if password is None:
            raise ConfigurationError(
                "NEO4J_URI is set but NEO4J_PASSWORD is not",
                hint="export NEO4J_PASSWORD, or unset NEO4J_URI to use the managed server",
            )
        table = {
            "uri": uri,
            "user": os.environ.get("NEO4J_USER", "neo4j"),
            "password": password,
            "database": os.environ.get("NEO4J_DATABASE", "neo4j"),
        }
        source = "environment"
    else:
        table = _config_table("neo4j")
        if not table:
            if os.environ.get("NEO4J_TRUSTED_CA"):
                raise ConfigurationError(
                    "NEO4J_TRUSTED_CA is set but no server is configured, so the managed one would be used",
                    hint="set NEO4J_URI (or uri in the [neo4j] config table) to the server that CA "
                    "signed for; the managed server trusts its own CA by itself",
                )
            return None
        source = str(config_path())
        _check_retry_seconds(table, source)
        if "password_file" in table:
            pw_path = Path(str(table.pop("password_file"))).expanduser()
            try:
                table["password"] = pw_path.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigurationError(f"cannot read password_file {pw_path}: {err}") from err
    if os.environ.get("NEO4J_TRUSTED_CA"):
        table["trusted_ca"] = os.environ["NEO4J_TRUSTED_CA"]
    if os.environ.get("NEO4J_RETRY_SECONDS", "").strip():
        table["retry_seconds"] = retry_seconds_from_env()
    if isinstance(table.get("trusted_ca"), str):
        table["trusted_ca"] = Path(table["trusted_ca"]).expanduser()
    return _validated(
        ConnectionSettings,
        table,
        f"Neo4j connection settings from {source}",
        "e.g. NEO4J_URI=neo4j://host:7687"
        if source == "environment"
        else "the [neo4j] table takes uri (e.g. neo4j://host:7687), user, password or password_file, "
        "database, trusted_ca and retry_seconds",
    )


def _validated(model: type[M], table: dict[str, Any], what: str, hint: str) -> M:
    """Build ``model`` from ``table``, turning validation errors into one `ConfigurationError`."""
    try:
        return model(**table)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in err.errors()
        )
        raise ConfigurationError(f"invalid {what}: {problems}", hint=hint) from None


def server_settings(*, create_home: bool = False) -> ServerSettings:
    """Return the managed server's settings from the environment and the config file.

    Parameters
    ----------
    create_home
        Whether a home named by ``PROVGRAPH_HOME`` or ``[server] home`` may be missing
        (``provgraph server start`` creates it). Otherwise a named home that does not
        exist is an error: a mistyped path would quietly get a brand-new, empty server.
        The default home may always be missing; it is created on demand.
    """
    table = _config_table("server")
    named = "home in the [server] table of " + str(config_path()) if "home" in table else None
    env_map = {
        "PROVGRAPH_HOME": "home",
        "PROVGRAPH_BOLT_PORT": "bolt_port",
        "PROVGRAPH_HTTP_PORT": "http_port",
        "PROVGRAPH_NEO4J_HEAP": "heap",
        "PROVGRAPH_NEO4J_PAGECACHE": "pagecache",
        "PROVGRAPH_BOLT_TLS": "bolt_tls",
    }
    for var, key in env_map.items():
        if os.environ.get(var):
            table[key] = os.environ[var]
    if os.environ.get("PROVGRAPH_HOME"):
        named = "PROVGRAPH_HOME"
    table.setdefault("home", Path(platformdirs.user_data_dir("provenance-graph")) / "neo4j")
    if not isinstance(table["home"], (str, Path)):
        raise ConfigurationError(
            f"{named}: the home must be a path, not a {type(table['home']).__name__}",
            hint='e.g. home = "~/neo4j-provgraph"',
        )
    table["home"] = Path(table["home"]).expanduser()
    settings = _validated(
        ServerSettings,
        table,
        "managed-server settings",
        "check the PROVGRAPH_* environment variables and the [server] config table",
    )
    if named is not None and not create_home and not settings.home.is_dir():
        what = "is not a directory" if settings.home.exists() else "does not exist"
        raise ConfigurationError(
            f"the managed server's home {settings.home} ({named}) {what}",
            hint="'provgraph server start' creates it; or correct the path, or unset it to use "
            "the default home",
        )
    return settings
