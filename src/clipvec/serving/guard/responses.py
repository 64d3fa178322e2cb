"""What leaves the guard: every error answer as ``{"error", "detail"}`` JSON, and the docs fixed up.

:class:`ShapedSend` wraps ``send`` for each request. An error answer from below (BentoML's,
Starlette's 404/405, the page's) that is not already our JSON shape is replaced by one,
with no library text; ``/docs.json`` and ``/schema.json`` are patched
(:mod:`clipvec.serving.openapi`); BentoML's Swagger page loses its Google Tag Manager
snippet. :func:`send_error` answers a refusal the guard made itself.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import MutableMapping
from typing import Any

from clipvec.errors import ClipvecError
from clipvec.serving.error_bodies import error_bytes, is_error_body, status_error
from clipvec.serving.guard.asgi import Message, Scope, Send
from clipvec.serving.openapi import patch_client_schema, patch_openapi
from clipvec.serving.routes import CLIENT_SCHEMA_PATH, DOCS_PATH, SWAGGER_PATH

log = logging.getLogger("clipvec.http")

# BentoML's Swagger page loads Google Tag Manager from the internet; a local service should not.
TRACKER = re.compile(rb"<!-- Google Tag Manager.*?<!-- End Google Tag Manager[^>]*-->", re.DOTALL)
_DOCS_PATCHES = {DOCS_PATH: patch_openapi, CLIENT_SCHEMA_PATH: patch_client_schema}


class ShapedSend:
    """Wraps ``send``: error answers that are not ``{"error", "detail"}`` JSON are rewritten."""

    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        self._scope = scope
        self.started = False
        self._held: MutableMapping[str, Any] | None = None  # a response start being rewritten
        self._body: list[bytes] = []
        path = scope.get("path")
        rewritten = (DOCS_PATH, CLIENT_SCHEMA_PATH, SWAGGER_PATH)
        self._docs = path if path in rewritten and scope.get("method") == "GET" else None

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
        if status < 400 and self._docs == SWAGGER_PATH:  # the Swagger page: no third-party tracker
            body = TRACKER.sub(b"", body)
            await send_body(self._send, status, body, keep_headers(start, {b"content-length"}))
            return
        if status < 400:  # /docs.json or /schema.json
            patch = _DOCS_PATCHES[self._docs]  # type: ignore[index]
            try:
                body = json.dumps(patch(json.loads(body))).encode()
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("could not fix up the OpenAPI document: %s", exc)
            await send_body(
                self._send, status, body, keep_headers(start, {b"content-type", b"content-length"})
            )
            return
        content_type = dict(start.get("headers", [])).get(b"content-type", b"")
        if not is_error_body(content_type, body):
            log.info(
                "%s %s -> %d: %s",
                self._scope.get("method"),
                self._scope.get("path"),
                status,
                body[:300].decode("utf-8", "replace"),
            )
            body = error_bytes(status_error(status, self._scope.get("method", "")))
        await send_body(
            self._send,
            status,
            body,
            keep_headers(start, {b"content-type", b"content-length"})
            + [(b"content-type", b"application/json")],
        )


def keep_headers(start: Message, drop: set[bytes]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in start.get("headers", []) if k.lower() not in drop]


async def send_body(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Start and finish an answer; JSON unless told otherwise, ``nosniff`` on every error."""
    headers = [*headers]
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    if status >= 400 and not any(k == b"x-content-type-options" for k, _ in headers):
        headers.append((b"x-content-type-options", b"nosniff"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, err: ClipvecError) -> None:
    """Answer ``err`` (a refusal of the guard's, or the 500 for an escaped exception)."""
    headers = [(b"content-type", b"application/json")]
    if err.status in (408, 413):  # the rest of the body is not read: do not reuse the connection
        headers.append((b"connection", b"close"))
    if err.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="clipvec"'))
    if err.status == 429:
        headers.append((b"retry-after", b"1"))
    await send_body(send, err.status, error_bytes(err.to_json()), headers)


async def refuse_websocket(scope: Scope, send: Send, err: ClipvecError) -> None:
    """Answer a WebSocket upgrade with ``err`` as JSON, before any accept.

    Uses the ASGI "WebSocket Denial Response" extension (uvicorn has it); a server without
    it can only close, which it turns into a bare 403.
    """
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})
        return

    async def as_denial(message: Message) -> None:
        await send(
            dict(message, type="websocket." + message["type"])
        )  # http.response.* -> websocket.http.response.*

    await send_error(as_denial, err)
