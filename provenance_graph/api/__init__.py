"""The HTTP JSON API of ``provgraph serve``: the store's typed answers, for the explorer page and scripts.

A thin layer over the same store functions the command line calls, on the same floor as
`provenance_graph.cli`, holding no Cypher: `app.create_app` builds the FastAPI application,
`auth` decides who may ask, `plans` and `graph` hold the routes, `models` the bounded graph
answers. FastAPI is imported only by ``provgraph serve`` (and these modules), never by
another command.
"""

from __future__ import annotations

from provenance_graph.api.app import create_app
from provenance_graph.api.auth import Access, access_for, is_loopback, read_token_file

__all__ = ["Access", "access_for", "create_app", "is_loopback", "read_token_file"]
