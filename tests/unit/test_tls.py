"""TLS without a server: the client's CA settings are checked before connecting, and the
managed server's certificates are made, kept and renewed as they should be.

The connections themselves are tried against a real server that requires TLS in
tests/integration/test_tls.py.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import SecretStr

from provenance_graph.errors import ConfigurationError
from provenance_graph.server import ManagedServer
from provenance_graph.server.tls import RENEW_BEFORE, VALIDITY, BoltCertificates
from provenance_graph.settings import ConnectionSettings, ServerSettings
from provenance_graph.store import GraphStore


def _settings(uri: str, trusted_ca: Path | None) -> ConnectionSettings:
    return ConnectionSettings(uri=uri, password=SecretStr("pw"), trusted_ca=trusted_ca)


@pytest.fixture
def certs(tmp_path: Path) -> BoltCertificates:
    made = BoltCertificates(tmp_path / "certificates")
    assert made.ensure()
    return made


def test_certificates_are_made_once_with_a_private_key(certs: BoltCertificates) -> None:
    assert stat.S_IMODE(certs.key_file.stat().st_mode) == 0o600
    assert (certs.directory / "trusted").is_dir() and (certs.directory / "revoked").is_dir()
    assert "BEGIN PRIVATE KEY" in certs.key_file.read_text()  # PKCS#8, as Neo4j reads it
    cert = x509.load_pem_x509_certificate(certs.cert_file.read_bytes())
    ca = x509.load_pem_x509_certificate(certs.ca_file.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert not ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    before = certs.cert_file.read_bytes()
    certs.key_file.chmod(0o644)
    assert not certs.ensure(), "usable files are kept"
    assert certs.cert_file.read_bytes() == before
    assert stat.S_IMODE(certs.key_file.stat().st_mode) == 0o600, "and the key's mode is put back"
    assert not list(certs.root.rglob("*.partial"))


def test_certificates_near_their_end_or_not_belonging_together_are_made_again(
    certs: BoltCertificates, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    assert certs.usable(now + VALIDITY - RENEW_BEFORE - dt.timedelta(days=2))
    assert not certs.usable(now + VALIDITY - RENEW_BEFORE + dt.timedelta(days=1))
    old_ca = certs.ca_file.read_bytes()
    assert certs.ensure(now + VALIDITY)
    assert certs.ca_file.read_bytes() != old_ca, "a new CA for the new certificate"
    other = BoltCertificates(tmp_path / "other")
    other.ensure()
    certs.ca_file.write_bytes(other.ca_file.read_bytes())
    assert not certs.usable(now), "a certificate the CA did not sign"
    assert certs.ensure()
    certs.key_file.write_bytes(other.key_file.read_bytes())
    assert not certs.usable(now), "a key that is not the certificate's"


def test_the_managed_servers_tls_mode_reaches_its_conf_and_its_clients(tmp_path: Path) -> None:
    plain = ManagedServer(ServerSettings(home=tmp_path / "plain"))
    assert plain.tls_mode() == "disabled"
    assert plain.status().ca_certificate is None
    required = ManagedServer(ServerSettings(home=tmp_path / "tls", bolt_tls="required"))
    (required.home / "password").parent.mkdir(parents=True)
    (required.home / "password").write_text("pw\n")
    assert required.connection().trusted_ca == required.certificates.ca_file
    assert required.status().ca_certificate == required.certificates.ca_file
    required.conf_dir.mkdir()
    required._write_conf()
    conf = (required.conf_dir / "neo4j.conf").read_text()
    assert "server.bolt.tls_level=REQUIRED\n" in conf
    assert "dbms.ssl.policy.bolt.enabled=true\n" in conf
    assert "dbms.ssl.policy.bolt.client_auth=NONE\n" in conf
    plain.conf_dir.mkdir(parents=True)
    plain._write_conf()
    conf = (plain.conf_dir / "neo4j.conf").read_text()
    assert "server.bolt.tls_level=DISABLED\n" in conf
    assert "dbms.ssl.policy.bolt" not in conf


def test_a_trusted_ca_with_a_plain_scheme_turns_tls_on(certs: BoltCertificates) -> None:
    for scheme in ("bolt", "neo4j"):
        with GraphStore(_settings(f"{scheme}://127.0.0.1:7687", certs.ca_file)) as store:
            assert store.driver.encrypted
    with GraphStore(_settings("bolt://127.0.0.1:7687", None)) as store:
        assert not store.driver.encrypted


@pytest.mark.parametrize("scheme", ["bolt+s", "neo4j+s", "bolt+ssc", "neo4j+ssc"])
def test_a_trusted_ca_with_a_tls_scheme_is_a_clear_error(certs: BoltCertificates, scheme: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(f"cannot be used with {scheme}://")) as info:
        GraphStore(_settings(f"{scheme}://graph.example.org:7687", certs.ca_file))
    plain = scheme.partition("+")[0]
    assert info.value.hint is not None
    assert f"use {plain}://graph.example.org:7687 with NEO4J_TRUSTED_CA" in info.value.hint


def test_a_missing_or_malformed_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the trusted CA file .*no-ca.pem"):
        GraphStore(_settings("bolt://127.0.0.1:7687", tmp_path / "no-ca.pem"))
    with pytest.raises(ConfigurationError, match="cannot read the trusted CA file"):
        GraphStore(_settings("bolt://127.0.0.1:7687", tmp_path))
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError, match="holds no usable PEM certificate"):
        GraphStore(_settings("bolt://127.0.0.1:7687", tmp_path / "key.pem"))
