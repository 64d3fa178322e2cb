"""ASGI middleware that vets request bodies before BentoML parses them.

Plain BentoML turns several bad inputs into 500s or odd values (an empty text body
arrives as "{}", form-encoded uploads fail, Content-Type is ignored, there is no size
limit). This guard runs first and, per route kind:

* refuses bodies over ``max_body_bytes`` with 413 from Content-Length, or while
  streaming, without reading the rest;
* refuses empty bodies (400) and media types that cannot be right (415);
* text routes: checks UTF-8 (400) and unwraps a JSON string or ``{"text": ...}``;
* image routes: passes the raw bytes on as ``application/octet-stream`` whatever the
  client called them (the format is sniffed from the bytes later, never trusted);
* multipart routes: passes the body through untouched, remembering the original
  Content-Type (with its boundary) in ``x-clipvec-content-type`` for the API to parse.

Every refusal is ``{"error": code, "detail": text}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from clipvec.errors import (
    ClipvecError,
    EmptyInput,
    InvalidText,
    PayloadTooLarge,
    UnsupportedMediaType,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT_ROUTES = frozenset({"/vectorize_text", "/search_text"})
IMAGE_ROUTES = frozenset({"/vectorize_image", "/search_image", "/add_image"})
JSON_ROUTES = frozenset({"/vectorize_texts"})
MULTIPART_ROUTES = frozenset({"/vectorize_images"})
ORIGINAL_CONTENT_TYPE = b"x-clipvec-content-type"

_IMAGE_OK = ("image/", "application/octet-stream", "application/x-www-form-urlencoded", "binary/")
_TEXT_OK = ("text/plain", "application/x-www-form-urlencoded", "")


class RequestGuard:
    """Pure ASGI middleware (BentoML: ``service.add_asgi_middleware(RequestGuard, ...)``)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = 50 * 1024 * 1024) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST" or not _guarded(path):
            await self.app(scope, receive, send)
            return
        try:
            media_type = _media_type(scope)
            _check_media_type(path, media_type)
            body = await self._read_body(scope, receive)
            if not body.strip() if path in TEXT_ROUTES | JSON_ROUTES else not body:
                raise EmptyInput("the request body is empty; send the text or image bytes as the body")
            body, new_type = _normalise(path, media_type, body)
        except ClipvecError as err:
            await send_error(send, err)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", new_type), (b"content-length", str(len(body)).encode())]
        if path in MULTIPART_ROUTES:
            headers.append((ORIGINAL_CONTENT_TYPE, _header(scope, b"content-type")))
        await self.app(dict(scope, headers=headers), _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(int(declared), self.max_body_bytes)
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise EmptyInput("the client disconnected before sending the body")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                raise _too_large(total, self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _guarded(path: str) -> bool:
    return path in TEXT_ROUTES or path in IMAGE_ROUTES or path in JSON_ROUTES or path in MULTIPART_ROUTES


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", []):
        if key == name:
            return value
    return b""


def _media_type(scope: Scope) -> str:
    return _header(scope, b"content-type").decode("latin-1").split(";")[0].strip().lower()


def _check_media_type(path: str, media_type: str) -> None:
    if path in IMAGE_ROUTES:
        if media_type and not media_type.startswith(_IMAGE_OK):
            hint = " (use /vectorize_images for multipart uploads)" if "multipart" in media_type else ""
            raise UnsupportedMediaType(
                f"{path} takes the raw image bytes as the body (Content-Type image/* or "
                f"application/octet-stream), not {media_type}{hint}"
            )
    elif path in TEXT_ROUTES:
        if media_type not in _TEXT_OK and media_type != "application/json":
            raise UnsupportedMediaType(f"{path} takes text/plain (UTF-8), not {media_type}")
    elif path in JSON_ROUTES:
        if media_type not in ("application/json", ""):
            raise UnsupportedMediaType(f"{path} takes a JSON list of strings, not {media_type}")
    elif path in MULTIPART_ROUTES and media_type != "multipart/form-data":
        raise UnsupportedMediaType(f"{path} takes multipart/form-data with one or more files")


def _normalise(path: str, media_type: str, body: bytes) -> tuple[bytes, bytes]:
    """The body and Content-Type BentoML should see."""
    if path in IMAGE_ROUTES or path in MULTIPART_ROUTES:
        return body, b"application/octet-stream"
    if path in JSON_ROUTES:
        return _json_list(body), b"application/json"
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


def _text_from_json(raw: str) -> str:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidText(f"the body is not valid JSON: {exc.msg}") from exc
    if isinstance(value, dict):
        value = value.get("text", value.get("query"))
    if not isinstance(value, str):
        raise InvalidText('send a JSON string or {"text": "..."}')
    return value


def _json_list(body: bytes) -> bytes:
    """Accept a JSON list or {"texts": [...]} and pass the list on; anything else is a 400."""
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidText(f"the body is not valid JSON: {exc}") from exc
    if isinstance(value, dict):
        value = value.get("texts")
    if not isinstance(value, list):
        raise InvalidText('send a JSON list of strings, e.g. ["a dog", "a cat"]')
    if not value:
        raise EmptyInput("the list is empty")
    return json.dumps(value).encode()


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is {size} bytes or more; the limit is {limit} bytes (CLIPVEC_MAX_BODY_BYTES)"
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body on once, then the real channel (so disconnects still arrive)."""
    pending = [body]  # popped once: the closure outlives the request (asyncio timers hold it)

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


async def send_error(send: Send, err: ClipvecError) -> None:
    payload = json.dumps(err.to_json()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


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
        name = part.get_filename() or part.get_param("name", header="content-disposition") or f"file{index}"
        payload = part.get_payload(decode=True)
        files.append((str(name), payload if isinstance(payload, bytes) else b""))
    if not files:
        raise EmptyInput("the multipart body has no files")
    return files
