"""Printing helpers shared by the commands: one console, errors without tracebacks, plain JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

__all__ = ["console", "err_console", "print_json"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON, unstyled.

    For scripts and pipes: rich's ``print_json`` highlights every token, which
    took seconds for a lineage of tens of thousands of datasets.
    """
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    sys.stdout.flush()
