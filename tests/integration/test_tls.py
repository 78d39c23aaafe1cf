"""TLS on Bolt, end to end: a second managed server that requires it, reached every way a user would.

The server runs in its own home and ports, with ``PROVGRAPH_BOLT_TLS=required``, so the
session's server is left as it is. It reuses the session server's assembled jars (hard
links) instead of running Maven again. Each way of connecting is tried through the real
``provgraph`` command and through the Python API: TLS with the server's own CA works end
to end, ``+ssc`` works, and plain Bolt or an untrusted certificate is one clear error.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import SecretStr

from provenance_graph.errors import DatabaseTLSError
from provenance_graph.server import ManagedServer
from provenance_graph.server.tls import BoltCertificates
from provenance_graph.settings import ConnectionSettings, ServerSettings
from provenance_graph.store import GraphStore, open_store, read_plan, write_plan
from provenance_graph.synthetic import drp_plan
from tests.conftest import ReliabilityCounts
from tests.support.servers import free_port, reuse_assembled_jars

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

PROVGRAPH = str(Path(sys.executable).with_name("provgraph"))
PLAN_ID = "tls-plan"


@dataclass(frozen=True)
class TlsServer:
    """The second managed server, which requires TLS on Bolt."""

    server: ManagedServer
    env: dict[str, str]
    """The environment that selects it for ``provgraph server ...``."""
    password: str

    @property
    def ca(self) -> Path:
        return self.server.certificates.ca_file

    def uri(self, scheme: str, host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.server.settings.bolt_port}"

    def settings(self, scheme: str, trusted_ca: Path | None = None) -> ConnectionSettings:
        return ConnectionSettings(
            uri=self.uri(scheme), password=SecretStr(self.password), trusted_ca=trusted_ca
        )

    def provgraph(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PROVGRAPH, *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=600,
            check=False,
        )

    def client(self, uri: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``provgraph ARGS`` as a user of this server runs it: through NEO4J_URI."""
        return self.provgraph(*args, NEO4J_URI=uri, NEO4J_PASSWORD=self.password, **env)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    root = tmp_path_factory.mktemp("tls")
    home = root / "neo4j"
    home.mkdir()
    reuse_assembled_jars(home, ManagedServer())
    (root / "none.toml").write_text("")
    env = {
        **os.environ,
        "PROVGRAPH_HOME": str(home),
        "PROVGRAPH_BOLT_PORT": str(free_port()),
        "PROVGRAPH_HTTP_PORT": str(free_port()),
        "PROVGRAPH_NEO4J_HEAP": "512m",
        "PROVGRAPH_NEO4J_PAGECACHE": "128m",
        "PROVGRAPH_BOLT_TLS": "required",
        "PROVGRAPH_CONFIG": str(root / "none.toml"),
    }
    for var in ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "NEO4J_TRUSTED_CA"):
        env.pop(var, None)
    server = ManagedServer(
        ServerSettings(
            home=home,
            bolt_port=int(env["PROVGRAPH_BOLT_PORT"]),
            http_port=int(env["PROVGRAPH_HTTP_PORT"]),
            heap="512m",
            pagecache="128m",
            bolt_tls="required",
        )
    )
    try:
        started = subprocess.run(
            [PROVGRAPH, "server", "start"], capture_output=True, text=True, env=env, timeout=900, check=False
        )
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"tls:     required  (CA certificate: {server.certificates.ca_file}" in started.stdout
        yield TlsServer(server, env, server.password())
    finally:
        server.stop()


def _refused(done: subprocess.CompletedProcess[str], *wanted: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for text in wanted:
        assert text in done.stderr, done.stderr


def _tls_refused(settings: ConnectionSettings, match: str) -> DatabaseTLSError:
    """Connect through the Python API; return the `DatabaseTLSError` it must raise."""
    with GraphStore(settings) as store, pytest.raises(DatabaseTLSError, match=match) as info:
        store.verify()
    return info.value


def test_the_managed_server_requires_tls_with_a_certificate_from_its_own_ca(tls_server: TlsServer) -> None:
    server = tls_server.server
    certs = server.certificates
    assert stat.S_IMODE(certs.key_file.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(certs.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    conf = (server.conf_dir / "neo4j.conf").read_text()
    assert "server.bolt.tls_level=REQUIRED\n" in conf
    assert f"dbms.ssl.policy.bolt.base_directory={certs.directory}\n" in conf
    assert "dbms.ssl.policy.bolt.client_auth=NONE\n" in conf

    status = tls_server.provgraph("server", "status")
    assert status.returncode == 0, status.stderr
    assert f"tls:     required  (CA certificate: {certs.ca_file}; clients: NEO4J_TRUSTED_CA)" in status.stdout
    # Even without PROVGRAPH_BOLT_TLS, status and connection() follow the running server.
    unset = {k: v for k, v in tls_server.env.items() if k != "PROVGRAPH_BOLT_TLS"}
    plain_status = subprocess.run(
        [PROVGRAPH, "server", "status"], capture_output=True, text=True, env=unset, timeout=60, check=False
    )
    assert "tls:     required" in plain_status.stdout
    connection = ManagedServer(server.settings.model_copy(update={"bolt_tls": "disabled"})).connection()
    assert connection.trusted_ca == certs.ca_file


def test_tls_with_the_servers_ca_works_end_to_end(
    tls_server: TlsServer, reliability: ReliabilityCounts
) -> None:
    graph = drp_plan(2, 3, plan_id=PLAN_ID, output_run="tls/run", raw_run="tls/raw", calib_run="tls/calib")
    # Python API: the managed server's own connection settings trust its CA.
    with open_store(tls_server.server.connection(), start_managed=False) as store:
        assert store.driver.encrypted
        write_plan(store, graph)
        assert read_plan(store, PLAN_ID) == graph
    # A user's settings: bolt:// with the CA as trusted_ca, and +ssc (encrypted, not verified).
    for settings in (tls_server.settings("bolt", tls_server.ca), tls_server.settings("neo4j+ssc")):
        with open_store(settings, start_managed=False) as store:
            assert store.driver.encrypted
            assert read_plan(store, PLAN_ID) == graph
    # The command line: NEO4J_URI with NEO4J_TRUSTED_CA, by address and by name, and +ssc.
    ca = str(tls_server.ca)
    for done in (
        tls_server.client(tls_server.uri("bolt"), "plans", "list", NEO4J_TRUSTED_CA=ca),
        tls_server.client(tls_server.uri("bolt+ssc"), "plans", "list"),
    ):
        assert done.returncode == 0, done.stderr
        assert PLAN_ID in done.stdout
    by_name = tls_server.uri("neo4j", "localhost")
    shown = tls_server.client(by_name, "plans", "show", PLAN_ID, NEO4J_TRUSTED_CA=ca)
    assert shown.returncode == 0, shown.stderr
    assert f"quanta: {len(graph)}" in shown.stdout
    reliability.count("TLS connections checked", 6)


def test_connections_the_server_or_the_client_refuses_are_clear_errors(
    tls_server: TlsServer, neo4j_settings: ConnectionSettings, reliability: ReliabilityCounts, tmp_path: Path
) -> None:
    # Plain Bolt to a server that requires TLS.
    _refused(
        tls_server.client(tls_server.uri("bolt"), "plans", "list"),
        f"error: Neo4j at {tls_server.uri('bolt')} closed the connection at the Bolt handshake, "
        "as a server that requires TLS does",
        "NEO4J_TRUSTED_CA",
    )
    _tls_refused(tls_server.settings("neo4j"), "requires TLS")
    # TLS checked against the system's CAs, which do not know the server's private CA.
    _refused(
        tls_server.client(tls_server.uri("neo4j+s"), "plans", "list"),
        f"error: Neo4j at {tls_server.uri('neo4j+s')} presented a TLS certificate this client does not trust",
        "set NEO4J_TRUSTED_CA=",
        "bolt+ssc://",
    )
    _tls_refused(tls_server.settings("bolt+s"), "does not trust")
    # A CA that did not sign the server's certificate.
    other = BoltCertificates(tmp_path / "other")
    other.ensure()
    error = _tls_refused(tls_server.settings("bolt", other.ca_file), "does not trust")
    assert error.hint is not None and str(other.ca_file) in error.hint
    # The client's own mistake, found before connecting (tests/unit/test_tls.py has the others).
    _refused(
        tls_server.client(
            tls_server.uri("bolt"), "plans", "list", NEO4J_TRUSTED_CA=str(tmp_path / "no-ca.pem")
        ),
        f"error: cannot read the trusted CA file {tmp_path / 'no-ca.pem'}",
    )
    checked = 6
    # TLS to the session's server, when that one speaks plain Bolt.
    plain, _, rest = neo4j_settings.uri.partition("://")
    if plain in ("bolt", "neo4j") and neo4j_settings.trusted_ca is None:
        tls = neo4j_settings.model_copy(update={"uri": f"{plain}+ssc://{rest}"})
        _tls_refused(tls, "may not accept TLS")
        checked += 1
    reliability.count("TLS connections checked", checked)
