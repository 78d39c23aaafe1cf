"""Reading the small text files a user names: pipelines, config files, clustering rules, sites.

Such a file is read only when it is a regular file of at most `MAX_BYTES`, so that
``/dev/zero``, ``/dev/urandom``, a FIFO or a 60 MB file handed over by mistake is one
clear error, not a read without end, a ``MemoryError`` or minutes of YAML parsing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from provenance_graph.errors import ProvenanceGraphError

__all__ = ["MAX_BYTES", "read_text_file"]

#: The largest file `read_text_file` reads: 10 MB. The demo pipeline is 3 kB.
MAX_BYTES = 10_000_000


def read_text_file(
    path: Path, what: str, error: type[ProvenanceGraphError], *, max_bytes: int = MAX_BYTES
) -> str:
    """Return the UTF-8 text of the regular file ``path``, of at most ``max_bytes`` bytes.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages, e.g. ``"pipeline file"``.
    error
        The error to raise, e.g. `PipelineError`.
    max_bytes
        The size limit.

    Raises
    ------
    ProvenanceGraphError
        Of type ``error``: the file does not exist, is not a regular file (a device, a
        FIFO, a directory), is larger than ``max_bytes``, cannot be read or is not UTF-8.
    """
    shown = repr(str(path))
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not hang; a regular file ignores it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} {shown} does not exist", hint=f"give the path of a {what}") from None
    except OSError as err:
        raise error(f"cannot read {what} {shown}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(
                f"{what} {shown} is not a regular file ({_kind(info.st_mode)})",
                hint=f"give the path of a {what}",
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)  # a file growing meanwhile stops here too
    except OSError as err:
        raise error(f"cannot read {what} {shown}: {err.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise error(
            f"{what} {shown} is larger than {max_bytes // 1_000_000} MB",
            hint=f"a {what} is small text; check that this is the file you meant",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"{what} {shown} is not UTF-8 text: byte {data[err.start]:#04x} at offset {err.start}",
            hint="save it as UTF-8",
        ) from None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a file"
