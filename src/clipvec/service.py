"""The BentoML service: HTTP in, CLIP vectors (and Milvus hits) out.

``bentoml serve service:vectorization`` (the repo-root ``service.py`` re-exports this).
Raw bodies are vetted by ``RequestGuard`` before BentoML parses them; every refusal is a
4xx ``{"error", "detail"}``. Single-image requests from concurrent clients are encoded
together by ``MicroBatcher``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bentoml
import numpy as np
from starlette.responses import JSONResponse

from clipvec import metrics
from clipvec.batcher import MicroBatcher
from clipvec.encoder import ClipEncoder
from clipvec.errors import ClipvecError, EmptyInput, InvalidText, PayloadTooLarge
from clipvec.http_guard import ORIGINAL_CONTENT_TYPE, RequestGuard, parse_multipart
from clipvec.pipeline import PreparedImage, prepare_image
from clipvec.settings import get_settings
from clipvec.web import web_app

log = logging.getLogger("clipvec.service")
F = TypeVar("F", bound=Callable[..., Any])


def json_errors(func: F) -> F:
    """Turn a ClipvecError into its 4xx/5xx JSON answer instead of BentoML's generic 500."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClipvecError as err:
            if err.status >= 500:
                log.warning("%s: %s", err.code, err.detail)
            return JSONResponse(err.to_json(), status_code=err.status)

    return wrapper  # type: ignore[return-value]


def vector_json(vector: np.ndarray) -> list[float]:
    return vector.astype(np.float32).tolist()


@bentoml.asgi_app(web_app, path="/ui")  # the search page: GET /ui
@bentoml.service(
    name="clip_image_vectorizer",
    workers=1,
    traffic={"timeout": 300, "max_concurrency": 128},
)
class Vectorization:
    """CLIP vectors for texts and images."""

    def __init__(self) -> None:
        self.settings = get_settings()
        self.encoder = ClipEncoder.from_settings(self.settings)
        self.batcher = MicroBatcher(
            self.encoder.encode_pixels,
            max_batch=self.settings.batch_size,
            on_batch=lambda n, s: metrics.observe_batch("image", n, s),
        )
        self._decode_pool = ThreadPoolExecutor(
            max_workers=max(2, self.settings.resolved_threads()), thread_name_prefix="clipvec-decode"
        )

    # ------------------------------------------------------------------ helpers
    def _prepare(self, data: bytes) -> PreparedImage:
        try:
            prepared = prepare_image(data, self.encoder.preprocessor, max_pixels=self.settings.max_pixels)
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
    @bentoml.api(route="/vectorize_text")
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

    @bentoml.api(route="/vectorize_image")
    @json_errors
    def vectorize_image(self, image: bytes, /) -> dict[str, Any]:
        """Raw image bytes (any supported format, sniffed from the bytes) -> its CLIP vector."""
        prepared = self._prepare(image)
        return self._image_answer(prepared, self.batcher.encode(prepared.pixels))

    # ------------------------------------------------------------------ batches
    @bentoml.api(route="/vectorize_texts")
    @json_errors
    def vectorize_texts(self, texts: list[Any], /) -> dict[str, Any]:
        """JSON list of strings -> one result per item; a bad item gets its own error."""
        if len(texts) > self.settings.max_batch_items:
            raise PayloadTooLarge(f"{len(texts)} items; the limit is {self.settings.max_batch_items}")
        results: list[dict[str, Any]] = [{} for _ in texts]
        good: list[int] = []
        for i, item in enumerate(texts):
            if not isinstance(item, str):
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

    @bentoml.api(route="/vectorize_images")
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


Vectorization.add_asgi_middleware(RequestGuard, max_body_bytes=get_settings().max_body_bytes)
vectorization = Vectorization
