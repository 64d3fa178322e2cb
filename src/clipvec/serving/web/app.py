"""The search page's Starlette app, mounted at ``/ui``: static files, thumbnails, indexed files.

Routes (relative to the mount point ``/ui``; the route table is ``clipvec.serving.routes``):

* ``GET /ui/`` (``/ui`` redirects here) and ``/ui/index.html``: the page; ``/ui/app.js``,
  ``/ui/style.css``: its script and style. Nothing else is served from the ``ui`` folder.
* ``GET /ui/thumb?path=REL&v=HASH&size=256``: a JPEG thumbnail of an indexed image (cached).
* ``GET /ui/file?path=REL&v=HASH``: the indexed file itself when browsers can show its format
  (streamed, with single ``Range`` requests: :mod:`.streaming`), otherwise a large JPEG
  rendition (HDR, TIFF, TGA, HEIC).

``REL`` is the stored path exactly as a hit gives it (``URLSearchParams`` encodes it; any
stored name round-trips, see :mod:`.paths`); ``v`` is the start of the hit's content hash
(optional: it makes the URL immutable and finds names no Milvus filter can carry).

The page itself only talks to the service's public endpoints (``/search_text``,
``/search_image``, ``/collection_info``); these two routes only show images. Which paths
are served is decided in :mod:`.paths` and :mod:`.files`; any refusal, and a missing or
unreadable file, is the same JSON ``404 not_found``, so a client learns nothing about which
check refused it.

The app is made once (BentoML mounts it when the service class is defined); each worker
then hands it its serving core with :func:`attach`. Until then image routes answer 503.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clipvec.errors import StoreDamaged, StoreLocked, StoreUnavailable
from clipvec.images import sniff_format
from clipvec.serving.error_bodies import json_error_response, public_error
from clipvec.serving.image_lane import ImagesBusy
from clipvec.serving.routes import PAGE_ROUTES
from clipvec.serving.web.files import Indexed, PageFiles, open_indexed
from clipvec.serving.web.streaming import file_response
from clipvec.sources import IndexedFile

if TYPE_CHECKING:
    from clipvec.serving.core import ServingCore

log = logging.getLogger("clipvec.web")

UI_DIR = Path(__file__).resolve().parents[2] / "ui"
STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
THUMB_SIZES = (128, 256, 512)
DEFAULT_THUMB = 256
VIEW_SIZE = 2048  # longest side of the JPEG rendition of formats browsers cannot show
BROWSER_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "AVIF": "image/avif",
}
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page loads nothing from anywhere else: no CDN, no fonts, no inline script.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def not_found() -> Response:
    """The one answer for every refused or missing path (the service's JSON error shape)."""
    return json_error_response(404, "not_found", "no such image in the collection", SECURITY_HEADERS)


def unavailable() -> Response:
    return json_error_response(503, "store_unavailable", "the image store is unavailable", SECURITY_HEADERS)


# --------------------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------------------


def _etag_matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match", "")
    return any(tag.strip() in (etag, f"W/{etag}", "*") for tag in header.split(",")) if header else False


def _image_response(data: bytes | None, etag: str, media_type: str, cache: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": cache, **SECURITY_HEADERS}
    if data is None:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def _single_param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[0] if len(values) == 1 else None


def _files(request: Request) -> PageFiles | None:
    return getattr(request.app.state, "files", None)


async def _lookup(request: Request) -> tuple[PageFiles, Indexed] | Response:
    files = _files(request)
    if files is None:  # the worker has not attached its core yet
        return unavailable()
    try:
        item = await anyio.to_thread.run_sync(
            files.lookup, _single_param(request, "path"), _single_param(request, "v")
        )
    except (StoreUnavailable, StoreLocked, StoreDamaged):
        return unavailable()
    return (files, item) if item is not None else not_found()


def _cache_policy(request: Request, item: Indexed) -> str:
    """Content-addressed URLs (``&v=`` the content hash prefix the page got from a hit) never change."""
    version = request.query_params.get("v", "")
    return IMMUTABLE if len(version) >= 8 and item.content_hash.startswith(version) else REVALIDATE


async def thumb(request: Request) -> Response:
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    files, item = found
    try:
        wanted = int(request.query_params.get("size", DEFAULT_THUMB))
    except ValueError:
        wanted = DEFAULT_THUMB
    size = next((s for s in THUMB_SIZES if s >= wanted), THUMB_SIZES[-1])
    return await _rendition_response(request, files, item, size, f"t{size}", _cache_policy(request, item))


async def _rendition_response(
    request: Request, files: PageFiles, item: Indexed, longest: int, variant: str, cache: str
) -> Response:
    """A cached JPEG rendition of ``item`` (thumbnail or large view), 304 when unchanged.

    A rendition not made before is decoded in the image lane (:mod:`..image_lane`), never in
    the threads health checks and the page's other routes use.
    """
    key = files.cache_key(item.content_hash, variant)
    etag = f'"{key}"'
    if _etag_matches(request, etag):
        return _image_response(None, etag, "image/jpeg", cache)
    data = await anyio.to_thread.run_sync(files.cached, key)
    if data is None:
        try:
            data = await files.core.image_lane.run(files.rendition, item, longest, key)
        except ImagesBusy as err:
            return json_error_response(err.status, err.code, public_error(err)["detail"], SECURITY_HEADERS)
    if data is None:
        return not_found()
    return _image_response(data, etag, "image/jpeg", cache)


async def original(request: Request) -> Response:
    """The indexed file itself, streamed (``Range`` too: :mod:`.streaming`), or a large JPEG."""
    found = await _lookup(request)
    if isinstance(found, Response):
        return found
    files, item = found
    opened = await anyio.to_thread.run_sync(open_indexed, item)
    if opened is None:
        return not_found()
    file: IndexedFile | None = opened[0]
    etag = opened[1]
    try:
        head = await anyio.to_thread.run_sync(opened[0].read_at, 0, 1024)
        media_type = BROWSER_TYPES.get(sniff_format(head) or "")
        cache = _cache_policy(request, item)
        if media_type is not None and not _etag_matches(request, etag):
            headers = {"Cache-Control": cache, **SECURITY_HEADERS}
            response, file = file_response(opened[0], etag, media_type, headers, request.headers), None
            return response  # it owns the file now, and closes it once sent
    except OSError:
        return not_found()
    finally:
        if file is not None:  # not handed on (or the client went away meanwhile): close it here
            file.close()
    if media_type is not None:
        return _image_response(None, etag, media_type, cache)
    # HDR, TIFF, TGA, HEIC ...: browsers cannot show them; send a large JPEG instead.
    return await _rendition_response(request, files, item, VIEW_SIZE, f"v{VIEW_SIZE}", cache)


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def _load_static() -> dict[str, StaticFile]:
    files: dict[str, StaticFile] = {}
    for name, media_type in STATIC_TYPES.items():
        body = (UI_DIR / name).read_bytes()
        files[name] = StaticFile(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return files


_STATIC = _load_static()


def _static_response(request: Request, name: str) -> Response:
    item = _STATIC[name]
    headers = {"ETag": item.etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    if name == "index.html":
        headers["Content-Security-Policy"] = PAGE_CSP
    if _etag_matches(request, item.etag):
        return Response(status_code=304, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)


def page(request: Request) -> Response:
    return _static_response(request, "index.html")


def script(request: Request) -> Response:
    return _static_response(request, "app.js")


def style(request: Request) -> Response:
    return _static_response(request, "style.css")


HANDLERS = {"page": page, "script": script, "style": style, "thumb": thumb, "file": original}


def make_web_app() -> Starlette:
    """The page's app, without a core yet (see :func:`attach`)."""
    app = Starlette(routes=[Route(r.path, HANDLERS[r.handler], methods=["GET"]) for r in PAGE_ROUTES])
    app.state.files = None
    return app


def attach(app: Starlette, core: ServingCore) -> None:
    """Give the page the worker's serving core: its collection, images source and settings."""
    app.state.files = PageFiles(core)


web_app = make_web_app()
"""Mounted at ``/ui`` by ``@bentoml.asgi_app(web_app, path="/ui")`` on the service class."""
