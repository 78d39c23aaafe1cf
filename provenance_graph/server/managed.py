"""The managed local Neo4j: assembled from Maven Central with Maven, started and stopped here.

This plays the role an embedded database would: with nothing configured, the
tool starts its own Neo4j 5.26 Community server, bound to 127.0.0.1 with
authentication on and a random password kept in a mode-0600 file.

The store is private to its user: the home and the server's directories are mode 0700
(a start finds and fixes wider ones, and says so), and the server runs with umask 077,
so its database files, its password hash (``data/dbms/auth.ini``) and its logs are
0600. No secret is ever put on a command line, where every local user could read it
(``/proc/*/cmdline``): the initial password reaches ``neo4j-admin`` in an argument file
(``@file``, which its picocli parser expands) of mode 0600, deleted once read.

Layout under the home directory (``ServerSettings.home``)::

    dist/lib/ dist/plugins/   jars copied by Maven (server + Browser; APOC)
    dist/.assembled           digest of the POM that produced dist/
    conf/neo4j.conf           written on every start from the settings
    data/ logs/ run/ import/  the server's own directories
    certificates/             with Bolt TLS on: a private CA, and the Bolt key and certificate
    password                  the neo4j user's password (mode 0600)
    neo4j.pid                 pid of the running server
    .lock                     held while a start or stop is under way

The server is launched the way Neo4j's own launcher (``Neo4jCommand`` and
``Bootloader``) launches it: ``java -cp plugins/*:conf/*:lib/*`` with the
recommended JVM flags and ``org.neo4j.server.CommunityEntryPoint``. Readiness
is the HTTP discovery endpoint answering and the Bolt port accepting.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import psutil
from pydantic import SecretStr

from provenance_graph.errors import (
    ConfigurationError,
    JavaNotFoundError,
    MavenError,
    PortInUseError,
    ServerError,
    ServerStartError,
)
from provenance_graph.logs import suppress_and_log
from provenance_graph.server.browser_style import inline_style
from provenance_graph.server.tls import BoltCertificates
from provenance_graph.settings import ConnectionSettings, ServerSettings, TlsMode, server_settings

__all__ = ["JavaRuntime", "ManagedServer", "ServerStatus", "find_java", "neo4j_version"]

_log = logging.getLogger(__name__)

MIN_JAVA = 17
#: Our Neo4j Browser assets (a GraSS style and a guide), served by the server itself from
#: the Browser's jar under /browser/provgraph/, so Browser can load them on connect.
BROWSER_ASSETS = ("provgraph.grass", "guide.html")
_BROWSER_ASSET_DIR = "browser/provgraph/"
_ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
_TLS_LEVELS: dict[str, TlsMode] = {"DISABLED": "disabled", "OPTIONAL": "optional", "REQUIRED": "required"}
_ADMIN_TOOL = "org.neo4j.cli.AdminTool"
#: Mode of the home and the server's directories, and the umask of the server's processes.
_PRIVATE_DIR = 0o700
_UMASK = 0o077
_FALLBACK_HINT = (
    "or point provgraph at an existing server with NEO4J_URI/NEO4J_PASSWORD, "
    "or run one with 'docker compose up -d' (see docker-compose.yml)"
)
# JVM flags the official launcher passes (Bootloader and the default neo4j.conf).
_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-XX:FlightRecorderOptions=stackdepth=256",
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
]


def _pom_text() -> str:
    return (resources.files("provenance_graph.server") / "neo4j-pom.xml").read_text("utf-8")


def neo4j_version() -> str:
    """The Neo4j version pinned in the server POM."""
    match = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", _pom_text())
    if not match:  # pragma: no cover - the POM ships with the package
        raise ServerError("the bundled neo4j-pom.xml has no <neo4j.version>")
    return match.group(1)


@dataclass(frozen=True)
class JavaRuntime:
    """A Java runtime found on this machine."""

    executable: Path
    """Path of the ``java`` executable."""
    major: int
    """Its major version, e.g. 17."""
    version: str
    """The full version text, e.g. ``17.0.15``."""


def find_java() -> JavaRuntime:
    """Find Java 17+ through ``$JAVA_HOME`` or ``PATH``; raise `JavaNotFoundError` otherwise."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    if candidate is None:
        raise JavaNotFoundError(
            "no Java runtime found (looked at $JAVA_HOME and PATH); the managed Neo4j "
            f"server needs Java {MIN_JAVA} or 21",
            hint=f"install it (e.g. 'apt-get install openjdk-17-jre-headless'), {_FALLBACK_HINT}",
        )
    try:
        out = subprocess.run(
            [str(candidate), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as err:
        raise JavaNotFoundError(f"cannot run {candidate}: {err}") from err
    text = out.stderr + out.stdout
    match = re.search(r'version "([^"]+)"', text)
    if not match:
        raise JavaNotFoundError(f"cannot tell the version of {candidate} from: {text.strip()[:200]}")
    version = match.group(1)
    parts = version.split(".")
    major = int(parts[1]) if parts[0] == "1" else int(re.sub(r"\D.*", "", parts[0]) or 0)
    if major < MIN_JAVA:
        raise JavaNotFoundError(
            f"{candidate} is Java {version}; the managed Neo4j server needs Java {MIN_JAVA} or 21",
            hint=f"install Java 17 and set JAVA_HOME to it, {_FALLBACK_HINT}",
        )
    return JavaRuntime(candidate, major, version)


@dataclass(frozen=True)
class ServerStatus:
    """What ``provgraph server status`` reports."""

    running: bool
    """Whether the managed server process is alive and answering."""
    pid: int | None
    """Its process id, if running."""
    bolt_uri: str
    """The Bolt URI clients connect to."""
    browser_url: str
    """The Neo4j Browser URL."""
    version: str | None
    """The Neo4j version the server reports, if running."""
    edition: str | None
    """The Neo4j edition the server reports, if running."""
    home: Path
    """The managed server's home directory."""
    tls: TlsMode = "disabled"
    """TLS on the Bolt port: the running server's, else what the next start will use."""
    ca_certificate: Path | None = None
    """The CA certificate that clients trust, when TLS is on (``NEO4J_TRUSTED_CA``)."""


class ManagedServer:
    """The managed local Neo4j server under one home directory.

    Parameters
    ----------
    settings
        Layout, ports and memory; by default from the environment and config file.
    """

    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or server_settings()
        home = self.settings.home
        self.home = home
        self.dist = home / "dist"
        self.conf_dir = home / "conf"
        self.data_dir = home / "data"
        self.logs_dir = home / "logs"
        self.run_dir = home / "run"
        self.import_dir = home / "import"
        self.password_file = home / "password"
        self.pid_file = home / "neo4j.pid"
        self.certificates = BoltCertificates(home / "certificates")

    # --- addresses ---------------------------------------------------------------------

    @property
    def bolt_uri(self) -> str:
        """The Bolt URI of the managed server."""
        return f"neo4j://127.0.0.1:{self.settings.bolt_port}"

    @property
    def browser_url(self) -> str:
        """The Neo4j Browser URL of the managed server."""
        return f"http://127.0.0.1:{self.settings.http_port}/browser/"

    def asset_url(self, name: str) -> str:
        """Where the server serves one of our `BROWSER_ASSETS`."""
        return f"http://127.0.0.1:{self.settings.http_port}/{_BROWSER_ASSET_DIR}{name}"

    def connection(self) -> ConnectionSettings:
        """Connection settings for the managed server (it must have been started once).

        With Bolt TLS on (``optional`` or ``required``) they use TLS and trust the server's
        own CA, and only it.
        """
        tls = self.tls_mode() != "disabled"
        return ConnectionSettings(
            uri=self.bolt_uri,
            user="neo4j",
            password=SecretStr(self.password()),
            database="neo4j",
            trusted_ca=self.certificates.ca_file if tls else None,
            managed=True,
        )

    def tls_mode(self) -> TlsMode:
        """TLS on Bolt: the running server's (from the neo4j.conf it started with), else the settings'."""
        if self._pid() is not None:
            with suppress_and_log(
                _log,
                logging.DEBUG,
                "cannot read the running server's neo4j.conf; assuming TLS %r",
                self.settings.bolt_tls,
                exceptions=OSError,
            ):
                for line in (self.conf_dir / "neo4j.conf").read_text(encoding="utf-8").splitlines():
                    key, _, value = line.partition("=")
                    if key == "server.bolt.tls_level" and value in _TLS_LEVELS:
                        return _TLS_LEVELS[value]
                return "disabled"  # written before TLS could be chosen: Neo4j's default
        return self.settings.bolt_tls

    def password(self) -> str:
        """The neo4j user's password, read from the mode-0600 password file."""
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ServerError(
                f"the managed server has no password file at {self.password_file}",
                hint="run 'provgraph server start' first",
            ) from None

    # --- assembly ----------------------------------------------------------------------

    def is_assembled(self) -> bool:
        """True when ``dist/`` holds the jars of the current POM."""
        marker = self.dist / ".assembled"
        return marker.is_file() and marker.read_text().strip() == self._pom_digest()

    @staticmethod
    def _pom_digest() -> str:
        return hashlib.sha256(_pom_text().encode()).hexdigest()

    def assemble(self, say: Callable[[str], None] = lambda _m: None) -> None:
        """Download Neo4j, Neo4j Browser and APOC with Maven into ``dist/``."""
        if self.is_assembled():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MavenError(
                "Maven ('mvn') is not on PATH; the managed server is assembled from Maven Central",
                hint=f"install it (e.g. 'apt-get install maven'), {_FALLBACK_HINT}",
            )
        find_java()
        build = self.home / "build"
        staging = self.home / "dist.partial"
        shutil.rmtree(staging, ignore_errors=True)
        build.mkdir(parents=True, exist_ok=True)
        pom = build / "pom.xml"
        pom.write_text(_pom_text(), encoding="utf-8")
        say(f"Assembling Neo4j {neo4j_version()} from Maven Central into {self.dist} ...")
        cmd = [mvn, "-B", "-q", "-f", str(pom), "package", f"-Dneo4j.dist={staging}"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as err:
            raise MavenError(
                "Maven took more than 30 minutes to download Neo4j from Maven Central",
                hint=f"check the network and any proxy in ~/.m2/settings.xml, {_FALLBACK_HINT}",
            ) from err
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip()
            unreachable = re.search(
                r"Could not transfer|Unknown host|UnknownHost|Connection refused|Network is "
                r"unreachable|timed out|Could not resolve|Temporary failure in name resolution",
                output,
            )
            tail = "\n".join(output.splitlines()[-8:])
            if unreachable:
                raise MavenError(
                    "Maven could not download Neo4j from Maven Central:\n" + tail,
                    hint="check the network and any proxy or mirror in ~/.m2/settings.xml, " + _FALLBACK_HINT,
                )
            raise MavenError(f"Maven failed to assemble Neo4j (exit {proc.returncode}):\n{tail}")
        shutil.rmtree(self.dist, ignore_errors=True)
        staging.rename(self.dist)
        (self.dist / ".assembled").write_text(self._pom_digest() + "\n")
        say("Neo4j assembled.")

    def _install_browser_assets(self) -> None:
        """Add our GraSS style and guide to the Neo4j Browser jar (idempotent).

        Neo4j serves Browser from that jar's ``browser/`` folder, and Browser only
        fetches styles and guides from allowlisted hosts that answer CORS: files
        served from the server's own origin need neither, and need no second process.
        The jar is rewritten next to itself and moved into place, so it is whole or
        unchanged.
        """
        [jar] = sorted((self.dist / "lib").glob("neo4j-browser-*.jar"))
        assets = resources.files("provenance_graph.server").joinpath("browser")
        wanted = {_BROWSER_ASSET_DIR + name: assets.joinpath(name).read_bytes() for name in BROWSER_ASSETS}
        with zipfile.ZipFile(jar) as current:
            present = {n: current.read(n) for n in current.namelist() if n in wanted}
            if present == wanted:
                return
            partial = jar.with_suffix(".jar.partial")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
                for item in current.infolist():
                    if item.filename not in wanted:
                        out.writestr(item, current.read(item.filename))
                for name, data in wanted.items():
                    out.writestr(name, data)
        partial.replace(jar)

    # --- process -----------------------------------------------------------------------

    def _pid(self) -> int | None:
        """The pid of our running server, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except FileNotFoundError:  # the usual way of not running
            return None
        except ValueError as err:
            _log.debug("%s holds no pid (%s): the server is not running", self.pid_file, err)
            return None
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
            ours = _ENTRY_POINT in cmdline and any(str(self.home) in arg for arg in cmdline)
            if ours and proc.status() != psutil.STATUS_ZOMBIE:
                return pid
            what = "a zombie" if ours else "another program"
        except psutil.NoSuchProcess:
            what = "gone"
        except psutil.AccessDenied:
            what = "another user's"
        _log.debug("removing the stale pid file %s: pid %d is %s", self.pid_file, pid, what)
        self.pid_file.unlink(missing_ok=True)
        return None

    def _discovery(self) -> dict[str, Any] | None:
        url = f"http://127.0.0.1:{self.settings.http_port}/"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                data: dict[str, Any] = json.loads(resp.read().decode())
                return data
        except (urllib.error.URLError, OSError, ValueError) as err:  # not up (yet), or not Neo4j
            _log.debug("no discovery document at %s (%s: %s)", url, type(err).__name__, err)
            return None

    def _bolt_accepts(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            return sock.connect_ex(("127.0.0.1", self.settings.bolt_port)) == 0

    def status(self) -> ServerStatus:
        """Report whether the managed server runs, and where."""
        pid = self._pid()
        info = self._discovery() if pid else None
        running = pid is not None and info is not None and self._bolt_accepts()
        tls = self.tls_mode()
        return ServerStatus(
            running=running,
            pid=pid,
            bolt_uri=self.bolt_uri,
            browser_url=self.browser_url,
            version=str(info.get("neo4j_version")) if info else None,
            edition=str(info.get("neo4j_edition")) if info else None,
            home=self.home,
            tls=tls,
            ca_certificate=self.certificates.ca_file if tls != "disabled" else None,
        )

    @property
    def _private_dirs(self) -> tuple[Path, ...]:
        """The home and the directories of the server's own, each kept at mode 0700.

        ``dist/`` is not among them: its jars may be hard links shared with another home,
        and the home's mode already hides them.
        """
        return (
            self.home,
            self.conf_dir,
            self.data_dir,
            self.logs_dir,
            self.run_dir,
            self.import_dir,
            self.certificates.root,
        )

    def _make_private(self, say: Callable[[str], None]) -> None:
        """Create the `_private_dirs` mode 0700; make existing ones that others may enter 0700, and say so.

        ``certificates/`` is made only with Bolt TLS on.
        """
        widened: list[str] = []
        for directory in self._private_dirs:
            tls_only = directory == self.certificates.root and self.settings.bolt_tls == "disabled"
            if tls_only and not directory.is_dir():
                continue
            directory.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
            mode = stat.S_IMODE(directory.stat().st_mode)
            if mode & 0o077:
                os.chmod(directory, _PRIVATE_DIR)
                name = str(directory) if directory == self.home else str(directory.relative_to(self.home))
                widened.append(f"{name} (was {mode:o})")
        if widened:
            say(f"note: other users could enter {', '.join(widened)}; made private (mode 700)")

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
        with os.fdopen(os.open(self.home / ".lock", os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self, say: Callable[[str], None] = lambda _m: None, timeout: float = 240) -> ServerStatus:
        """Start the server if it is not running, and wait until Bolt answers.

        Idempotent: a running server is left as it is. Either way, a home or server
        directory that others may read is made private (mode 0700) first, with one line
        through ``say``.
        """
        with self._lock():
            self._make_private(say)
            current = self.status()
            if current.running:
                if current.tls != self.settings.bolt_tls:
                    say(
                        f"note: the running server's Bolt TLS is {current.tls}, not "
                        f"{self.settings.bolt_tls}; 'provgraph server stop' and start again to change it"
                    )
                return current
            if current.pid is not None:
                # Alive but not answering yet: another start is still warming it up.
                return self._wait_ready(None, current.pid, timeout)
            java = find_java()
            self._check_ports()
            self.assemble(say)
            self._install_browser_assets()
            if self.settings.bolt_tls != "disabled" and self.certificates.ensure():
                say(f"Made a private CA and a Bolt certificate for 127.0.0.1 ({self.certificates.ca_file})")
            self._write_conf()
            self._ensure_password(java)
            say(f"Starting Neo4j {neo4j_version()} (logs in {self.logs_dir}) ...")
            console = os.fdopen(
                os.open(self.logs_dir / "console.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
            )
            cmd = [
                str(java.executable),
                "-cp",
                f"{self.dist}/plugins/*:{self.conf_dir}/*:{self.dist}/lib/*",
                *_JVM_FLAGS,
                f"-Xms{self.settings.heap}",
                f"-Xmx{self.settings.heap}",
                _ENTRY_POINT,
                f"--home-dir={self.home}",
                f"--config-dir={self.conf_dir}",
            ]
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
                umask=_UMASK,  # its database files, password hash and logs: 0600
            )
            console.close()
            _await_command_line(proc)
            _write_private(self.pid_file, f"{proc.pid}\n")
            return self._wait_ready(proc, proc.pid, timeout)

    def _wait_ready(self, proc: subprocess.Popen[bytes] | None, pid: int, timeout: float) -> ServerStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = proc.poll() is not None if proc else not psutil.pid_exists(pid)
            if exited:
                self.pid_file.unlink(missing_ok=True)
                raise ServerStartError(
                    "the managed Neo4j server exited during start-up; last lines of its log:\n"
                    + self.log_tail(15),
                    hint=f"see {self.logs_dir}/neo4j.log; {_FALLBACK_HINT}",
                )
            status = self.status()
            if status.running:
                return status
            time.sleep(0.5)
        raise ServerStartError(
            f"the managed Neo4j server did not answer within {timeout:.0f} s; last log lines:\n"
            + self.log_tail(15),
            hint=f"see {self.logs_dir}/neo4j.log, or stop it with 'provgraph server stop'",
        )

    def _check_ports(self) -> None:
        for name, port, var in (
            ("Bolt", self.settings.bolt_port, "PROVGRAPH_BOLT_PORT"),
            ("HTTP", self.settings.http_port, "PROVGRAPH_HTTP_PORT"),
        ):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    owner = _port_owner(port)
                    raise PortInUseError(
                        f"the {name} port 127.0.0.1:{port} is already in use{owner}",
                        hint=f"free the port, choose another with {var}=<port>, or, if that is "
                        "a Neo4j server you want to use, set NEO4J_URI and NEO4J_PASSWORD",
                    ) from None

    def _write_conf(self) -> None:
        s = self.settings
        lines = {
            "server.directories.data": self.data_dir,
            "server.directories.logs": self.logs_dir,
            "server.directories.plugins": self.dist / "plugins",
            "server.directories.lib": self.dist / "lib",
            "server.directories.run": self.run_dir,
            "server.directories.import": self.import_dir,
            "server.default_listen_address": "127.0.0.1",
            "server.default_advertised_address": "127.0.0.1",
            "server.bolt.listen_address": f"127.0.0.1:{s.bolt_port}",
            "server.bolt.advertised_address": f"127.0.0.1:{s.bolt_port}",
            "server.http.listen_address": f"127.0.0.1:{s.http_port}",
            "server.http.advertised_address": f"127.0.0.1:{s.http_port}",
            "server.https.enabled": "false",
            "server.bolt.tls_level": s.bolt_tls.upper(),
            "dbms.security.auth_enabled": "true",
            "server.memory.heap.initial_size": s.heap,
            "server.memory.heap.max_size": s.heap,
            "server.memory.pagecache.size": s.pagecache,
            "dbms.security.procedures.unrestricted": "apoc.*",
            "dbms.usage_report.enabled": "false",
            "client.allow_telemetry": "false",  # and no usage banner in Browser
            "db.tx_log.rotation.retention_policy": "1G size",
            "db.transaction.timeout": "0s",
            # On connect, Browser applies our style, clears the frame that shows it, and opens our
            # guide (docs/seeing-the-graph.md): the guide, not the style, is what a user sees. The
            # style goes inline, so that its frame is there before `clear` (browser_style.py).
            "browser.remote_content_hostname_whitelist": "127.0.0.1,localhost,guides.neo4j.com",
            "browser.post_connect_cmd": f"style {inline_style()}; clear; play {self.asset_url('guide.html')}",
        }
        if s.bolt_tls != "disabled":
            # Neo4j's SSL framework: the Bolt policy's files, and no client certificates asked for.
            certs = self.certificates
            lines |= {
                "dbms.ssl.policy.bolt.enabled": "true",
                "dbms.ssl.policy.bolt.base_directory": certs.directory,
                "dbms.ssl.policy.bolt.private_key": certs.key_file.name,
                "dbms.ssl.policy.bolt.public_certificate": certs.cert_file.name,
                "dbms.ssl.policy.bolt.client_auth": "NONE",
            }
        text = "# Written by provenance-graph on every start; edit the settings, not this file.\n"
        text += "".join(f"{k}={v}\n" for k, v in lines.items())
        _write_private(self.conf_dir / "neo4j.conf", text)

    def _ensure_password(self, java: JavaRuntime) -> None:
        auth_file = self.data_dir / "dbms" / "auth.ini"
        if auth_file.exists():
            if not self.password_file.exists():
                raise ConfigurationError(
                    f"the managed server's database exists but its password file "
                    f"{self.password_file} is gone",
                    hint=f"restore the file, or delete {self.data_dir} to start afresh "
                    "(this deletes the stored plans)",
                )
            return
        # Hex: a URL-safe token starts with '-' one time in 64, and picocli then reads the
        # password as an unknown option (the start failed that way in CI).
        password = secrets.token_hex(24)
        _write_private(self.password_file, password + "\n")
        # Not on the command line, where every local user reads it (/proc/PID/cmdline): in an
        # argument file, which neo4j-admin's picocli parser reads in place of '@PATH'.
        argfile = self.home / ".initial-password.args"
        env = {**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(self.conf_dir)}
        try:
            _write_private(argfile, password + "\n")
            proc = subprocess.run(
                [
                    str(java.executable),
                    "-cp",
                    f"{self.dist}/lib/*",
                    _ADMIN_TOOL,
                    "dbms",
                    "set-initial-password",
                    f"@{argfile}",
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
                umask=_UMASK,  # data/dbms/auth.ini, the password's hash: 0600
            )
        finally:
            argfile.unlink(missing_ok=True)
        if proc.returncode != 0 or not auth_file.exists():
            self.password_file.unlink(missing_ok=True)
            message = (proc.stdout + proc.stderr).replace(password, "********").strip()
            raise ServerStartError(f"could not set the initial Neo4j password: {message[-500:]}")

    def stop(self, timeout: float = 90) -> bool:
        """Stop the server cleanly (SIGTERM, then SIGKILL after ``timeout``); True if it ran."""
        with self._lock():
            pid = self._pid()
            if pid is None:
                return False
            gone = "the server (pid %d) had ended already"
            with suppress_and_log(_log, logging.DEBUG, gone, pid, exceptions=ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                psutil.Process(pid).wait(timeout)
            except psutil.NoSuchProcess:
                _log.debug(gone, pid)
            except psutil.TimeoutExpired:
                _log.warning("the server (pid %d) did not stop within %.0f s; killing it", pid, timeout)
                with suppress_and_log(_log, logging.DEBUG, gone, pid, exceptions=ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                try:
                    psutil.Process(pid).wait(30)
                except psutil.NoSuchProcess:
                    _log.debug(gone, pid)
                except psutil.TimeoutExpired:
                    _log.warning("the server (pid %d) still runs 30 s after SIGKILL; forgetting it", pid)
            self.pid_file.unlink(missing_ok=True)
            return True

    def log_tail(self, lines: int = 50, name: str = "neo4j.log") -> str:
        """The last ``lines`` lines of one of the server's log files."""
        path = self.logs_dir / name
        if not path.is_file():
            return f"(no {name} in {self.logs_dir})"
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 200_000))
            text = handle.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _await_command_line(proc: subprocess.Popen[bytes], within: float = 10.0) -> None:
    """Wait until the just-started ``proc`` shows its command line, or has ended.

    For a few milliseconds after ``exec`` a process's ``/proc/PID/cmdline`` reads empty,
    and `ManagedServer._pid` would take the pid for another program's and delete the pid
    file: the start then waited its whole timeout for a server it could no longer see, and
    left it running.
    """
    deadline = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < deadline:
        with suppress_and_log(
            _log, logging.DEBUG, "cannot read pid %d's command line yet", proc.pid, exceptions=psutil.Error
        ):
            if psutil.Process(proc.pid).cmdline():
                return
        time.sleep(0.01)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable and writable by its owner only (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # a file that existed keeps its mode otherwise
        handle.write(text)


def _port_owner(port: int) -> str:
    """`` by pid N (name)`` for the process listening on ``port``, or what of it can be told."""
    unknown = "cannot tell which process holds port %d"
    with suppress_and_log(_log, logging.DEBUG, unknown, port, exceptions=(psutil.Error, OSError)):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                with suppress_and_log(
                    _log, logging.DEBUG, "cannot name pid %d", conn.pid, exceptions=psutil.Error
                ):
                    return f" by pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f" by pid {conn.pid}"
    return ""
