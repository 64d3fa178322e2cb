"""The service's ``GET`` APIs (``routes.GET_ROUTES``): a small Starlette app mounted at the root.

BentoML's APIs are POST only, so ``GET /duplicates`` and ``GET /facets`` are served here, behind the same
request guard (key, host, origin, unknown or repeated query parameters) as every route.
Finding near-duplicates reads every vector and takes CPU seconds (about a minute and a
half at 100k on 2 cores), so it runs in a lane of its own: one run per worker at a time in
its own thread, a second request waits on the event loop (no thread held) and is answered
``503 busy`` after :data:`DUPLICATES_MAX_WAIT`; search, vectorizing and health checks keep
their threads. The answer lists at most ``limit`` groups (default :data:`DEFAULT_LIMIT`).
The facets read a few scalar columns (about a second at 100k, then kept while current) in a
thread of Starlette's pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clipvec.errors import ClipvecError
from clipvec.search.duplicates import DuplicateOptions
from clipvec.serving.error_bodies import error_response, json_error_response
from clipvec.serving.image_lane import ImageLane
from clipvec.serving.routes import DUPLICATES, FACETS

if TYPE_CHECKING:
    from clipvec.serving.core import ServingCore

DEFAULT_LIMIT = 100
DUPLICATES_MAX_WAIT = 120.0


class Busy(ClipvecError):
    """Another near-duplicates run is going on in this worker."""

    status, code = 503, "busy"


async def duplicates(request: Request) -> Response:
    """``GET /duplicates?threshold=0.95&path_prefix=P&limit=N``: groups of near-duplicate images."""
    core: ServingCore | None = getattr(request.app.state, "core", None)
    lane: ImageLane | None = getattr(request.app.state, "lane", None)
    if core is None or lane is None:
        return json_error_response(503, "unavailable", "the service is starting; try again shortly")
    try:
        options = DuplicateOptions.from_query(request.query_params, DEFAULT_LIMIT)
        return JSONResponse(await lane.run(core.duplicates, options))
    except ClipvecError as err:
        return error_response(err)


async def facets(request: Request) -> Response:
    """``GET /facets``: cameras, lenses, formats and the date range, with counts."""
    core: ServingCore | None = getattr(request.app.state, "core", None)
    if core is None:
        return json_error_response(503, "unavailable", "the service is starting; try again shortly")
    try:
        return JSONResponse(await run_in_threadpool(core.facets))
    except ClipvecError as err:
        return error_response(err)


def make_get_app() -> Starlette:
    return Starlette(
        routes=[
            Route(DUPLICATES.path, duplicates, methods=["GET"], name=DUPLICATES.name),
            Route(FACETS.path, facets, methods=["GET"], name=FACETS.name),
        ]
    )


def attach_get_api(app: Starlette, core: ServingCore) -> None:
    """Give the GET APIs the worker's serving core and their lane (one run at a time)."""
    app.state.core = core
    app.state.lane = ImageLane(1, DUPLICATES_MAX_WAIT, busy=Busy, what="duplicates")


get_app = make_get_app()
"""Mounted at ``/`` by ``@bentoml.asgi_app(get_app)``; BentoML matches it only for its own paths."""
