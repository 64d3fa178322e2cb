"""The search page at ``/ui``: a small Starlette app mounted into the BentoML service.

Routes (relative to the mount point ``/ui``):

* ``GET /ui/`` (``/ui`` redirects here) and ``/ui/index.html``: the page; ``/ui/app.js``,
  ``/ui/style.css``: its script and style. Nothing else is served from the ``ui`` folder.
* ``GET /ui/thumb?path=REL&size=256``: a JPEG thumbnail of an indexed image, made with the
  project's one decoder (so HDR, TIFF, TGA, 16-bit PNG ... all work) and cached on disk,
  keyed by the image's content hash and the size.
* ``GET /ui/file?path=REL``: the indexed file itself when browsers can show its format,
  otherwise a large JPEG rendition (HDR, TIFF, TGA, HEIC).

The page itself only talks to the service's public endpoints (``/search_text``,
``/search_image``, ``/collection_info``); these two routes only show images.

Which files can be served: ``REL`` must be a canonical relative path ("/"-separated, no
``.``/``..``/empty segments, no backslash, NUL or control characters, no percent-encoded
traversal), it must be a path of a record in the collection (``store.get_by_path``), and
its real path (symlinks resolved) must lie inside the real path of ``images_dir``. Any
failure, and a missing or unreadable file, is the same JSON ``404 not_found``, so a
client learns nothing about which check refused it. The file is opened with
``O_NOFOLLOW`` on its resolved path, so a symlink swapped in after the check is not
followed either.

Records imported from S3 store their full ``s3://bucket/key`` URI as path (issue 12): such
a ``path`` is served when it is exactly a path of a record in the collection, by reading
the object from S3 (``clipvec.sources``, AWS_* variables); no other object can be asked for.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clipvec.errors import ClipvecError, StoreDamaged, StoreLocked, StoreUnavailable
from clipvec.images.decode import decode_image, sniff_format
from clipvec.locations import is_s3_uri
from clipvec.serving.error_bodies import json_error_response
from clipvec.serving.routes import PAGE_ROUTES
from clipvec.sources import Source, open_source, source_of_stored_path

log = logging.getLogger("clipvec.web")

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
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
MAX_PATH_CHARS = 4096
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
_HEX = re.compile(r"[0-9a-fA-F]{8,128}")


def not_found() -> Response:
    """The one answer for every refused or missing path (the service's JSON error shape)."""
    return json_error_response(404, "not_found", "no such image in the collection", SECURITY_HEADERS)


def unavailable() -> Response:
    return json_error_response(503, "store_unavailable", "the image store is unavailable", SECURITY_HEADERS)


# --------------------------------------------------------------------------------------
# Path checks
# --------------------------------------------------------------------------------------


def _bad_chars(text: str) -> bool:
    return "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _traverses(text: str) -> bool:
    if text.startswith("/") or _bad_chars(text):
        return True
    return any(part in ("", ".", "..") for part in text.split("/"))


def canonical_rel_path(raw: str) -> str | None:
    """``raw`` if it is a canonical, harmless relative path, else ``None``.

    Percent-decoded forms (up to three rounds, for double encoding) must be harmless too,
    so ``%2e%2e%2f`` or ``%252e%252e`` never reach the file system even as literal names.
    """
    if not raw or len(raw) > MAX_PATH_CHARS or _traverses(raw):
        return None
    if posixpath.normpath(raw) != raw:
        return None
    decoded = raw
    for _ in range(3):
        step = unquote(decoded)
        if step == decoded:
            break
        if _traverses(step):
            return None
        decoded = step
    return raw


@dataclass(frozen=True)
class Indexed:
    rel: str
    source: Source  # the folder, or the S3 bucket of an s3:// path (issue 12)
    content_hash: str


def read_indexed(item: Indexed) -> tuple[bytes, str] | None:
    """The bytes of an indexed file and an ETag for them; ``None`` if it cannot be read."""
    read = item.source.read_indexed(item.rel)
    if read is None:
        return None
    if read.version is None:  # S3: the record's content hash names the bytes
        return read.data, f'"s{item.content_hash[:32]}-{len(read.data):x}"'
    return read.data, f'"{read.version}"'


def _s3_path(raw: str) -> str | None:
    """An ``s3://`` path as it may be stored: bounded, no control characters (exact match follows)."""
    return None if len(raw) > MAX_PATH_CHARS or _bad_chars(raw) else raw


class ImageFiles:
    """Finds indexed image files and makes (cached) JPEG renditions of them."""

    def __init__(self) -> None:
        self._cache_dir: Path | None = None
        self._cache_checked = False
        self._lock = threading.Lock()
        # Decoding large images is CPU-heavy: never let thumbnails crowd out the encoder.
        self._decode_slots = threading.BoundedSemaphore(2)

    # ---------------------------------------------------------------- service access
    @staticmethod
    def _service() -> Any:
        from clipvec.serving import service  # late: service.py imports this module

        return service.CURRENT

    def _settings(self) -> Any:
        svc = self._service()
        if svc is not None:
            return svc.settings
        from clipvec.settings import get_settings

        return get_settings()

    def images(self) -> Source:
        svc = self._service()
        return svc.images if svc is not None else open_source(self._settings().images_dir)

    def lookup(self, raw: str | None) -> Indexed | None:
        """The indexed file behind ``raw``, or ``None`` for anything refused.

        Raises :class:`StoreUnavailable` when the collection cannot be asked.
        """
        s3 = is_s3_uri(raw or "")
        rel = _s3_path(raw or "") if s3 else canonical_rel_path(raw or "")
        if rel is None:
            return None
        svc = self._service()
        if svc is None:
            raise StoreUnavailable("the service is not initialised yet")
        record = svc.with_store(lambda store: store.get_by_path(rel))
        if record is None or rel not in list(getattr(record, "paths", [rel])):
            return None
        source = source_of_stored_path(rel, self.images())
        if not source.serves(rel):
            return None
        return Indexed(rel, source, str(record.content_hash))

    # ---------------------------------------------------------------- cache
    def cache_dir(self) -> Path | None:
        """CLIPVEC_THUMB_DIR, else ``images_dir/.thumbs``, else the user cache; ``None``: no caching."""
        with self._lock:
            if self._cache_checked:
                return self._cache_dir
            self._cache_checked = True
            for candidate in self._settings().thumb_dir_candidates():
                try:
                    candidate.mkdir(parents=True, exist_ok=True)
                except OSError:
                    continue
                if os.access(candidate, os.W_OK | os.X_OK):
                    self._cache_dir = candidate
                    break
            if self._cache_dir is None:
                log.warning("no writable thumbnail cache folder; thumbnails are made on every request")
            return self._cache_dir

    @staticmethod
    def cache_key(content_hash: str, variant: str) -> str:
        digest = (
            content_hash.lower()
            if _HEX.fullmatch(content_hash)
            else hashlib.sha256(content_hash.encode()).hexdigest()
        )
        return f"{digest}-{variant}"

    def _cached(self, key: str) -> bytes | None:
        folder = self.cache_dir()
        if folder is None:
            return None
        try:
            return (folder / key[:2] / f"{key}.jpg").read_bytes()
        except OSError:
            return None

    def _store(self, key: str, data: bytes) -> None:
        folder = self.cache_dir()
        if folder is None:
            return
        target = folder / key[:2] / f"{key}.jpg"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            log.warning("cannot cache thumbnail %s: %s", target, exc)
            tmp.unlink(missing_ok=True)

    # ---------------------------------------------------------------- renditions
    def rendition(self, item: Indexed, longest: int, key: str) -> bytes | None:
        """A JPEG of ``item`` at most ``longest`` pixels on its longest side (cached)."""
        cached = self._cached(key)
        if cached is not None:
            return cached
        read = read_indexed(item)
        if read is None:
            return None
        data, _ = read
        with self._decode_slots:
            try:
                decoded = decode_image(data, max_pixels=self._settings().max_pixels, min_side=longest)
            except ClipvecError as err:
                log.info("cannot show %s: %s", item.rel, err.detail)
                return None
            image = decoded.image
            if max(image.size) > longest:
                image = image.copy()
                image.thumbnail((longest, longest), Image.Resampling.LANCZOS, reducing_gap=3.0)
            out = io.BytesIO()
            image.save(
                out, "JPEG", quality=85 if longest <= 512 else 90, optimize=True, progressive=longest > 512
            )
        jpeg = out.getvalue()
        self._store(key, jpeg)
        return jpeg


FILES = ImageFiles()


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


def _lookup(request: Request) -> Indexed | Response:
    try:
        item = FILES.lookup(_single_param(request, "path"))
    except (StoreUnavailable, StoreLocked, StoreDamaged):
        return unavailable()
    return item if item is not None else not_found()


def _cache_policy(request: Request, item: Indexed) -> str:
    """Content-addressed URLs (``&v=`` the content hash prefix the page got from a hit) never change."""
    version = request.query_params.get("v", "")
    return IMMUTABLE if len(version) >= 8 and item.content_hash.startswith(version) else REVALIDATE


def thumb(request: Request) -> Response:
    item = _lookup(request)
    if isinstance(item, Response):
        return item
    try:
        wanted = int(request.query_params.get("size", DEFAULT_THUMB))
    except ValueError:
        wanted = DEFAULT_THUMB
    size = next((s for s in THUMB_SIZES if s >= wanted), THUMB_SIZES[-1])
    return _rendition_response(request, item, size, f"t{size}", _cache_policy(request, item))


def _rendition_response(request: Request, item: Indexed, longest: int, variant: str, cache: str) -> Response:
    """A cached JPEG rendition of ``item`` (thumbnail or large view), 304 when unchanged."""
    key = FILES.cache_key(item.content_hash, variant)
    etag = f'"{key}"'
    if _etag_matches(request, etag):
        return _image_response(None, etag, "image/jpeg", cache)
    data = FILES.rendition(item, longest, key)
    if data is None:
        return not_found()
    return _image_response(data, etag, "image/jpeg", cache)


def original(request: Request) -> Response:
    item = _lookup(request)
    if isinstance(item, Response):
        return item
    read = read_indexed(item)
    if read is None:
        return not_found()
    data, etag = read
    cache = _cache_policy(request, item)
    media_type = BROWSER_TYPES.get(sniff_format(data) or "")
    if media_type is not None:
        if _etag_matches(request, etag):
            return _image_response(None, etag, media_type, cache)
        return _image_response(data, etag, media_type, cache)
    # HDR, TIFF, TGA, HEIC ...: browsers cannot show them; send a large JPEG instead.
    return _rendition_response(request, item, VIEW_SIZE, f"v{VIEW_SIZE}", cache)


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
web_app = Starlette(routes=[Route(r.path, HANDLERS[r.handler], methods=["GET"]) for r in PAGE_ROUTES])
"""Mounted at ``/ui`` by ``@bentoml.asgi_app(web_app, path="/ui")`` on the service class."""
