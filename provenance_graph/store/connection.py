"""`GraphStore`: the one place that holds a Neo4j driver and runs named queries.

Everything else in the package talks to Neo4j through a `GraphStore`, by query
name and parameters. Driver errors are translated into this package's errors
(`DatabaseUnavailableError`, `DatabaseAuthError`, ...) with ``raise ... from``.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any, LiteralString, TypeVar

import neo4j
from neo4j import exceptions as neo4j_errors

from provenance_graph import __version__
from provenance_graph.errors import (
    ConfigurationError,
    DatabaseAuthError,
    DatabaseError,
    DatabaseTLSError,
    DatabaseUnavailableError,
)
from provenance_graph.queries import NamedQuery, QueryLibrary, queries
from provenance_graph.settings import ConnectionSettings

__all__ = ["GraphStore", "Reader", "Say", "quiet"]

T = TypeVar("T")
Say = Callable[[str], None]
"""Where a long operation says what it is doing: ``print``, a console's ``print``, or `quiet`."""
Reader = Callable[..., list[dict[str, Any]]]
"""Runs a named query with keyword parameters inside a transaction; returns its records."""


def quiet(_message: str) -> None:
    """A `Say` that says nothing."""
    return None


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows


def _rows(result: neo4j.Result) -> list[dict[str, Any]]:
    """A result's records as dicts, values as received.

    Our queries return values (map projections, lists, scalars), never nodes or
    relationships, so `neo4j.Record.data`'s recursive conversion is not needed;
    skipping it halves the client's time on large answers.
    """
    keys = result.keys()
    return [dict(zip(keys, record, strict=True)) for record in result]


def _cypher(named: NamedQuery) -> LiteralString:
    """A named query's text, typed as the driver wants it.

    Query text comes from the ``.cypher`` files shipped with the package, never from
    user input: this is the one place where file text is treated as a `LiteralString`.
    """
    return named.text


def _trust_options(settings: ConnectionSettings) -> dict[str, Any]:
    """Driver options for ``settings.trusted_ca``: TLS on, verified against that CA only.

    The CA file is read here, so a missing or malformed one is a clear error at once
    rather than a failed handshake later.
    """
    ca = settings.trusted_ca
    if ca is None:
        return {}
    scheme, _, rest = settings.uri.partition("://")
    if scheme.endswith(("+s", "+ssc")):
        plain = scheme.partition("+")[0]
        raise ConfigurationError(
            f"a trusted CA certificate ({ca}) cannot be used with {settings.uri}: the {scheme}:// "
            "scheme chooses its own certificate check (the system's CAs, or none for +ssc)",
            hint=f"use {plain}://{rest} with NEO4J_TRUSTED_CA (TLS is then on, checked against "
            "that CA), or unset NEO4J_TRUSTED_CA (trusted_ca in the config file)",
        )
    try:
        ssl.create_default_context(cafile=str(ca))
    except ssl.SSLError as err:
        raise ConfigurationError(
            f"the trusted CA file {ca} holds no usable PEM certificate: {err.reason or err}",
            hint="NEO4J_TRUSTED_CA (or trusted_ca) names the CA's certificate in PEM, "
            "'-----BEGIN CERTIFICATE-----'",
        ) from err
    except OSError as err:
        raise ConfigurationError(
            f"cannot read the trusted CA file {ca}: {err.strerror or err}",
            hint="check NEO4J_TRUSTED_CA (or trusted_ca in the config file); the managed server "
            "makes its CA on 'provgraph server start'",
        ) from err
    return {"encrypted": True, "trusted_certificates": neo4j.TrustCustomCAs(str(ca))}


def _causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and what lies under it: causes, contexts, and the members of exception groups."""
    seen: set[int] = set()
    stack = [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(current.exceptions if isinstance(current, BaseExceptionGroup) else ())
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _tls_error(
    err: neo4j_errors.ServiceUnavailable, settings: ConnectionSettings, *, encrypted: bool
) -> DatabaseTLSError | None:
    """The TLS problem behind a failed connection, if that is what it was.

    The driver reports these as `ServiceUnavailable`; the `ssl` error under it, or a
    server closing the connection at the Bolt handshake, tells them apart from a
    server that is not there.
    """
    uri = settings.uri
    for cause in _causes(err):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or str(cause)
            if settings.trusted_ca is not None:
                hint = (
                    f"check that {settings.trusted_ca} is the certificate of the CA that signed the "
                    "server's, and that the server's certificate names the host in the URI"
                )
            else:
                hint = (
                    "if a private CA signed it, set NEO4J_TRUSTED_CA=/path/to/ca.pem (or trusted_ca "
                    "in the [neo4j] config table) and use bolt:// or neo4j:// without +s; if it is "
                    "self-signed, use bolt+ssc:// or neo4j+ssc:// (encrypted, not verified)"
                )
            return DatabaseTLSError(
                f"Neo4j at {uri} presented a TLS certificate this client does not trust: {why}", hint=hint
            )
        if isinstance(cause, ssl.SSLError):
            return DatabaseTLSError(
                f"the TLS handshake with Neo4j at {uri} failed ({cause.reason or cause}): "
                "the server may not accept TLS on that port",
                hint="if its Bolt TLS is off, use bolt:// or neo4j:// without +s and without "
                "NEO4J_TRUSTED_CA; otherwise check the host and port",
            )
    if not encrypted and any("closed with incomplete handshake" in str(c) for c in _causes(err)):
        return DatabaseTLSError(
            f"Neo4j at {uri} closed the connection at the Bolt handshake, as a server that "
            "requires TLS does, and this connection is not encrypted",
            hint="connect with TLS: bolt+s:// or neo4j+s:// (a certificate from a public CA), "
            "bolt:// or neo4j:// with NEO4J_TRUSTED_CA=/path/to/ca.pem (a private CA), or "
            "bolt+ssc:// or neo4j+ssc:// (self-signed: encrypted, not verified)",
        )
    return None


class GraphStore:
    """A connection to one Neo4j database, with the package's named queries.

    Use `provenance_graph.store.open_store` to get one with the schema checked;
    close it with `close` or use it as a context manager.
    """

    def __init__(self, settings: ConnectionSettings, library: QueryLibrary | None = None) -> None:
        self.settings = settings
        self.queries = library or queries()
        try:
            self.driver = neo4j.GraphDatabase.driver(
                settings.uri,
                auth=(settings.user, settings.password.get_secret_value()),
                user_agent=f"provenance-graph/{__version__}",
                max_transaction_retry_time=settings.retry_seconds,
                connection_acquisition_timeout=120.0,
                notifications_min_severity="OFF",
                **_trust_options(settings),
            )
        except (ValueError, neo4j_errors.ConfigurationError) as err:
            raise DatabaseError(
                f"invalid Neo4j URI {settings.uri!r}: {err}",
                hint="use a URI like neo4j://127.0.0.1:7687 or bolt+s://host:7687",
            ) from err

    @property
    def database(self) -> str:
        """The database name queries run against."""
        return self.settings.database

    def close(self) -> None:
        """Close the driver and its connections."""
        self.driver.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- running named queries ---------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except neo4j_errors.AuthError as err:
            raise DatabaseAuthError(
                f"Neo4j at {self.settings.uri} rejected user {self.settings.user!r}: "
                "wrong user name or password",
                hint="check NEO4J_USER/NEO4J_PASSWORD (or the config file); for the managed "
                "server the password is in its password file",
            ) from err
        except neo4j_errors.ServiceUnavailable as err:
            tls_error = _tls_error(err, self.settings, encrypted=self.driver.encrypted)
            if tls_error is not None:
                raise tls_error from err
            raise DatabaseUnavailableError(
                f"no Neo4j server answers at {self.settings.uri}",
                hint="start it ('provgraph server start' for the managed one), or check NEO4J_URI",
            ) from err
        except neo4j_errors.SessionExpired as err:
            raise DatabaseUnavailableError(
                f"the connection to Neo4j at {self.settings.uri} was lost: {err}",
                hint="rerun the command once the server is back; plan writes resume",
            ) from err
        except neo4j_errors.ConstraintError:
            raise  # the plan writer turns these into PlanConflictError, naming the culprits
        except neo4j_errors.TransientError as err:
            raise DatabaseError(
                f"Neo4j at {self.settings.uri} kept failing with a transient error: {err.message}",
                hint="rerun the command; plan writes resume where they stopped",
            ) from err
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as err:
            message = getattr(err, "message", None) or str(err)
            raise DatabaseError(f"Neo4j at {self.settings.uri} failed: {message}") from err

    def verify(self) -> None:
        """Check that the server answers and accepts our credentials."""
        with self._translated():
            self.driver.verify_connectivity()

    def session(self, **config: Any) -> neo4j.Session:
        """A driver session on our database (for `store` modules only)."""
        return self.driver.session(database=self.database, **config)

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named query in a managed read transaction; return its records as dicts."""
        return self._managed(name, params, _records, write=False)

    def read_many(self, first: str, work: Callable[[Reader], T]) -> T:
        """Run several named queries in one managed read transaction: ``work(reader)``.

        ``reader(name, **params)`` runs a named query in that transaction and
        returns its records as dicts, so a multi-step question (a walk level by
        level) sees one consistent snapshot. The transaction is tagged with
        ``first``, the query it starts with. ``work`` may be retried on
        transient errors, so it must not have side effects.
        """

        @neo4j.unit_of_work(metadata=self.queries[first].metadata)
        def unit(tx: neo4j.ManagedTransaction) -> T:
            def reader(name: str, **params: Any) -> list[dict[str, Any]]:
                return _rows(tx.run(_cypher(self.queries[name]), params))

            return work(reader)

        with self._translated(), self.session() as session:
            return session.execute_read(unit)

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named query in a managed write transaction; return its records as dicts."""
        return self._managed(name, params, _records, write=True)

    def write_with(self, name: str, check: Callable[[list[dict[str, Any]]], T], **params: Any) -> T:
        """Run a named write query and ``check`` its records inside the transaction.

        If ``check`` raises, the transaction is rolled back and the error propagates.
        """
        return self._managed(name, params, check, write=True)

    def _managed(
        self,
        name: str,
        params: dict[str, Any],
        check: Callable[[list[dict[str, Any]]], T],
        *,
        write: bool,
    ) -> T:
        named = self.queries[name]

        @neo4j.unit_of_work(metadata=named.metadata)
        def work(tx: neo4j.ManagedTransaction) -> T:
            return check(_rows(tx.run(_cypher(named), params)))

        with self._translated(), self.session() as session:
            return session.execute_write(work) if write else session.execute_read(work)

    def autocommit(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named, idempotent query in an auto-commit transaction.

        Needed by ``CALL ... IN TRANSACTIONS``. The driver retries only managed
        transactions, so transient errors (deadlocks with concurrent writers) and a
        server that does not answer are retried here, with backoff, for up to
        ``settings.retry_seconds``, as the driver does for managed ones.
        """
        named = self.queries[name]
        q = neo4j.Query(_cypher(named), metadata=named.metadata)  # tagged: the query log names it
        deadline = time.monotonic() + self.settings.retry_seconds
        delay = 0.5
        with self._translated():
            while True:
                try:
                    with self.session() as session:
                        return [r.data() for r in session.run(q, params)]
                except (
                    neo4j_errors.TransientError,
                    neo4j_errors.ServiceUnavailable,
                    neo4j_errors.SessionExpired,
                ) as err:
                    if time.monotonic() + delay > deadline:
                        raise
                    # A deadlock with a concurrent writer is routine; a server that does not answer is news.
                    level = logging.DEBUG if isinstance(err, neo4j_errors.TransientError) else logging.WARNING
                    logging.getLogger(__name__).log(
                        level, "query %s: %s: %s; retrying in %.1f s", name, type(err).__name__, err, delay
                    )
                    time.sleep(delay)
                    delay = min(2 * delay, 8.0)
