"""Hints in the command line's words, for library errors whose own hints speak Python.

`write_plan` tells a Python caller to pass ``replace=True``; a user of ``provgraph plan``
must read ``--replace`` instead. The library raises an error that carries its reason
(`PlanExistsError`), and the command that called it words the hint with its own options.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from provenance_graph.errors import PlanExistsError

__all__ = ["stored_plan_hint"]


@contextlib.contextmanager
def stored_plan_hint(*, plan_id_option: bool) -> Iterator[None]:
    """Word the hint of a `PlanExistsError` raised inside with this command's options.

    Parameters
    ----------
    plan_id_option
        Whether the command chooses the plan's id with ``--plan-id`` (``plans import`` and
        ``run --plan FILE`` take it from the file).
    """
    try:
        yield
    except PlanExistsError as err:
        if plan_id_option:
            err.hint = "give the new plan another id with --plan-id, or replace the stored one with --replace"
        else:
            err.hint = (
                "replace the stored plan with --replace, or delete it first "
                f"('provgraph plans delete {err.plan_id}')"
            )
        raise
