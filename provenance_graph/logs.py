"""Logging for the ``provgraph`` command and its worker processes; the library itself only logs.

Every module that logs takes ``logging.getLogger(__name__)``, so loggers are named
``provenance_graph.<package>.<module>``. Importing the package configures nothing:
it adds one `logging.NullHandler` to the ``provenance_graph`` logger, as a library
should, and what is logged goes nowhere until an application configures logging.

The command line configures it with `configure`, following pipetask's options:

``--log-level LEVEL``
    the level of the ``provenance_graph`` loggers (default ``WARNING``);
``--log-level COMPONENT=LEVEL``
    the level of one logger and those below it, e.g. ``provenance_graph.store=DEBUG``,
    ``neo4j=DEBUG``, or ``.=DEBUG`` for the root logger (every library); repeatable;
``--log-file PATH``
    append log lines to ``PATH`` instead of writing them to stderr.

Each logger reaches the one handler through the root logger; the handler lets a
record through only at or above the level configured for the nearest named
component, so a library that turns its own logger up (Parsl sets ``parsl`` to DEBUG)
does not flood the output. A line in a file carries the time (UTC), level, logger
name, process id and message; on stderr, the level, logger name and message. Both are
redacted: a password in a URI (``scheme://user:password@host``) and the value of
``NEO4J_PASSWORD`` never appear.

Worker processes inherit the settings through ``PROVGRAPH_LOG_LEVEL`` and
``PROVGRAPH_LOG_FILE``, which `configure` sets and `configure_from_env` (called
when a worker is set up) reads; a user may set them too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

from provenance_graph.errors import ConfigurationError

__all__ = [
    "LEVELS",
    "LEVEL_ENV",
    "LOG_FILE_ENV",
    "configure",
    "configure_from_env",
    "parse_levels",
    "redact",
    "suppress_and_log",
]

_log = logging.getLogger(__name__)

#: The level names ``--log-level`` accepts (in any case), most severe first.
LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
#: The environment variable that carries ``--log-level`` to worker processes.
LEVEL_ENV = "PROVGRAPH_LOG_LEVEL"
#: The environment variable that carries ``--log-file`` to worker processes.
LOG_FILE_ENV = "PROVGRAPH_LOG_FILE"

#: The logger a bare ``LEVEL`` sets; ``.`` names the root logger.
_DEFAULT_COMPONENT = "provenance_graph"
_ROOT = "."

_FILE_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s[%(process)d]: %(message)s"
_STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

#: ``scheme://user:password@``: the password part, up to the last ``@`` before a space or
#: quote, so a password holding ``@`` or ``/`` (not percent-encoded) is hidden whole.
_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*):[^\s'\"]*@")

#: How to undo the configuration in force in this process (`configure`), if any.
_ACTIVE: list[Callable[[], None]] = []


def parse_levels(items: Iterable[str]) -> dict[str, int]:
    """Read ``--log-level`` values into levels by logger name (``""`` is the root logger).

    Parameters
    ----------
    items
        Each ``LEVEL`` or ``COMPONENT=LEVEL``, or several of them separated by commas;
        a later value for the same component wins.

    Returns
    -------
    dict[str, int]
        The root logger's and ``provenance_graph``'s levels (``WARNING`` unless given),
        and those of the components named.

    Raises
    ------
    ConfigurationError
        If a value is not ``LEVEL`` or ``COMPONENT=LEVEL`` with a known level.
    """
    levels = {"": logging.WARNING, _DEFAULT_COMPONENT: logging.WARNING}
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            component, equals, name = part.rpartition("=")
            component = component.strip()
            if name.strip().upper() not in LEVELS or (equals and not component):
                raise ConfigurationError(
                    f"--log-level {part!r} is not LEVEL or COMPONENT=LEVEL; LEVEL is one of "
                    f"{', '.join(LEVELS)} (any case), COMPONENT a logger name or '.' for all"
                )
            key = "" if component == _ROOT else (component or _DEFAULT_COMPONENT)
            levels[key] = logging.getLevelNamesMapping()[name.strip().upper()]
    return levels


@contextlib.contextmanager
def suppress_and_log(
    logger: logging.Logger,
    level: int,
    message: str,
    *args: object,
    exceptions: type[BaseException] | tuple[type[BaseException], ...] = Exception,
) -> Iterator[None]:
    """`contextlib.suppress`, but what is suppressed is logged with the reason it may be.

    Parameters
    ----------
    logger
        The module's logger.
    level
        ``logging.DEBUG`` for an expected, harmless case; ``logging.WARNING`` when
        something the user may care about was lost.
    message
        What failed and why going on is right, %-formatted with ``args``; the
        exception's type and text are appended.
    *args
        Arguments of ``message``.
    exceptions
        What to suppress; anything else propagates.
    """
    try:
        yield
    except exceptions as err:
        logger.log(level, f"{message} (%s: %s)", *args, type(err).__name__, err)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Hide passwords in ``text``: a URI's ``user:password@`` part, and each of ``secrets``.

    Parameters
    ----------
    text
        A formatted log line.
    secrets
        Values that must not appear; empty ones are ignored.

    Returns
    -------
    str
        ``text`` with each password replaced by ``***``.
    """
    text = _URI_PASSWORD.sub(r"\g<head>:***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def configure(levels: Iterable[str] = (), file: Path | None = None) -> Callable[[], None]:
    """Send log records to stderr, or to ``file``, at the levels asked for; for applications.

    Replaces what an earlier call configured. The settings are also put in the
    environment (`LEVEL_ENV`, `LOG_FILE_ENV`) for worker processes started later.

    Parameters
    ----------
    levels
        ``--log-level`` values (`parse_levels`).
    file
        Append lines to this file instead of writing them to stderr.

    Returns
    -------
    Callable[[], None]
        Undoes the configuration: removes the handler, restores logger levels and the
        environment.

    Raises
    ------
    ConfigurationError
        If a level is not acceptable, or ``file`` cannot be opened for appending.
    """
    parsed = parse_levels(levels)
    if file is not None:
        file = file.absolute()
    handler = _file_handler(file) if file is not None else _StderrHandler()
    secret = os.environ.get("NEO4J_PASSWORD", "")
    handler.setFormatter(
        _RedactingFormatter(_FILE_FORMAT if file else _STDERR_FORMAT, _DATE_FORMAT, (secret,))
    )
    handler.addFilter(_Threshold(parsed))
    for earlier in list(_ACTIVE):
        earlier()

    loggers = {name: logging.getLogger(name or None) for name in parsed}
    saved_levels = {name: logger.level for name, logger in loggers.items()}
    saved_env = {var: os.environ.get(var) for var in (LEVEL_ENV, LOG_FILE_ENV)}
    for name, logger in loggers.items():
        logger.setLevel(parsed[name])
    root = logging.getLogger()
    root.addHandler(handler)
    os.environ[LEVEL_ENV] = " ".join(
        f"{name or _ROOT}={logging.getLevelName(n)}" for name, n in parsed.items()
    )
    if file is not None:
        os.environ[LOG_FILE_ENV] = str(file)
    else:
        os.environ.pop(LOG_FILE_ENV, None)

    def undo() -> None:
        root.removeHandler(handler)
        handler.close()
        for name, logger in loggers.items():
            logger.setLevel(saved_levels[name])
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if undo in _ACTIVE:
            _ACTIVE.remove(undo)

    _ACTIVE.append(undo)
    return undo


def configure_from_env() -> None:
    """In a worker process, configure logging as the command that started it did.

    Does nothing unless `LEVEL_ENV` or `LOG_FILE_ENV` is set, or when logging was
    configured in this process already (an engine that runs jobs in the command's own
    process). Settings that are not acceptable are ignored, with a warning logged: a
    worker must not fail for its logging.
    """
    if _ACTIVE or not (os.environ.get(LEVEL_ENV) or os.environ.get(LOG_FILE_ENV)):
        return
    file = os.environ.get(LOG_FILE_ENV)
    try:
        configure(os.environ.get(LEVEL_ENV, "").split(), Path(file) if file else None)
    except ConfigurationError as err:
        _log.warning("ignoring the logging settings in %s and %s: %s", LEVEL_ENV, LOG_FILE_ENV, err)


def _file_handler(file: Path) -> logging.FileHandler:
    try:
        return logging.FileHandler(file, mode="a", encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(f"--log-file {str(file)!r}: cannot write there: {err.strerror}") from None


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner swaps it)."""

    @property
    def stream(self) -> TextIO:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


class _Threshold(logging.Filter):
    """Lets a record through at or above the level of the nearest configured component."""

    def __init__(self, levels: dict[str, int]) -> None:
        super().__init__()
        self.levels = levels

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        while name and name not in self.levels:
            name = name.rpartition(".")[0]
        return record.levelno >= self.levels.get(name, self.levels[""])


class _RedactingFormatter(logging.Formatter):
    """A formatter whose lines (tracebacks included) never show a password."""

    def __init__(self, fmt: str, datefmt: str, secrets: tuple[str, ...]) -> None:
        super().__init__(fmt, datefmt)
        self.converter = time.gmtime  # times in UTC, as the Z in the format says
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)
