"""Drive ASGI apps in-process, for the serving unit tests (no server, no sockets).

Starlette's ``TestClient`` covers ordinary requests. :func:`call` covers what it cannot: a
body that streams forever, stalls, trickles or is cut by a disconnect, and several
requests in flight at once (``asyncio.gather`` over :func:`call`). :func:`echo_app` is the
app behind the guard: it answers with what it was handed, so a test sees exactly what the
guard passed on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HOST = "testserver"  # what TestClient sends too: Origin http://testserver is the service's own


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    started: int  # how many http.response.start messages were sent (one, or zero after a crash)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return values[-1] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    chunks: Iterable[bytes] = (b"",),
    query: bytes = b"",
    then: str = "end",
    delay: float = 0.0,
    raw_path: bytes | None = None,
    host: str | None = HOST,
    server: tuple[str, int] = (HOST, 80),
) -> Answer:
    """One request; ``chunks`` are the body's messages, ``delay`` seconds apart.

    ``raw_path``: the path as it came on the wire, when ``path`` is its decoded form (see
    :func:`uvicorn_target`); by default the two are the same.

    ``host``: the Host header (None: none, as in HTTP/1.0); ``server``: the address the
    connection arrived on (uvicorn: the socket's local address).

    ``then``: ``"end"`` (the last chunk closes the body), ``"hang"`` (the client sends
    nothing more and never closes: a stalled upload) or ``"disconnect"`` (the client goes).
    """
    pending = list(chunks)
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
        "root_path": "",
        "server": server,
        "client": ("127.0.0.1", 50000),
        "headers": ([(b"host", host.encode("latin-1"))] if host is not None else [])
        + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs],
    }

    async def receive() -> Message:
        if pending:
            chunk = pending.pop(0)
            if delay:
                await asyncio.sleep(delay)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or then != "end"}
        if then == "disconnect":
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # the client sends nothing more (a stalled upload or a finished one)
        raise AssertionError("unreachable")

    answer = Answer(0, [], b"", 0)

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.started += 1
            answer.status = message["status"]
            answer.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive, send)
    return answer


def websocket(app: ASGIApp, path: str, *, host: str = HOST, denial_extension: bool = True) -> list[Message]:
    """A WebSocket upgrade of ``path``, as uvicorn hands it on; the messages the app sent back."""
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": (HOST, 80),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", host.encode("latin-1")),
            (b"upgrade", b"websocket"),
            (b"connection", b"upgrade"),
        ],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}} if denial_extension else {},
    }
    incoming = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return sent


def uvicorn_target(target: str) -> dict[str, Any]:
    """What uvicorn (its h11 protocol) hands the app for a request target sent byte for byte.

    The path is percent-decoded once (``raw_path`` keeps the wire form); the query string is
    passed on as it came. ``call(app, method, **uvicorn_target("/ui/%2e%2e/x?path=a"))``.
    """
    raw_path, _, query = target.encode("ascii").partition(b"?")
    return {"path": unquote(raw_path.decode("ascii")), "raw_path": raw_path, "query": query}


def run(app: ASGIApp, method: str, path: str, **kwargs: Any) -> Answer:
    """:func:`call`, from synchronous test code; fails after 10 s instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(call(app, method, path, **kwargs), 10))


async def read_all(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with JSON of what it was handed: path, query, headers, body (latin-1 text)."""
    body = await read_all(receive) if scope["method"] not in ("GET", "HEAD") else b""
    payload = json.dumps(
        {
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            "body": body.decode("latin-1"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def answering(status: int, body: bytes, content_type: bytes = b"text/plain", parts: int = 2) -> ASGIApp:
    """An app that always answers ``status`` with ``body``, sent in ``parts`` body messages."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-from-below", b"1"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        step = max(1, -(-len(body) // parts))
        pieces = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
        for i, piece in enumerate(pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": i < len(pieces) - 1})

    return app


def echoed(answer: Any) -> dict[str, Any]:
    """What :func:`echo_app` was handed, from its answer (an :class:`Answer` or an httpx response)."""
    status = getattr(answer, "status", None) or answer.status_code
    assert status == 200, (status, answer.content[:300] if hasattr(answer, "content") else answer.body[:300])
    return answer.json()


def guarded_client(app: ASGIApp = echo_app, **options: Any) -> Any:
    """Starlette's TestClient for ``RequestGuard(app, **options)`` (the service's middleware)."""
    from starlette.testclient import TestClient

    from clipvec.serving.guard import RequestGuard

    return TestClient(RequestGuard(app, **options))
