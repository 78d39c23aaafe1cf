"""`GraphStore`: the one place that holds a Neo4j driver and runs named queries.

Everything else in the package talks to Neo4j through a `GraphStore`, by query
name and parameters. Driver errors are translated into this package's errors
(`DatabaseUnavailableError`, `DatabaseAuthError`, ...) with ``raise ... from``.

While the server does not answer (a restart, a ``kill -9``, a failover), every
transaction, managed or auto-commit, is run again by one retry loop of ours
(`GraphStore._retrying`), not by the driver's: every write we make is safe to
repeat, so a transaction whose commit was lost with the connection (the driver's
``IncompleteCommit``, which the driver never retries) is run again too. The window
(``settings.retry_seconds``) is measured from when the failures started, across the
store's threads, and starts afresh once a transaction succeeds; the waits between
attempts are short (at most `MAX_WAIT`), so a command picks up within seconds of the
server answering again, and each is logged as a warning.
"""

from __future__ import annotations

import contextlib
import logging
import random
import ssl
import threading
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
from provenance_graph.logs import redact
from provenance_graph.queries import NamedQuery, QueryLibrary, queries
from provenance_graph.settings import ConnectionSettings

__all__ = ["MAX_WAIT", "GraphStore", "Reader", "Say", "quiet"]

_log = logging.getLogger(__name__)

T = TypeVar("T")
Say = Callable[[str], None]
"""Where a long operation says what it is doing: ``print``, a console's ``print``, or `quiet`."""
Reader = Callable[..., list[dict[str, Any]]]
"""Runs a named query with keyword parameters inside a transaction; returns its records."""

#: Seconds before the first retry of a failed transaction; each wait doubles, up to `MAX_WAIT`.
FIRST_WAIT = 0.5
#: The longest wait between two attempts: how soon a command notices that the server is back.
MAX_WAIT = 2.0


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


def _uncounted(name: str, check: Callable[[list[dict[str, Any]]], T]) -> Callable[[list[dict[str, Any]]], T]:
    """``check``, refusing (and so rolling back) a query that changed quanta's statuses.

    Such a query returns what it changed (a ``changed`` column), and only
    `store.status_counts.write_counted` keeps the plan's counts in step with it.
    """

    def checked(rows: list[dict[str, Any]]) -> T:
        if rows and "changed" in rows[0]:
            raise DatabaseError(
                f"{name} changes quanta's statuses and was run without moving the plan's counts",
                hint="run it with provenance_graph.store.status_counts.write_counted",
            )
        return check(rows)

    return checked


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
    scheme, _, rest = settings.display_uri.partition("://")
    if scheme.endswith(("+s", "+ssc")):
        plain = scheme.partition("+")[0]
        raise ConfigurationError(
            f"a trusted CA certificate ({ca}) cannot be used with {settings.display_uri}: the {scheme}:// "
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
    uri = settings.display_uri
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


def _server_away(err: neo4j_errors.Neo4jError | neo4j_errors.DriverError) -> bool:
    """Whether ``err`` says the server is away or busy (retried), rather than that we erred.

    A transient error (a deadlock, a database still starting), a lost or refused connection,
    and a commit whose answer was lost with its connection are; a TLS problem, a refused
    login or a Cypher error are not: they do not mend by waiting.
    """
    if isinstance(err, neo4j_errors.IncompleteCommit):
        return True  # the driver does not retry it; every write of ours is safe to repeat
    if isinstance(err, neo4j_errors.ServiceUnavailable):
        return not any(isinstance(c, ssl.SSLError) for c in _causes(err))
    return err.is_retryable()


def _abandon(session: neo4j.Session) -> None:
    """Drop a session's connection without a word to the server, and forget its transaction.

    Ctrl-C (a `KeyboardInterrupt`) may land anywhere in the driver, between sending a
    message and reading its answer. Rolling back or closing over such a connection sends
    the server a message it cannot take in the state it is in ("BeginMessage cannot be
    handled by a session in the IN_TRANSACTION state"), or waits for an answer that was
    already half read. So the connection is closed at once and never reused: the server
    rolls its transaction back when the socket closes, and a later query gets a new
    connection. It is what the driver itself does for an asyncio task cancelled mid-query
    (``Session._handle_cancellation``, the one private name we call; a test checks it).
    """
    cancel = getattr(session, "_handle_cancellation", None)
    if cancel is None:  # pragma: no cover - a driver without it: the socket dies with the process
        _log.warning("cannot drop the interrupted Neo4j connection: this driver has no cancellation clean-up")
        return
    cancel(message="KeyboardInterrupt")
    session._closed = True  # as the driver's own cancellation does: nothing left to close


class GraphStore:
    """A connection to one Neo4j database, with the package's named queries.

    Use `provenance_graph.store.open_store` to get one with the schema checked;
    close it with `close` or use it as a context manager.
    """

    def __init__(self, settings: ConnectionSettings, library: QueryLibrary | None = None) -> None:
        self.settings = settings
        self.queries = library or queries()
        if settings.display_uri != settings.uri:
            raise ConfigurationError(
                f"the Neo4j URI {settings.display_uri} holds a password; the driver takes the user "
                "name and password apart from the URI",
                hint="drop 'user:password@' from NEO4J_URI (or uri in the config file) and set "
                "NEO4J_USER and NEO4J_PASSWORD (or user and password_file)",
            )
        try:
            self.driver = neo4j.GraphDatabase.driver(
                settings.uri,  # the driver refuses a password in it: checked above
                auth=(settings.user, settings.password.get_secret_value()),
                user_agent=f"provenance-graph/{__version__}",
                max_transaction_retry_time=0.0,  # we retry, from when failures started: _retrying
                connection_acquisition_timeout=120.0,
                notifications_min_severity="OFF",
                **_trust_options(settings),
            )
        except (ValueError, neo4j_errors.ConfigurationError) as err:
            raise DatabaseError(
                f"invalid Neo4j URI {settings.display_uri!r}: {redact(str(err))}",
                hint="use a URI like neo4j://127.0.0.1:7687 or bolt+s://host:7687",
            ) from err
        self.read_only = False
        """Open every session in read access mode, so that the server refuses any write
        (``provgraph serve`` without ``--allow-writes``); set by `open_store`."""
        self._failing_since: float | None = None
        """When transactions started failing because the server is away (monotonic), or None."""
        self._failing_lock = threading.Lock()

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
                f"Neo4j at {self.settings.display_uri} rejected user {self.settings.user!r}: "
                "wrong user name or password",
                hint="check NEO4J_USER/NEO4J_PASSWORD (or the config file); for the managed "
                "server the password is in its password file",
            ) from err
        except neo4j_errors.ServiceUnavailable as err:
            tls_error = _tls_error(err, self.settings, encrypted=self.driver.encrypted)
            if tls_error is not None:
                raise tls_error from err
            raise DatabaseUnavailableError(
                f"no Neo4j server answers at {self.settings.display_uri}",
                hint="start it ('provgraph server start' for the managed one), or check NEO4J_URI",
            ) from err
        except neo4j_errors.SessionExpired as err:
            raise DatabaseUnavailableError(
                f"the connection to Neo4j at {self.settings.display_uri} was lost: {redact(str(err))}",
                hint="rerun the command once the server is back; plan writes resume",
            ) from err
        except neo4j_errors.ConstraintError:
            raise  # the plan writer turns these into PlanConflictError, naming the culprits
        except neo4j_errors.TransientError as err:
            raise DatabaseError(
                f"Neo4j at {self.settings.display_uri} kept failing with a transient error: {err.message}",
                hint="rerun the command; plan writes resume where they stopped",
            ) from err
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as err:
            message = getattr(err, "message", None) or str(err)
            raise DatabaseError(f"Neo4j at {self.settings.display_uri} failed: {redact(message)}") from err

    def verify(self) -> None:
        """Check that the server answers and accepts our credentials."""
        with self._translated():
            self.driver.verify_connectivity()

    def session(self, **config: Any) -> neo4j.Session:
        """A driver session on our database (for `store` modules only)."""
        if self.read_only:
            config["default_access_mode"] = neo4j.READ_ACCESS
        return self.driver.session(database=self.database, **config)

    @contextlib.contextmanager
    def _session(self, **config: Any) -> Iterator[neo4j.Session]:
        """A session, closed afterwards; abandoned (`_abandon`) if Ctrl-C cuts into it.

        The driver's own clean-up may turn the `KeyboardInterrupt` into another error (it
        resets the connection in a ``finally``, reading a buffer the interrupt left half
        filled): an error with an interrupt under it is the interrupt, raised as such, so
        that it is neither retried nor reported as a database error.
        """
        session = self.session(**config)
        try:
            yield session
        except BaseException as err:
            if not any(isinstance(c, KeyboardInterrupt) for c in _causes(err)):
                session.close()
                raise
            _abandon(session)
            if isinstance(err, KeyboardInterrupt):
                raise
            raise KeyboardInterrupt from err
        session.close()

    def read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named query in a read transaction; return its records as dicts."""
        return self._transaction(name, params, _records, write=False)

    def read_many(self, first: str, work: Callable[[Reader], T]) -> T:
        """Run several named queries in one read transaction: ``work(reader)``.

        ``reader(name, **params)`` runs a named query in that transaction and
        returns its records as dicts, so a multi-step question (a walk level by
        level) sees one consistent snapshot. The transaction is tagged with
        ``first``, the query it starts with. ``work`` may be run again when the
        server is away or busy, so it must not have side effects.
        """

        def unit(tx: neo4j.Transaction) -> T:
            def reader(name: str, **params: Any) -> list[dict[str, Any]]:
                return _rows(tx.run(_cypher(self.queries[name]), params))

            return work(reader)

        return self._retrying(first, lambda: self._run_in_transaction(first, unit, write=False))

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named query in a write transaction; return its records as dicts."""
        return self._transaction(name, params, _uncounted(name, _records), write=True)

    def write_many(self, first: str, work: Callable[[Reader], T]) -> T:
        """Run several named queries in one write transaction: ``work(writer)``, as `read_many`.

        What the queries change commits together, or not at all: a status change and the
        counts it moves (`store.status_counts`). ``work`` is run again on a retry, after
        the failed attempt was rolled back.
        """

        def unit(tx: neo4j.Transaction) -> T:
            def writer(name: str, **params: Any) -> list[dict[str, Any]]:
                return _rows(tx.run(_cypher(self.queries[name]), params))

            return work(writer)

        return self._retrying(first, lambda: self._run_in_transaction(first, unit, write=True))

    def write_with(self, name: str, check: Callable[[list[dict[str, Any]]], T], **params: Any) -> T:
        """Run a named write query and ``check`` its records inside the transaction.

        If ``check`` raises, the transaction is rolled back and the error propagates.
        """
        return self._transaction(name, params, _uncounted(name, check), write=True)

    def _transaction(
        self,
        name: str,
        params: dict[str, Any],
        check: Callable[[list[dict[str, Any]]], T],
        *,
        write: bool,
    ) -> T:
        named = self.queries[name]

        def unit(tx: neo4j.Transaction) -> T:
            return check(_rows(tx.run(_cypher(named), params)))

        return self._retrying(name, lambda: self._run_in_transaction(name, unit, write=write))

    def _run_in_transaction(self, name: str, unit: Callable[[neo4j.Transaction], T], *, write: bool) -> T:
        """One attempt: ``unit`` in a transaction tagged with query ``name``, committed if it returns."""
        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS
        with self._session(default_access_mode=mode) as session:
            tx = session.begin_transaction(metadata=self.queries[name].metadata)
            try:
                result = unit(tx)
                tx.commit()
            except Exception as err:
                if not any(isinstance(c, KeyboardInterrupt) for c in _causes(err)):
                    tx.close()  # rolls back; not after Ctrl-C, whose connection `_session` abandons
                raise
            return result

    def autocommit(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named, idempotent query in an auto-commit transaction.

        Needed by ``CALL ... IN TRANSACTIONS``. It is retried like the others
        (`_retrying`): transient errors (deadlocks with concurrent writers) and a
        server that does not answer.
        """
        named = self.queries[name]
        q = neo4j.Query(_cypher(named), metadata=named.metadata)  # tagged: the query log names it

        def attempt() -> list[dict[str, Any]]:
            with self._session() as session:
                return [r.data() for r in session.run(q, params)]

        return self._retrying(name, attempt)

    def _retrying(self, name: str, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it succeeds, while the server is away or busy, for the retry window.

        The window (``settings.retry_seconds``) runs from when this store's transactions
        started failing (or from this call's first failure, if later failures were
        interrupted by a success elsewhere), so calls made during one outage share it; a
        success starts it afresh. Waits grow from `FIRST_WAIT` to `MAX_WAIT` (with jitter),
        each logged: a warning while the server is away, a debug line for a deadlock,
        which is routine among concurrent writers. An error that waiting cannot mend,
        or the last one when the window has run out, is raised as our own error.
        """
        first_failure: float | None = None
        wait = FIRST_WAIT
        with self._translated():
            while True:
                try:
                    result = attempt()
                except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as err:
                    if not _server_away(err):
                        raise
                    now = time.monotonic()
                    if first_failure is None:
                        first_failure = now
                    with self._failing_lock:
                        if self._failing_since is None:
                            self._failing_since = now
                        since = min(self._failing_since, first_failure)
                    left = since + self.settings.retry_seconds - now
                    if left <= 0:
                        raise
                    pause = min(wait * random.uniform(0.8, 1.2), left)
                    routine = isinstance(err, neo4j_errors.TransientError) and not isinstance(
                        err, neo4j_errors.DatabaseUnavailable
                    )
                    _log.log(
                        logging.DEBUG if routine else logging.WARNING,
                        "Neo4j at %s: query %s failed (%s: %s); trying again in %.1f s "
                        "(failing for %.0f s, giving up after %.0f s)",
                        self.settings.display_uri,
                        name,
                        type(err).__name__,
                        err,
                        pause,
                        now - since,
                        self.settings.retry_seconds,
                    )
                    time.sleep(pause)
                    wait = min(2 * wait, MAX_WAIT)
                else:
                    with self._failing_lock:
                        self._failing_since = None
                    return result
