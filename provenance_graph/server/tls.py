"""TLS for the managed server's Bolt port: a private CA and a certificate for 127.0.0.1.

Neo4j's SSL framework reads a policy's files from ``dbms.ssl.policy.bolt.base_directory``.
We keep the layout its operations manual describes, under the server's home::

    certificates/ca.crt              the private CA's certificate: what clients trust
    certificates/bolt/private.key    the server's key (PKCS#8 PEM, mode 0600)
    certificates/bolt/public.crt     the server's certificate, for 127.0.0.1 and localhost
    certificates/bolt/trusted/       client certificates to trust (none: no client auth)
    certificates/bolt/revoked/       certificate revocation lists (none)

The CA's own key signs the server's certificate once and is thrown away, never
written anywhere: trusting this CA trusts this one server certificate and nothing
else. The CA and the certificate are made again together when the certificate
nears its end, or when the files do not belong together.

``cryptography`` is imported only to check or make the files: a command that only
connects (every ``provgraph query``) needs the CA file's path, not the library.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["BoltCertificates"]

_log = logging.getLogger(__name__)

VALIDITY = dt.timedelta(days=730)
"""How long a server certificate (and its CA) is valid."""
RENEW_BEFORE = dt.timedelta(days=30)
"""A certificate with less than this left is made again on the next start."""
_HOSTS = ("localhost",)
_ADDRESSES = (ipaddress.IPv4Address("127.0.0.1"),)


class BoltCertificates:
    """The managed server's Bolt certificate, its key and its private CA, under one folder.

    Parameters
    ----------
    root
        The server home's ``certificates`` folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_file = root / "ca.crt"
        """The CA certificate clients trust (``NEO4J_TRUSTED_CA``)."""
        self.directory = root / "bolt"
        """The Bolt SSL policy's base directory."""
        self.key_file = self.directory / "private.key"
        self.cert_file = self.directory / "public.crt"

    def ensure(self, now: dt.datetime | None = None) -> bool:
        """Make the CA, key and certificate unless usable ones are there; True if it made them."""
        now = now or dt.datetime.now(dt.UTC)
        for folder in (self.directory / "trusted", self.directory / "revoked"):
            folder.mkdir(parents=True, exist_ok=True)
        if self.usable(now):
            if stat.S_IMODE(self.key_file.stat().st_mode) != 0o600:
                os.chmod(self.key_file, 0o600)
            return False
        self._make(now)
        return True

    def usable(self, now: dt.datetime) -> bool:
        """True when the three files exist, belong together, and the certificate is not near its end."""
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
            ca = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            cert.verify_directly_issued_by(ca)
        except (OSError, ValueError, TypeError, InvalidSignature) as err:
            _log.debug("no usable Bolt certificates in %s (%s: %s)", self.directory, type(err).__name__, err)
            return False
        return key.public_key() == cert.public_key() and cert.not_valid_after_utc - now > RENEW_BEFORE

    def _make(self, now: dt.datetime) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        start, end = now - dt.timedelta(hours=1), now + VALIDITY
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provenance-graph"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"provenance-graph managed Neo4j CA {now:%Y-%m-%d}"),
            ]
        )
        ca_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(digital_signature=False, cert_sign=True), critical=True)
            .add_extension(ca_id, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in _HOSTS]
        names += [x509.IPAddress(a) for a in _ADDRESSES]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True, cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_id), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(self.key_file, key_pem, 0o600)
        _write(self.cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(self.ca_file, ca.public_bytes(serialization.Encoding.PEM), 0o644)


def _key_usage(*, digital_signature: bool, cert_sign: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` whole, created with ``mode`` (a key is never readable by others)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(partial, mode)
    partial.replace(path)
