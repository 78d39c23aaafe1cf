"""Who may ask the API: the Neo4j user's credentials, or a token kept in a private file.

The policy, decided once when the server starts (`access_for`):

- On a loopback address with no token file, anyone on this machine may ask: no
  authentication, as with the managed Neo4j itself.
- Otherwise every request must authenticate, by either of
  - ``Authorization: Basic`` with the user name and password the store connects with
    (those of ``NEO4J_USER``/``NEO4J_PASSWORD``, the config file or the managed server);
  - ``Authorization: Bearer TOKEN`` with the token of ``--token-file``, a file that only its
    owner may read (mode 0600): one that group or others can read is refused at start.
- Bound beyond loopback with no way to authenticate (no token file and an empty password)
  the server does not start.

Secrets are compared in constant time (`secrets.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from provenance_graph.errors import ConfigurationError

__all__ = ["Access", "access_for", "is_loopback", "read_token_file"]

#: The longest token file read: a token is a line, not a document.
_MAX_TOKEN_BYTES = 4096


@dataclass(frozen=True)
class Access:
    """How requests authenticate; ``required`` False lets every request in."""

    required: bool
    user: str
    password: str = ""
    """The store's password; empty: Basic authentication is off."""
    token: str | None = None
    """The token of the token file; None: Bearer authentication is off."""

    @property
    def schemes(self) -> list[str]:
        """The ``WWW-Authenticate`` challenges a refused request is told of."""
        found = ['Basic realm="provgraph"'] if self.password else []
        return [*found, 'Bearer realm="provgraph"'] if self.token is not None else found

    def admits(self, authorization: str | None) -> bool:
        """Whether a request with this ``Authorization`` header may be answered."""
        if not self.required:
            return True
        scheme, _, credentials = (authorization or "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            return secrets.compare_digest(credentials.encode(), self.token.encode())
        if scheme.lower() == "basic" and self.password:
            try:
                user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            same_user = secrets.compare_digest(user.encode(), self.user.encode())
            return secrets.compare_digest(password.encode(), self.password.encode()) and same_user
        return False


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def read_token_file(path: Path) -> str:
    """The token in ``path``: its one line, from a regular file that only its owner may read.

    Every refusal is a `ConfigurationError` of one line naming the file and the fix.
    """
    try:
        info = path.stat()
    except OSError as err:
        raise ConfigurationError(f"cannot read token file {path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(f"token file {path} is not a regular file: give a file holding the token")
    if info.st_mode & 0o077:
        raise ConfigurationError(
            f"token file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):04o}): "
            f"run 'chmod 600 {path}' and start again"
        )
    if info.st_size > _MAX_TOKEN_BYTES:
        raise ConfigurationError(f"token file {path} is larger than a token ({info.st_size} bytes)")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigurationError(f"cannot read token file {path}: {err}") from None
    if not token or any(c.isspace() for c in token):
        raise ConfigurationError(
            f"token file {path} must hold one token of no spaces, e.g. made by "
            f"'python3 -c \"import secrets; print(secrets.token_urlsafe(32))\" > {path}'"
        )
    return token


def access_for(host: str, user: str, password: str, token: str | None) -> Access:
    """The access policy of a server bound to ``host`` (see the module docstring).

    ``token`` is the token file's (`read_token_file`), or None. Raises `ConfigurationError`
    (one line) for a host beyond loopback with no way to authenticate.
    """
    loopback = is_loopback(host)
    if not loopback and token is None and not password:
        raise ConfigurationError(
            f"refusing to serve on {host} without authentication (the Neo4j password is empty): "
            "give --token-file FILE (mode 0600), or serve on 127.0.0.1"
        )
    return Access(required=not loopback or token is not None, user=user, password=password, token=token)
