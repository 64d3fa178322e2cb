"""The BentoML service: HTTP in, the serving core's answers out.

``bentoml serve service:vectorization`` (the repo-root ``service.py`` re-exports this).
Raw bodies are vetted by ``RequestGuard`` (:mod:`.guard`) before BentoML parses them; every
refusal is a 4xx ``{"error", "detail"}``. Each API method hands its input to the worker's
:class:`~.core.ServingCore`, which does the work; the routes come from :mod:`.routes`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import bentoml
from starlette.responses import Response

from clipvec.errors import ClipvecError, ModelLoadError
from clipvec.search import SearchOptions
from clipvec.serving import answers, metrics, routes
from clipvec.serving.core import ServingCore
from clipvec.serving.error_bodies import error_response
from clipvec.serving.get_api import attach_get_api, get_app
from clipvec.serving.guard import RequestGuard, bound_connections, json_protocol_errors, parse_multipart
from clipvec.serving.routes import MULTIPART_BOUNDARY, UI_MOUNT
from clipvec.serving.startup import prepare_to_serve, raise_open_files_limit, stop_server_from_worker
from clipvec.serving.web import attach, web_app
from clipvec.settings import get_settings

log = logging.getLogger("clipvec.service")
F = TypeVar("F", bound=Callable[..., Any])


def _error_answer(err: ClipvecError, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if err.status >= 500:
        log.warning("%s: %s", err.code, err.detail)
    # BentoML gives a returned Response the status of ctx.response when the API takes ctx.
    for value in (*args, *kwargs.values()):
        if isinstance(value, bentoml.Context):
            value.response.status_code = err.status
    return error_response(err)


def json_errors(func: F) -> F:
    """Turn a ClipvecError into its 4xx/5xx JSON answer instead of BentoML's generic 500.

    Keeps ``func`` sync or async: BentoML runs a sync API in its threads and awaits an
    async one on the event loop (it looks at the function it is given).
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except ClipvecError as err:
                return _error_answer(err, args, kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClipvecError as err:
            return _error_answer(err, args, kwargs)

    return wrapper  # type: ignore[return-value]


def vector_answer(answer: dict[str, Any] | bytes) -> Response:
    """A vector answer as JSON written by :func:`.answers.vector_answer_bytes`, not by BentoML's
    ``json.dumps`` (issue 20.4); image routes write it in their lane thread, off the event loop."""
    body = answer if isinstance(answer, bytes) else answers.vector_answer_bytes(answer)
    return Response(body, media_type="application/json")


@bentoml.asgi_app(web_app, path=UI_MOUNT)  # the search page: GET /ui
@bentoml.asgi_app(get_app, path="/")  # GET /duplicates (BentoML's APIs are POST only)
@bentoml.service(
    name="clip_image_vectorizer",
    # CLIPVEC_WORKERS processes per replica; each loads its own model (README "Scaling out").
    workers=get_settings().workers,
    # BentoML runs at most `threads` sync API calls at once (default 1): with one, requests
    # queue up and are encoded one by one. Torch's own threads are set by CLIPVEC_THREADS.
    # The image routes are async and never take these threads: they run in the core's
    # image lane (serving/image_lane.py), so images waiting for the decode pixel budget
    # cannot hold up text, search and the collection count (issue 21: 39-75 s before).
    threads=64,
    # No BentoML max_concurrency: RequestGuard limits requests once their body has arrived
    # (CLIPVEC_MAX_CONCURRENCY), so slow uploads cannot take every slot.
    traffic={"timeout": 300},
)
class Vectorization:
    """CLIP vectors for texts and images."""

    @bentoml.on_deployment
    def _before_workers() -> None:
        """Once, before BentoML starts workers: check the model and absolutise paths (issue 10)."""
        prepare_to_serve()

    def __init__(self) -> None:
        self.settings = get_settings()
        try:
            self.core = ServingCore.from_settings(self.settings)
        except ModelLoadError as err:
            # Checked before the workers started, yet it failed here: stop rather than be respawned forever.
            stop_server_from_worker(err.detail)
            raise
        metrics.start_at_zero()
        attach(web_app, self.core)  # the page serves this worker's collection and images
        attach_get_api(get_app, self.core)
        # Says at start (in the log) when the collection belongs to another model or cannot be
        # reached; in a thread, so that a Milvus outage does not hold up the worker's start.
        threading.Thread(
            target=self.core.store.check_at_start, name="clipvec-store-check", daemon=True
        ).start()

    @bentoml.on_shutdown
    def close_store(self) -> None:
        """On Ctrl-C / SIGTERM: stop Milvus Lite and release its lock files (none left behind)."""
        self.core.close()

    def __is_ready__(self) -> bool:
        """``/readyz``: 503 while the store cannot be opened or read (vectorizing still works)."""
        return self.core.is_ready()

    def _options(self, ctx: bentoml.Context) -> SearchOptions:
        return SearchOptions.from_query(ctx.request.query_params, self.settings.top_k)

    # ------------------------------------------------------------------ single items
    # Image routes are async and hand their work to the core's image lane (see above).
    @bentoml.api(route=routes.VECTORIZE_TEXT.path)
    @json_errors
    def vectorize_text(self, text: str, /) -> dict[str, Any]:
        """Text body (text/plain, UTF-8) -> its CLIP vector."""
        return vector_answer(self.core.vectorize_text(text))  # type: ignore[return-value]

    @bentoml.api(route=routes.VECTORIZE_IMAGE.path)
    @json_errors
    async def vectorize_image(self, image: bytes, /) -> dict[str, Any]:
        """Raw image bytes (any supported format, sniffed from the bytes) -> its CLIP vector."""

        def work() -> bytes:
            return answers.vector_answer_bytes(self.core.vectorize_image(image))

        return vector_answer(await self.core.image_lane.run(work))  # type: ignore[return-value]

    # ------------------------------------------------------------------ batches
    @bentoml.api(route=routes.VECTORIZE_TEXTS.path)
    @json_errors
    def vectorize_texts(self, texts: list[Any], /) -> dict[str, Any]:
        """JSON list of strings -> one result per item; a bad item gets its own error."""
        return vector_answer(self.core.vectorize_texts(texts))  # type: ignore[return-value]

    @bentoml.api(route=routes.VECTORIZE_IMAGES.path)
    @json_errors
    async def vectorize_images(self, body: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """multipart/form-data with several files -> one result per file, in order."""
        boundary = ctx.request.headers.get(MULTIPART_BOUNDARY.decode(), "")  # the guard's reading

        def work() -> bytes:
            files = parse_multipart(body, boundary.encode("latin-1"))
            return answers.vector_answer_bytes(self.core.vectorize_images(files))

        return vector_answer(await self.core.image_lane.run(work))  # type: ignore[return-value]

    # ------------------------------------------------------------------ search and add
    @bentoml.api(route=routes.SEARCH_TEXT.path)
    @json_errors
    def search_text(self, query: str, /, ctx: bentoml.Context) -> dict[str, Any]:
        """Text body -> nearest stored images. Query string: top_k, min_score, path_prefix."""
        return self.core.search_text(query, self._options(ctx))

    @bentoml.api(route=routes.SEARCH_IMAGE.path)
    @json_errors
    async def search_image(self, image: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """Raw image body (like /vectorize_image) -> nearest stored images."""
        return await self.core.image_lane.run(self.core.search_image, image, self._options(ctx))

    @bentoml.api(route=routes.SEARCH_COMBINED.path)
    @json_errors
    async def search_combined(self, body: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """``{"parts": [{"text"|"image_path"|"image_b64": ..., "weight": 1}]}`` -> nearest stored images."""
        return await self.core.image_lane.run(self.core.search_combined, body, self._options(ctx))

    @bentoml.api(route=routes.ADD_IMAGE.path)
    @json_errors
    async def add_image(self, image: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """Raw image body (+ ?name=photo.jpg) -> saved under the images folder and stored."""
        name = ctx.request.query_params.get("name", "")
        return await self.core.image_lane.run(self.core.add_image, image, name)

    @bentoml.api(route=routes.COLLECTION_INFO.path)
    @json_errors
    def collection_info(self) -> dict[str, Any]:
        """How many images the collection holds, and which model and metric made it."""
        return self.core.collection_info()

    @bentoml.api(route=routes.IMPORT_FOLDER.path)
    @json_errors
    def import_folder(self, ctx: bentoml.Context) -> dict[str, Any]:
        """Import the images folder (CLIPVEC_IMAGES_DIR) in the background; 202 when a run starts."""
        started, status = self.core.import_folder()
        ctx.response.status_code = 202 if started else 200
        return {"started": started, "import": status}

    @bentoml.api(route=routes.IMPORT_STATUS.path)
    @json_errors
    def import_status(self) -> dict[str, Any]:
        """The current or last import: state, files done of total, and its result."""
        return self.core.import_status()


_settings = get_settings()
Vectorization.add_asgi_middleware(
    RequestGuard,
    max_body_bytes=_settings.max_body_bytes,
    max_batch_items=_settings.max_batch_items,
    api_key=_settings.api_key,
    allowed_origins=_settings.allowed_origins,
    idle_timeout=_settings.body_idle_timeout,
    min_rate=_settings.body_min_rate,
    max_concurrency=_settings.max_concurrency,
    allowed_hosts=_settings.allowed_hosts,
)
json_protocol_errors()
# Idle connections must not take every file descriptor (issue 21): in BentoML's main process
# and in each worker, which imports this module before it makes its uvicorn config.
raise_open_files_limit()
bound_connections(_settings.header_timeout, _settings.max_connections)
vectorization = Vectorization
