"""The Neo4j driver, imported without the data-frame libraries it would load for nothing.

When pandas and pyarrow are installed (the ``lsst`` extra brings them), the driver imports
both at start-up (``neo4j._optional_deps``) for its ``Result.to_df`` and Arrow support,
which the store never uses: a third of a cold ``provgraph`` command's start. The store
imports the driver through this module first, with those two hidden for the duration of
that import only, so any later ``import pandas`` (a task's, say) works as usual. numpy is
left alone: the driver packs numpy values given as query parameters with it.
"""

from __future__ import annotations

import sys

__all__: list[str] = []

#: Libraries the driver loads at import when present, and the store never asks it to use.
_NOT_NEEDED = ("pandas", "pyarrow")

_hidden = [name for name in _NOT_NEEDED if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # makes `import pandas` raise ImportError
try:
    import neo4j  # noqa: F401  # the driver, once, before any other module of the store
finally:
    for _name in _hidden:
        if sys.modules.get(_name, "") is None:
            del sys.modules[_name]
