"""The FastAPI application of ``provgraph serve``: authentication, errors as JSON, the routes.

`create_app` takes an open store and the access policy (`provenance_graph.api.auth`); it
does no I/O itself. Every request is authenticated first (a middleware, so the OpenAPI
document and its pages are covered too). Every error leaves as JSON of one shape,
``{"error": "...", "hint": "..."}``, the error naming its culprit and the hint how to fix it:
the store's errors by kind (404 for what the graph does not have, 422 for a question asked
wrongly, 409 for a plan in use, 503 while Neo4j is away), and FastAPI's own parameter checks
as 422 naming the parameter.

The explorer page is served beside the API: ``/`` is its HTML, ``/static/`` its modules,
style and the vendored Cytoscape.js (``static/vendor/``), all in the package, so the page
works offline. It reads everything through ``/api`` and holds no Cypher.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from provenance_graph import __version__
from provenance_graph.api.auth import Access
from provenance_graph.errors import (
    ClusteringNotFoundError,
    DatabaseError,
    DatabaseUnavailableError,
    NotInGraphError,
    PlanBusyError,
    PlanConflictError,
    PlanNotFoundError,
    ProvenanceGraphError,
)
from provenance_graph.store import GraphStore

__all__ = ["StoreDep", "create_app", "error_response", "require_writes"]

logger = logging.getLogger(__name__)

#: The explorer page: its HTML, modules, style and vendored libraries.
STATIC = Path(__file__).parent / "static"
# A browser runs a module only when it is served as JavaScript; not every system's table knows .mjs.
mimetypes.add_type("text/javascript", ".mjs")

#: HTTP status of each kind of error (the first class that matches); any other is 422.
_STATUS: tuple[tuple[type[ProvenanceGraphError], int], ...] = (
    (PlanNotFoundError, 404),
    (NotInGraphError, 404),
    (ClusteringNotFoundError, 404),
    (PlanBusyError, 409),
    (PlanConflictError, 409),
    (DatabaseUnavailableError, 503),
    (DatabaseError, 502),
)

DESCRIPTION = """\
Execution plans and provenance stored in Neo4j, read through the same typed functions as the
`provgraph` command. Data IDs come in two forms: `data_id` (a JSON object) and
`data_id_display` (the human form, `visit=2 detector=1`). Graph answers (search, neighbours,
lineage, impact) carry at most 500 nodes, edges and groups together. Errors are
`{"error": ..., "hint": ...}`.
"""


def error_response(status: int, error: str, hint: str | None = None, **headers: str) -> JSONResponse:
    """The one shape of an error answer."""
    return JSONResponse({"error": error, "hint": hint}, status_code=status, headers=headers or None)


def _store(request: Request) -> GraphStore:
    store: GraphStore = request.app.state.store
    return store


StoreDep = Annotated[GraphStore, Depends(_store)]
"""The route parameter of the app's store."""


class _ReadOnly(Exception):
    """Raised by `require_writes` on a server started without ``--allow-writes``."""


def require_writes(request: Request) -> None:
    """A route dependency: refuse (403) unless the server was started with ``--allow-writes``."""
    if not request.app.state.allow_writes:
        raise _ReadOnly


def _parameter_error(exc: RequestValidationError) -> JSONResponse:
    first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
    name = ".".join(where) or "the request"
    return error_response(
        422,
        f"bad parameter {name!r}: {first.get('msg', 'invalid')}",
        "see the parameters of this path in the API's docs (/docs)",
    )


def create_app(store: GraphStore, access: Access, *, allow_writes: bool = False) -> FastAPI:
    """The API over ``store``, answering whom ``access`` admits; writes only with ``allow_writes``."""
    from provenance_graph.api import graph, plans

    app = FastAPI(title="provenance-graph", version=__version__, description=DESCRIPTION)
    app.state.store = store
    app.state.access = access
    app.state.allow_writes = allow_writes

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if access.admits(request.headers.get("authorization")):
            return await call_next(request)
        challenge = ", ".join(access.schemes)
        return error_response(
            401,
            "authentication required",
            "send the Neo4j user's name and password (HTTP Basic), or the token of the server's "
            "--token-file as 'Authorization: Bearer TOKEN'",
            **({"WWW-Authenticate": challenge} if challenge else {}),
        )

    @app.exception_handler(ProvenanceGraphError)
    async def _ours(_request: Request, exc: ProvenanceGraphError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)
        if status >= 500:
            logger.warning("%s", exc)
        return error_response(status, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def _parameters(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _parameter_error(exc)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "see the API's paths in its docs (/docs)")

    @app.exception_handler(_ReadOnly)
    async def _read_only(_request: Request, _exc: _ReadOnly) -> JSONResponse:
        return error_response(
            403,
            "this server is read-only: it answers questions but changes nothing",
            "restart it with 'provgraph serve --allow-writes' to allow changes",
        )

    @app.get("/api", tags=["about"])
    def about() -> dict[str, Any]:
        """The server: its version, whether it allows writes, and the database it reads."""
        return {
            "version": __version__,
            "allow_writes": allow_writes,
            "authentication": access.required,
            "neo4j": store.settings.display_uri,
            "database": store.database,
        }

    app.include_router(plans.router)
    app.include_router(graph.router)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        """The explorer page: dashboard, lineage explorer and failures of the stored plans."""
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
