"""The BentoML service: HTTP in, CLIP vectors (and Milvus hits) out.

``bentoml serve service:vectorization`` (the repo-root ``service.py`` re-exports this).
Raw bodies are vetted by ``RequestGuard`` before BentoML parses them; every refusal is a
4xx ``{"error", "detail"}``. Single-image requests from concurrent clients are encoded
together by ``MicroBatcher``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bentoml
import numpy as np

from clipvec.errors import (
    ClipvecError,
    EmptyInput,
    InvalidText,
    ModelLoadError,
    PayloadTooLarge,
    StorageFull,
)
from clipvec.images.budget import PixelBudget
from clipvec.images.prepare import PreparedImage, prepare_image
from clipvec.model.encoder import ClipEncoder
from clipvec.search import HIT_PATHS_SHOWN, hit_json
from clipvec.serving import metrics, routes
from clipvec.serving.batcher import MicroBatcher
from clipvec.serving.error_bodies import error_response
from clipvec.serving.guard import RequestGuard, json_protocol_errors, parse_multipart
from clipvec.serving.routes import ITEM_ERROR, ORIGINAL_CONTENT_TYPE, UI_MOUNT
from clipvec.serving.startup import prepare_to_serve, stop_server_from_worker
from clipvec.serving.web import web_app
from clipvec.settings import get_settings
from clipvec.sources import open_source
from clipvec.store import PATHS_KEPT, Hit, ImageRecord, ImageStore

log = logging.getLogger("clipvec.service")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def json_errors(func: F) -> F:
    """Turn a ClipvecError into its 4xx/5xx JSON answer instead of BentoML's generic 500."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClipvecError as err:
            if err.status >= 500:
                log.warning("%s: %s", err.code, err.detail)
            # BentoML gives a returned Response the status of ctx.response when the API takes ctx.
            for value in (*args, *kwargs.values()):
                if isinstance(value, bentoml.Context):
                    value.response.status_code = err.status
            return error_response(err)

    return wrapper  # type: ignore[return-value]


def vector_json(vector: np.ndarray) -> list[float]:
    return vector.astype(np.float32).tolist()


@bentoml.asgi_app(web_app, path=UI_MOUNT)  # the search page: GET /ui
@bentoml.service(
    name="clip_image_vectorizer",
    # CLIPVEC_WORKERS processes per replica; each loads its own model (README "Scaling out").
    workers=get_settings().workers,
    # BentoML runs at most `threads` sync API calls at once (default 1): with one, requests
    # queue up before the micro-batcher and are encoded one by one. Torch's own threads are
    # set by CLIPVEC_THREADS; these threads mostly wait (decode, then the batcher). 64, not
    # 32: images waiting for the decode pixel budget hold a thread each, and must not take
    # every thread from the normal requests behind them.
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
            self.encoder = ClipEncoder.from_settings(self.settings)
        except ModelLoadError as err:
            # Checked before the workers started, yet it failed here: stop rather than be respawned forever.
            stop_server_from_worker(err.detail)
            raise
        metrics.start_at_zero()
        self.batcher = MicroBatcher(
            self.encoder.encode_pixels,
            max_batch=self.settings.batch_size,
            on_batch=lambda n, s: metrics.observe_batch("image", n, s),
        )
        self._decode_pool = ThreadPoolExecutor(
            max_workers=max(2, self.settings.resolved_threads()), thread_name_prefix="clipvec-decode"
        )
        self.pixel_budget = PixelBudget(self.settings.decode_pixel_budget)
        self.images = open_source(self.settings.images_dir)
        self._store: ImageStore | None = None
        self._store_lock = threading.Lock()
        global CURRENT
        CURRENT = self

    # ------------------------------------------------------------------ storage
    def store(self) -> ImageStore:
        """The Milvus collection, opened on first use (and again after a lost Lite write).

        Every call waits at most ``CLIPVEC_STORE_TIMEOUT`` seconds (default 5) for Milvus,
        so requests during an outage get 503 quickly instead of hanging.
        """
        with self._store_lock:
            if self._store is None:
                timeout = self.settings.store_timeout
                self._store = ImageStore.from_settings(
                    self.settings,
                    model_name=self.encoder.name,
                    dim=self.encoder.dim,
                    timeout=timeout,
                    connect_timeout=timeout,
                    reload_timeout=timeout,
                )
            return self._store

    def with_store(self, action: Callable[[ImageStore], T]) -> T:
        """Run ``action`` on the shared store.

        An outage does not close the store: other threads are using its client, and the
        client reconnects by itself once Milvus is back. Only a Lite store that lost a write
        is replaced, since its memory then shows rows its file does not have.
        """
        store = self.store()
        try:
            return action(store)
        except StorageFull:
            if store.is_lite and store.write_failed:
                with self._store_lock:
                    if self._store is store:
                        self._store = None
                with contextlib.suppress(Exception):
                    store.close()
            raise

    @bentoml.on_shutdown
    def close_store(self) -> None:
        """On Ctrl-C / SIGTERM: stop Milvus Lite and release its lock files (none left behind)."""
        with self._store_lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def __is_ready__(self) -> bool:
        """``/readyz``: 503 while the store cannot be opened or read (vectorizing still works)."""
        try:
            self.with_store(lambda store: store.count())
        except ClipvecError as err:
            log.warning("not ready: %s: %s", err.code, err.detail)
            return False
        return True

    def _hits_answer(self, store: ImageStore, hits: list[Hit]) -> dict[str, Any]:
        return {
            "hits": [hit_json(h) for h in hits],
            "metric": store.metric,
            "higher_is_better": store.higher_is_better,
            "model": self.encoder.name,
        }

    def _search(self, vector: np.ndarray, ctx: bentoml.Context) -> dict[str, Any]:
        options = search_options(ctx, self.settings.top_k)
        return self.with_store(lambda store: self._hits_answer(store, store.search(vector, **options)))

    # ------------------------------------------------------------------ helpers
    def _prepare(self, data: bytes) -> PreparedImage:
        try:
            with self.pixel_budget.reservation() as reservation:
                prepared = prepare_image(
                    data,
                    self.encoder.preprocessor,
                    max_pixels=self.settings.max_pixels,
                    reservation=reservation,
                )
        except ClipvecError as err:
            metrics.decode_failures.labels(reason=err.code).inc()
            raise
        metrics.images_decoded.labels(format=prepared.format).inc()
        return prepared

    def _image_answer(self, prepared: PreparedImage, vector: np.ndarray) -> dict[str, Any]:
        return {
            "vector": vector_json(vector),
            "dim": self.encoder.dim,
            "model": self.encoder.name,
            "format": prepared.format,
            "width": prepared.width,
            "height": prepared.height,
        }

    def _encode_texts(self, texts: list[str]):
        started = time.perf_counter()
        encoded = self.encoder.encode_texts(texts)
        metrics.observe_batch("text", len(texts), time.perf_counter() - started)
        return encoded

    # ------------------------------------------------------------------ single items
    @bentoml.api(route=routes.VECTORIZE_TEXT.path)
    @json_errors
    def vectorize_text(self, text: str, /) -> dict[str, Any]:
        """Text body (text/plain, UTF-8) -> its CLIP vector."""
        encoded = self._encode_texts([text])
        return {
            "vector": vector_json(encoded.vectors[0]),
            "dim": self.encoder.dim,
            "model": self.encoder.name,
            "truncated": encoded.truncated[0],
            "tokens": encoded.token_counts[0],
        }

    @bentoml.api(route=routes.VECTORIZE_IMAGE.path)
    @json_errors
    def vectorize_image(self, image: bytes, /) -> dict[str, Any]:
        """Raw image bytes (any supported format, sniffed from the bytes) -> its CLIP vector."""
        prepared = self._prepare(image)
        return self._image_answer(prepared, self.batcher.encode(prepared.pixels))

    # ------------------------------------------------------------------ batches
    @bentoml.api(route=routes.VECTORIZE_TEXTS.path)
    @json_errors
    def vectorize_texts(self, texts: list[Any], /) -> dict[str, Any]:
        """JSON list of strings -> one result per item; a bad item gets its own error."""
        if len(texts) > self.settings.max_batch_items:
            raise PayloadTooLarge(f"{len(texts)} items; the limit is {self.settings.max_batch_items}")
        results: list[dict[str, Any]] = [{} for _ in texts]
        good: list[int] = []
        for i, item in enumerate(texts):
            if isinstance(item, dict) and isinstance(item.get(ITEM_ERROR), str):  # found by RequestGuard
                results[i] = InvalidText(item[ITEM_ERROR]).to_json()
            elif not isinstance(item, str):
                results[i] = InvalidText(f"item {i} is {type(item).__name__}, not a string").to_json()
            elif not item.strip():
                results[i] = EmptyInput(f"item {i} is an empty string").to_json()
            else:
                good.append(i)
        if good:
            encoded = self._encode_texts([texts[i] for i in good])
            for row, i in enumerate(good):
                results[i] = {
                    "vector": vector_json(encoded.vectors[row]),
                    "truncated": encoded.truncated[row],
                    "tokens": encoded.token_counts[row],
                }
        return {"results": results, "dim": self.encoder.dim, "model": self.encoder.name}

    @bentoml.api(route=routes.VECTORIZE_IMAGES.path)
    @json_errors
    def vectorize_images(self, body: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """multipart/form-data with several files -> one result per file, in order."""
        content_type = ctx.request.headers.get(ORIGINAL_CONTENT_TYPE.decode(), "")
        files = parse_multipart(body, content_type)
        if len(files) > self.settings.max_batch_items:
            raise PayloadTooLarge(f"{len(files)} files; the limit is {self.settings.max_batch_items}")

        def attempt(data: bytes) -> PreparedImage | ClipvecError:
            try:
                return self._prepare(data)
            except ClipvecError as err:
                return err

        prepared = list(self._decode_pool.map(attempt, [data for _, data in files]))
        good = [i for i, p in enumerate(prepared) if isinstance(p, PreparedImage)]
        vectors = np.empty((0, self.encoder.dim), dtype=np.float32)
        if good:
            started = time.perf_counter()
            vectors = self.encoder.encode_pixels(np.stack([prepared[i].pixels for i in good]))  # type: ignore[union-attr]
            metrics.observe_batch("image", len(good), time.perf_counter() - started)
        results: list[dict[str, Any]] = []
        row = {i: r for r, i in enumerate(good)}
        for i, (name, _) in enumerate(files):
            item = prepared[i]
            if isinstance(item, ClipvecError):
                results.append({"name": name, **item.to_json()})
            else:
                results.append({"name": name, **self._image_answer(item, vectors[row[i]])})
        return {"results": results, "dim": self.encoder.dim, "model": self.encoder.name}

    # ------------------------------------------------------------------ search and add
    @bentoml.api(route=routes.SEARCH_TEXT.path)
    @json_errors
    def search_text(self, query: str, /, ctx: bentoml.Context) -> dict[str, Any]:
        """Text body -> nearest stored images. Query string: top_k, min_score, path_prefix."""
        return self._search(self._encode_texts([query]).vectors[0], ctx)

    @bentoml.api(route=routes.SEARCH_IMAGE.path)
    @json_errors
    def search_image(self, image: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """Raw image body (like /vectorize_image) -> nearest stored images."""
        prepared = self._prepare(image)
        return self._search(self.batcher.encode(prepared.pixels), ctx)

    @bentoml.api(route=routes.ADD_IMAGE.path)
    @json_errors
    def add_image(self, image: bytes, /, ctx: bentoml.Context) -> dict[str, Any]:
        """Raw image body (+ ?name=photo.jpg) -> saved under the images folder and stored."""
        prepared = self._prepare(image)
        vector = self.batcher.encode(prepared.pixels)
        # A local folder or an s3:// prefix (issue 12).
        saved = self.images.save_upload(image, ctx.request.query_params.get("name", ""), prepared.format)

        def add(store: ImageStore) -> dict[str, Any]:
            existing = store.get([saved.content_hash]).get(saved.content_hash)
            paths = list(existing.paths) if existing else []
            if saved.rel_path not in paths and len(paths) < PATHS_KEPT:  # same bytes, another name
                paths.append(saved.rel_path)
            record = ImageRecord(
                content_hash=saved.content_hash,
                paths=paths,
                size=len(image),
                mtime=saved.mtime,
                width=prepared.width,
                height=prepared.height,
                format=prepared.format,
                vector=vector,
            )
            store.upsert([record])
            answer = self._hits_answer(store, store.search(vector, top_k=1))
            answer.update(
                path=paths[0],
                paths=paths[:HIT_PATHS_SHOWN],
                path_count=len(paths),
                content_hash=saved.content_hash,
                created=existing is None,
                size=len(image),
                width=prepared.width,
                height=prepared.height,
                format=prepared.format,
            )
            return answer

        try:
            return self.with_store(add)
        except BaseException:
            self.images.remove_upload(saved)  # nothing stored: no orphan file
            raise

    @bentoml.api(route=routes.COLLECTION_INFO.path)
    @json_errors
    def collection_info(self) -> dict[str, Any]:
        """How many images the collection holds, and which model and metric made it."""
        return self.with_store(
            lambda store: {
                "collection": self.settings.collection,
                "count": store.count(),
                "model": self.encoder.name,
                "dim": self.encoder.dim,
                "metric": store.metric,
                "higher_is_better": store.higher_is_better,
            }
        )


_DIGITS = re.compile(r"[0-9]{1,7}")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")


def search_options(ctx: bentoml.Context, default_top_k: int) -> dict[str, Any]:
    """top_k, min_score and path_prefix from the query string, validated."""
    params = ctx.request.query_params
    raw_top_k = params.get("top_k")
    if raw_top_k is None:
        top_k = default_top_k
    elif _DIGITS.fullmatch(raw_top_k):  # not int(): it takes " 5", "+5", "5_0" and other scripts' digits
        top_k = int(raw_top_k)
    else:
        raise ClipvecError("top_k must be plain digits, e.g. top_k=10", code="bad_parameter")
    if not 1 <= top_k <= 1000:
        raise ClipvecError("top_k must be between 1 and 1000", code="bad_parameter")
    raw_min = params.get("min_score")
    min_score = None
    if raw_min is not None:
        if not _NUMBER.fullmatch(raw_min) or not math.isfinite(float(raw_min)):
            raise ClipvecError("min_score must be a finite number, e.g. min_score=0.25", code="bad_parameter")
        min_score = float(raw_min)
    prefix = params.get("path_prefix") or None
    if prefix is not None and (len(prefix) > 1024 or any(ord(ch) < 32 or ord(ch) == 127 for ch in prefix)):
        raise ClipvecError(
            "path_prefix must be a path of at most 1024 characters, without control characters",
            code="bad_parameter",
        )
    return {"top_k": top_k, "min_score": min_score, "path_prefix": prefix}


CURRENT: Vectorization | None = None
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
)
json_protocol_errors()
vectorization = Vectorization
