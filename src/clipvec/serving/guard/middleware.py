"""``RequestGuard``: the ASGI middleware that runs every check in order, and the concurrency limit."""

from __future__ import annotations

import logging

from clipvec.errors import ClipvecError
from clipvec.serving.error_bodies import internal_error
from clipvec.serving.guard import access, body, hosts, normalise
from clipvec.serving.guard.asgi import ASGIApp, Receive, Scope, Send, header, header_list, media_type
from clipvec.serving.guard.config import GuardConfig
from clipvec.serving.guard.errors import TooManyRequests, WebSocketRefused
from clipvec.serving.guard.multipart import boundary
from clipvec.serving.guard.responses import ShapedSend, refuse_websocket, send_error
from clipvec.serving.routes import API_BY_PATH, GET_BY_PATH, MULTIPART_BOUNDARY, ApiRoute, BodyKind, is_public

log = logging.getLogger("clipvec.http")


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
        allowed_hosts: str = "",
    ) -> None:
        self.app = app
        self.config = GuardConfig(
            max_body_bytes=max_body_bytes,
            max_batch_items=max_batch_items,
            api_key=api_key,
            allowed_origins=access.parse_origins(allowed_origins),
            idle_timeout=idle_timeout,
            min_rate=min_rate,
            max_concurrency=max_concurrency,
            hosts=hosts.parse_hosts(allowed_hosts),
        )
        # Requests being processed (one event loop: no lock needed). Image uploads count
        # apart, each against max_concurrency: a flood of big images (which wait for the
        # pixel budget) must not make text, search and the page answer 429.
        self.active = 0
        self.active_images = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, send)
            return
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
                await send_error(shaped, internal_error())

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        hosts.check_host(scope, path, self.config.hosts)
        access.check_key(scope, path, method, self.config.api_key)
        if method not in access.SAFE_METHODS:
            access.check_origin(scope, self.config.allowed_origins, self.config.hosts)
        if is_public(path):  # health and static files: cheap
            await self.app(scope, receive, send)
            return
        normalise.check_repeated_query(scope)
        route = API_BY_PATH.get(path)
        if method == "POST" and route is not None:
            scope, receive = await self._vet_body(scope, receive, route)
        if method == "GET" and path in GET_BY_PATH:
            normalise.check_query(scope, GET_BY_PATH[path])
        images = route is not None and route.takes_images
        await self._run_limited(scope, receive, send, images)

    async def _refuse_websocket(self, scope: Scope, send: Send) -> None:
        """No route takes a WebSocket: a JSON refusal instead of uvicorn's bare 403 (421 for a bad Host)."""
        try:
            hosts.check_host(scope, scope.get("path", ""), self.config.hosts)
            raise WebSocketRefused(
                "this service has no WebSocket routes: send plain HTTP requests (the API is described at /docs.json)"
            )
        except ClipvecError as err:
            await refuse_websocket(scope, send, err)

    async def _run_limited(self, scope: Scope, receive: Receive, send: Send, images: bool) -> None:
        """429 past ``max_concurrency`` (image uploads and the rest counted apart); a request counts only once its body has arrived."""
        active = self.active_images if images else self.active
        if active >= self.config.max_concurrency:
            kind = "image requests" if images else "requests"
            raise TooManyRequests(
                f"{active} {kind} are being processed (CLIPVEC_MAX_CONCURRENCY); try again shortly"
            )
        self._count(images, +1)
        try:
            await self.app(scope, receive, send)
        finally:
            self._count(images, -1)

    def _count(self, images: bool, step: int) -> None:
        if images:
            self.active_images += step
        else:
            self.active += step

    async def _vet_body(self, scope: Scope, receive: Receive, route: ApiRoute) -> tuple[Scope, Receive]:
        """Check, read and normalise the body; the request BentoML sees instead of the client's."""
        normalise.check_query(scope, route)
        media = media_type(scope)
        normalise.check_media_type(route, media, has_origin=bool(header(scope, b"origin")))
        # One reading of the boundary, for counting the parts here and parsing them later.
        parts = boundary(header_list(scope, b"content-type")) if route.body is BodyKind.MULTIPART else None
        raw = await body.read_body(scope, receive, self.config, parts)
        new_body, new_type = normalise.normalise(route, media, raw, self.config.max_batch_items)
        replaced = (b"content-type", b"content-length", MULTIPART_BOUNDARY)
        headers = [(k, v) for k, v in scope["headers"] if k not in replaced]
        headers += [(b"content-type", new_type), (b"content-length", str(len(new_body)).encode())]
        if parts is not None:
            headers.append((MULTIPART_BOUNDARY, parts))
        return dict(scope, headers=headers), body.replay(new_body, receive)
