"""ASGI middleware that vets every request before BentoML sees it, and shapes every error.

Plain BentoML turns several bad inputs into 500s, odd values or hangs (an exception
raised before the answer starts leaves its timeout middleware waiting 300 s), ignores
Content-Type, has no size limit, and counts a stalled upload as a busy request. This
guard runs inside BentoML's own middlewares and, for every HTTP request:

* checks the optional API key (``Authorization: Bearer``; the page's image routes also
  take the ``clipvec_key`` cookie) -> 401;
* refuses writes (POST) whose ``Origin`` is neither the service's own nor allowed -> 403;
* reads the body of guarded routes itself: over ``max_body_bytes`` -> 413 without
  reading the rest; stalled for ``idle_timeout`` s or slower than ``min_rate`` B/s -> 408;
  more multipart parts than ``max_batch_items`` -> 413 as soon as the limit is passed;
* checks media types (415) and empty bodies (400); parses JSON safely (400
  ``invalid_json`` for depth, huge numbers, lone surrogates) and passes a plain, shallow
  body on;
* limits how many requests are processed at once (429), counting a request only once its
  body has arrived, so slow clients cannot lock others out;
* turns every error answer (BentoML's, Starlette's 404/405, the page's) into
  ``{"error": code, "detail": text}`` JSON, with no library text, and any exception that
  escapes into a JSON 500 at once instead of a hang;
* fixes up ``/docs.json`` and ``/schema.json`` (:mod:`clipvec.serving.openapi`) and drops the
  Google Tag Manager snippet from BentoML's Swagger page at ``/``.

Uvicorn's own "Invalid HTTP request" answers are made JSON by :func:`json_protocol_errors`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from clipvec.errors import (
    ClipvecError,
    EmptyInput,
    InvalidText,
    PayloadTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger("clipvec.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT_ROUTES = frozenset({"/vectorize_text", "/search_text"})
IMAGE_ROUTES = frozenset({"/vectorize_image", "/search_image", "/add_image"})
JSON_ROUTES = frozenset({"/vectorize_texts"})
MULTIPART_ROUTES = frozenset({"/vectorize_images"})
OBJECT_ROUTES = frozenset({"/collection_info"})
GUARDED = TEXT_ROUTES | IMAGE_ROUTES | JSON_ROUTES | MULTIPART_ROUTES | OBJECT_ROUTES
ORIGINAL_CONTENT_TYPE = b"x-clipvec-content-type"
ITEM_ERROR = "__clipvec_item_error__"
"""A batch item the guard already found bad: ``{ITEM_ERROR: detail}`` replaces it."""

# The query parameters each API route reads; any other is a typo (e.g. topk=5) and gets a 400.
QUERY_PARAMS = {
    "/search_text": frozenset({"top_k", "min_score", "path_prefix"}),
    "/search_image": frozenset({"top_k", "min_score", "path_prefix"}),
    "/add_image": frozenset({"name"}),
}

HEALTH_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})
# Static shells that hold no data and are needed to enter the key (page, Swagger UI, API description).
PUBLIC_PATHS = HEALTH_PATHS | {
    "/",
    "/docs.json",
    "/ui",
    "/ui/",
    "/ui/index.html",
    "/ui/app.js",
    "/ui/style.css",
}
PUBLIC_PREFIXES = ("/static_content/",)
COOKIE_PATHS = frozenset({"/ui/thumb", "/ui/file"})
KEY_COOKIE = "clipvec_key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_IMAGE_OK = ("image/", "application/octet-stream", "binary/")
_TEXT_OK = ("text/plain", "application/json", "")

# Codes for error answers that do not come from a ClipvecError.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "bad_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    504: "timeout",
}


class RequestTimeout(ClipvecError):
    status, code = 408, "request_timeout"


class Unauthorized(ClipvecError):
    status, code = 401, "unauthorized"


class Forbidden(ClipvecError):
    status, code = 403, "forbidden"


class TooManyRequests(ClipvecError):
    status, code = 429, "too_many_requests"


class InvalidJson(ClipvecError):
    status, code = 400, "invalid_json"


@dataclass
class GuardConfig:
    max_body_bytes: int = 50 * 1024 * 1024
    max_batch_items: int = 256
    api_key: str = ""
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    idle_timeout: float = 15.0
    min_rate: int = 4096
    max_concurrency: int = 128


class RequestGuard:
    """Pure ASGI middleware (BentoML: ``service.add_asgi_middleware(RequestGuard, ...)``)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = 50 * 1024 * 1024,
        max_batch_items: int = 256,
        api_key: str = "",
        allowed_origins: str = "",
        idle_timeout: float = 15.0,
        min_rate: int = 4096,
        max_concurrency: int = 128,
    ) -> None:
        self.app = app
        origins = {_origin_key(o) for o in allowed_origins.split(",") if o.strip()}
        self.config = GuardConfig(
            max_body_bytes=max_body_bytes,
            max_batch_items=max_batch_items,
            api_key=api_key,
            allowed_origins=frozenset(o for o in origins if o),
            idle_timeout=idle_timeout,
            min_rate=min_rate,
            max_concurrency=max_concurrency,
        )
        self.active = 0  # requests being processed (one event loop: no lock needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shaped = ShapedSend(send, scope)
        try:
            await self._handle(scope, receive, shaped)
        except ClipvecError as err:
            if shaped.started:
                raise
            await send_error(shaped, err)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if not shaped.started:
                await send_error(
                    shaped,
                    ClipvecError(
                        "internal error; the service log has the details", code="internal_error", status=500
                    ),
                )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        self._check_key(scope, path, method)
        if method not in SAFE_METHODS:
            self._check_origin(scope)
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):  # health and static files: cheap
            await self.app(scope, receive, send)
            return
        if method == "POST" and path in GUARDED:
            scope, receive = await self._vet_body(scope, receive, path)
        await self._run_limited(scope, receive, send)

    # ---------------------------------------------------------------- access
    def _check_key(self, scope: Scope, path: str, method: str) -> None:
        key = self.config.api_key
        if not key or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return
        given = _bearer(_header(scope, b"authorization").decode("latin-1"))
        if given is None and path in COOKIE_PATHS and method in SAFE_METHODS:
            given = _cookie(_header(scope, b"cookie").decode("latin-1"), KEY_COOKIE)
        if given is None or not hmac.compare_digest(given.encode(), key.encode()):
            raise Unauthorized(
                "this service needs an API key: send 'Authorization: Bearer <key>' "
                "(the key is CLIPVEC_API_KEY on the server)"
            )

    def _check_origin(self, scope: Scope) -> None:
        origin = _header(scope, b"origin").decode("latin-1").strip()
        if not origin:
            return  # not a browser (curl, SDKs): nothing cross-site about it
        key = _origin_key(origin)
        own = _host_key(_header(scope, b"host").decode("latin-1"), scope.get("scheme", "http"))
        if key is not None and (key == own or key in self.config.allowed_origins):
            return
        raise Forbidden(
            f"requests from the web origin {origin[:100]!r} may not use this service "
            "(allow it with CLIPVEC_ALLOWED_ORIGINS)"
        )

    # ---------------------------------------------------------------- concurrency
    async def _run_limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.active >= self.config.max_concurrency:
            raise TooManyRequests(
                f"{self.active} requests are being processed (CLIPVEC_MAX_CONCURRENCY); try again shortly"
            )
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1

    # ---------------------------------------------------------------- bodies
    async def _vet_body(self, scope: Scope, receive: Receive, path: str) -> tuple[Scope, Receive]:
        _check_query(scope, path)
        media_type = _media_type(scope)
        _check_media_type(path, media_type, has_origin=bool(_header(scope, b"origin")))
        boundary = _boundary(_header(scope, b"content-type")) if path in MULTIPART_ROUTES else None
        body = await self._read_body(scope, receive, boundary)
        if path in OBJECT_ROUTES:
            body, new_type = _json_object(body), b"application/json"
        else:
            if not body.strip() if path in TEXT_ROUTES | JSON_ROUTES else not body:
                raise EmptyInput("the request body is empty; send the text or image bytes as the body")
            body, new_type = _normalise(path, media_type, body, self.config.max_batch_items)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", new_type), (b"content-length", str(len(body)).encode())]
        if path in MULTIPART_ROUTES:
            headers.append((ORIGINAL_CONTENT_TYPE, _header(scope, b"content-type")))
        return dict(scope, headers=headers), _replay(body, receive)

    async def _read_body(self, scope: Scope, receive: Receive, boundary: bytes | None) -> bytes:
        """The whole body, or 413/408 as soon as it is too large, too slow or has too many parts."""
        cfg = self.config
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > cfg.max_body_bytes:
            raise _too_large(int(declared), cfg.max_body_bytes)
        loop = asyncio.get_running_loop()
        started = loop.time()
        counter = _PartCounter(boundary, cfg.max_batch_items) if boundary else None
        chunks: list[bytes] = []
        total = 0
        while True:
            now = loop.time()
            wait = cfg.idle_timeout
            if cfg.min_rate > 0:  # the body must keep up with min_rate after a grace period
                wait = min(wait, started + cfg.idle_timeout + total / cfg.min_rate - now)
            if wait <= 0:
                raise _too_slow(total, now - started, cfg)
            try:
                message = await asyncio.wait_for(receive(), wait)
            except asyncio.TimeoutError:
                raise _too_slow(total, loop.time() - started, cfg) from None
            if message["type"] == "http.disconnect":
                raise EmptyInput("the client disconnected before sending the body")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > cfg.max_body_bytes:
                raise _too_large(total, cfg.max_body_bytes)
            if counter is not None:
                counter.feed(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _PartCounter:
    """Counts multipart delimiters while the body streams in; 413 past ``limit`` parts."""

    def __init__(self, boundary: bytes, limit: int) -> None:
        self.delimiter = b"--" + boundary
        self.limit = limit
        self.seen = 0
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        data = self.tail + chunk
        self.seen += data.count(self.delimiter)
        keep = len(self.delimiter) - 1
        self.tail = data[-keep:] if keep else b""
        # The last delimiter closes the body, so N parts have N + 1 delimiters.
        if self.seen - 1 > self.limit:
            raise PayloadTooLarge(
                f"more than {self.limit} parts in one request; the limit is CLIPVEC_MAX_BATCH_ITEMS"
            )


# -------------------------------------------------------------------- error shaping
class ShapedSend:
    """Wraps ``send``: error answers that are not ``{"error", "detail"}`` JSON are rewritten."""

    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        self._scope = scope
        self.started = False
        self._held: MutableMapping[str, Any] | None = None  # a response start being rewritten
        self._body: list[bytes] = []
        path = scope.get("path")
        self._docs = (
            path if path in ("/docs.json", "/schema.json", "/") and scope.get("method") == "GET" else None
        )

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
            if message["status"] >= 400 or self._docs:
                self._held = message
                return
        elif kind == "http.response.body" and self._held is not None:
            self._body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._flush()
            return
        await self._send(message)

    async def _flush(self) -> None:
        start, body = self._held, b"".join(self._body)
        assert start is not None
        self._held, self._body = None, []
        status = int(start["status"])
        if status < 400 and self._docs == "/":  # the Swagger page: no third-party tracker
            body = _TRACKER.sub(b"", body)
            await _send_body(self._send, status, body, _keep_headers(start, {b"content-length"}))
            return
        if status < 400:  # /docs.json or /schema.json
            from clipvec.serving.openapi import patch_client_schema, patch_openapi

            patch = patch_openapi if self._docs == "/docs.json" else patch_client_schema
            try:
                body = json.dumps(patch(json.loads(body))).encode()
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("could not fix up the OpenAPI document: %s", exc)
            await _send_body(
                self._send, status, body, _keep_headers(start, {b"content-type", b"content-length"})
            )
            return
        if not _well_shaped(start, body):
            log.info(
                "%s %s -> %d: %s",
                self._scope.get("method"),
                self._scope.get("path"),
                status,
                body[:300].decode("utf-8", "replace"),
            )
            body = json.dumps(
                {"error": _STATUS_CODES.get(status, "error"), "detail": _detail(status, self._scope)}
            ).encode()
        await _send_body(
            self._send,
            status,
            body,
            _keep_headers(start, {b"content-type", b"content-length"})
            + [(b"content-type", b"application/json")],
        )


# BentoML's Swagger page loads Google Tag Manager from the internet; a local service should not.
_TRACKER = re.compile(rb"<!-- Google Tag Manager.*?<!-- End Google Tag Manager[^>]*-->", re.DOTALL)


def _well_shaped(start: Message, body: bytes) -> bool:
    content_type = dict(start.get("headers", [])).get(b"content-type", b"")
    if not content_type.startswith(b"application/json"):
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and set(value) == {"error", "detail"}
        and isinstance(value["error"], str)
        and isinstance(value["detail"], str)
    )


def _detail(status: int, scope: Scope) -> str:
    method = scope.get("method", "")
    if status == 404:
        return "no such route (the API is described at /docs.json)"
    if status == 405:
        return f"this route does not answer {method[:20]}"
    if status == 429:
        return "too many requests are being processed; try again shortly"
    if status == 504:
        return "the request took too long to process"
    if status >= 500:
        return "internal error; the service log has the details"
    try:
        return HTTPStatus(status).description or HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _keep_headers(start: Message, drop: set[bytes]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in start.get("headers", []) if k.lower() not in drop]


async def _send_body(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers]
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    if status >= 400 and not any(k == b"x-content-type-options" for k, _ in headers):
        headers.append((b"x-content-type-options", b"nosniff"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, err: ClipvecError) -> None:
    payload = json.dumps(err.to_json()).encode()
    headers = [(b"content-type", b"application/json")]
    if err.status in (408, 413):  # the rest of the body is not read: do not reuse the connection
        headers.append((b"connection", b"close"))
    if err.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="clipvec"'))
    if err.status == 429:
        headers.append((b"retry-after", b"1"))
    await _send_body(send, err.status, payload, headers)


def json_protocol_errors() -> None:
    """Make uvicorn's own 400 for malformed HTTP a JSON ``{"error", "detail"}`` too."""
    try:
        import h11
        from uvicorn.protocols.http import h11_impl
    except ImportError:  # another server: nothing to patch
        return
    if getattr(h11_impl.H11Protocol.send_400_response, "_clipvec", False):
        return

    def send_400_response(self: Any, msg: str) -> None:
        payload = json.dumps({"error": "bad_request", "detail": f"malformed HTTP request: {msg}"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"connection", b"close"),
        ]
        try:
            self.transport.write(
                self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
            )
            self.transport.write(self.conn.send(h11.Data(data=payload)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:
            pass  # h11 cannot answer in this state: just close
        self.transport.close()

    send_400_response._clipvec = True  # type: ignore[attr-defined]
    h11_impl.H11Protocol.send_400_response = send_400_response  # type: ignore[method-assign]


# -------------------------------------------------------------------- helpers
def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return b""


def _media_type(scope: Scope) -> str:
    return _header(scope, b"content-type").decode("latin-1").split(";")[0].strip().lower()


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            from urllib.parse import unquote

            return unquote(value)
    return None


def _origin_key(origin: str) -> str | None:
    """'HTTP://Example.com:80' -> 'http://example.com'; None for 'null' and non-HTTP origins."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 80 if parts.scheme == "http" else 443
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _host_key(host: str, scheme: str) -> str | None:
    """The service's own origin as the browser sees it, from the Host header."""
    if not host:
        return None
    return _origin_key(f"{scheme}://{host}")


def _boundary(content_type: bytes) -> bytes | None:
    for param in content_type.split(b";")[1:]:
        key, _, value = param.strip().partition(b"=")
        if key.lower() == b"boundary" and value:
            return value.strip(b'"')
    return None


def _check_query(scope: Scope, path: str) -> None:
    from urllib.parse import parse_qsl

    allowed = QUERY_PARAMS.get(path, frozenset())
    query = scope.get("query_string", b"").decode("latin-1")
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ClipvecError(
                f"unknown query parameter {name[:50]!r} for {path} (it takes: {known})", code="bad_parameter"
            )


def _check_media_type(path: str, media_type: str, *, has_origin: bool) -> None:
    if path in IMAGE_ROUTES:
        # text/plain is what BentoML's own SyncHTTPClient sends for bytes; a browser (which
        # always sends Origin on POST) may not use it, so no HTML form can post an image.
        text_from_sdk = media_type == "text/plain" and not has_origin
        if media_type and not media_type.startswith(_IMAGE_OK) and not text_from_sdk:
            hint = " (use /vectorize_images for multipart uploads)" if "multipart" in media_type else ""
            raise UnsupportedMediaType(
                f"{path} takes the raw image bytes as the body (Content-Type image/* or "
                f"application/octet-stream), not {media_type}{hint}"
            )
    elif path in TEXT_ROUTES:
        if media_type not in _TEXT_OK:
            raise UnsupportedMediaType(f"{path} takes text/plain (UTF-8) or a JSON string, not {media_type}")
    elif path in JSON_ROUTES:
        if media_type not in ("application/json", ""):
            raise UnsupportedMediaType(f"{path} takes a JSON list of strings, not {media_type}")
    elif path in OBJECT_ROUTES:
        if media_type not in ("application/json", ""):
            raise UnsupportedMediaType(
                f"{path} takes an empty body or the JSON object {{}}, not {media_type}"
            )
    elif path in MULTIPART_ROUTES and media_type != "multipart/form-data":
        raise UnsupportedMediaType(f"{path} takes multipart/form-data with one or more files")


def _normalise(path: str, media_type: str, body: bytes, max_items: int) -> tuple[bytes, bytes]:
    """The body and Content-Type BentoML should see."""
    if path in IMAGE_ROUTES or path in MULTIPART_ROUTES:
        return body, b"application/octet-stream"
    if path in JSON_ROUTES:
        return _json_list(body, max_items), b"application/json"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"the text is not valid UTF-8 (byte {exc.start}): send UTF-8 text") from exc
    if media_type == "application/json":
        text = _text_from_json(text)
    if "\x00" in text:
        raise InvalidText("the text contains NUL characters")
    if not text.strip():
        raise EmptyInput("the text is empty")
    return text.encode("utf-8"), b"text/plain; charset=utf-8"


def parse_json(raw: bytes | str) -> Any:
    """``json.loads`` that fails with a 400 for everything Python's parser chokes on."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc.msg} (position {exc.pos})") from None
    except RecursionError:
        raise InvalidJson("the JSON is nested too deeply") from None
    except (ValueError, TypeError):  # e.g. an integer with more than 4300 digits, bytes not UTF-8
        raise InvalidJson(
            "the body is not JSON this service can read (a number too long or bad bytes)"
        ) from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_from_json(raw: str) -> str:
    value = parse_json(raw)
    if isinstance(value, dict):
        value = value.get("text", value.get("query"))
    if not isinstance(value, str):
        raise InvalidText('send a JSON string or {"text": "..."}')
    if not _encodable(value):
        raise InvalidJson("the JSON string contains a lone surrogate (\\ud800-\\udfff), which is not text")
    return value


def _json_list(body: bytes, max_items: int) -> bytes:
    """A JSON list (or {"texts": [...]}) -> a flat list of strings and item errors; else 400/413."""
    value = parse_json(body)
    if isinstance(value, dict):
        value = value.get("texts")
    if not isinstance(value, list):
        raise InvalidText('send a JSON list of strings, e.g. ["a dog", "a cat"]')
    if not value:
        raise EmptyInput("the list is empty")
    if len(value) > max_items:
        raise PayloadTooLarge(f"{len(value)} items; the limit is {max_items} (CLIPVEC_MAX_BATCH_ITEMS)")
    items: list[Any] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            items.append({ITEM_ERROR: f"item {i} is {_json_kind(item)}, not a string"})
        elif not _encodable(item):
            items.append(
                {ITEM_ERROR: f"item {i} contains a lone surrogate (\\ud800-\\udfff), which is not text"}
            )
        elif "\x00" in item:
            items.append({ITEM_ERROR: f"item {i} contains NUL characters"})
        else:
            items.append(item)
    return json.dumps(items).encode()


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _json_object(body: bytes) -> bytes:
    if body.strip():
        value = parse_json(body)
        if not isinstance(value, dict):
            raise InvalidJson("send an empty body or the JSON object {}")
    return b"{}"


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is {size} bytes or more; the limit is {limit} bytes (CLIPVEC_MAX_BODY_BYTES)"
    )


def _too_slow(received: int, elapsed: float, cfg: GuardConfig) -> RequestTimeout:
    return RequestTimeout(
        f"the body stopped or arrived too slowly ({received} bytes in {elapsed:.0f} s); the service waits "
        f"{cfg.idle_timeout:g} s (CLIPVEC_BODY_IDLE_TIMEOUT) and needs {cfg.min_rate} bytes/s after that "
        "(CLIPVEC_BODY_MIN_RATE)"
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body on once, then the real channel (so disconnects still arrive)."""
    pending = [body]  # popped once: the closure outlives the request (asyncio timers hold it)

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """(filename, bytes) of every file part of a multipart/form-data body, in order."""
    from email.parser import BytesParser
    from email.policy import HTTP

    if "boundary=" not in content_type:
        raise UnsupportedMediaType("multipart/form-data without a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise EmptyInput("the multipart body has no parts")
    files: list[tuple[str, bytes]] = []
    for index, part in enumerate(message.iter_parts()):
        name = part.get_filename()
        if name is None:  # a plain form field: not something to vectorize
            field = str(part.get_param("name", header="content-disposition") or "")[:50]
            raise ClipvecError(
                f"part {index} ({field!r}) is not a file: send each image as a file part with a filename",
                code="invalid_multipart",
            )
        payload = part.get_payload(decode=True)
        files.append((str(name), payload if isinstance(payload, bytes) else b""))
    if not files:
        raise EmptyInput("the multipart body has no files")
    return files
