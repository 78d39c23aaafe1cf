"""The Neo4j driver, imported without the array and data-frame libraries it would load for nothing.

When numpy, pandas and pyarrow are installed (the ``lsst`` extra brings them), the driver
imports all three at start-up (``neo4j._optional_deps``) for its ``Result.to_df``, Arrow
and vector support and to pack numpy values given as query parameters. The store uses
none of it: every parameter it passes is built from plain Python values (the data IDs,
ids and counts of our own model). numpy alone costs about 0.12 CPU-s, pyarrow as much
again, more than a third of a cold ``provgraph query``.

The driver offers no switch for this (no option or environment variable; its optional
imports are a ``try: import ... except ImportError``). So the store imports the driver
through this module first, with those libraries that are not loaded yet hidden for the
duration of that import only, by Python's documented rule that a ``None`` entry in
`sys.modules` makes an import raise `ImportError` (the import system reference, "The
module cache"). Nothing of the driver is patched, and any later ``import numpy`` (a
task's, say) works as usual. A library loaded before the store is left visible, so the
driver then supports it as it would anyway. A numpy value passed to the store after
this is refused by the driver with ``Values of type <class 'numpy.int64'> are not
supported``, never sent silently in another form.
"""

from __future__ import annotations

import sys

__all__: list[str] = []

#: Libraries the driver loads at import when present, and the store never asks it to use.
_NOT_NEEDED = ("numpy", "pandas", "pyarrow")

_hidden = [name for name in _NOT_NEEDED if name not in sys.modules]
for _name in _hidden:
    sys.modules[_name] = None  # type: ignore[assignment]  # makes `import numpy` raise ImportError
try:
    import neo4j  # noqa: F401  # the driver, once, before any other module of the store
finally:
    for _name in _hidden:
        if sys.modules.get(_name, "") is None:
            del sys.modules[_name]
