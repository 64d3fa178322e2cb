"""Bounding the connections uvicorn holds: a header timeout, and a cap that closes the oldest idle first.

Uvicorn closes no connection that never sends a request: 1,100 idle sockets at a 1,024
file descriptor limit locked every client out, with "Too many open files" (issue 21). The
ASGI guard cannot help, it sees requests, not connections. So uvicorn's HTTP protocol class
(h11 or httptools, whichever ``bentoml serve`` picks; patched when uvicorn loads its config)
gets two bounds, per worker process:

* **header timeout**: a connection must complete its request head within ``header_timeout``
  seconds of opening, or of its previous answer; otherwise it is closed. Data trickling in
  does not extend this deadline (uvicorn's own keep-alive timer, 5 s under BentoML, is reset
  by any byte, so it stops neither a silent new connection nor a slow head);
* **connection cap**: past ``max_connections`` open connections, the connection that has
  waited longest for a request head is closed so that the new one gets in (a connection
  whose request is in progress is never closed for this; with none idle, the newcomer is).
  The cap is kept below the file descriptor limit, so ``accept`` never fails with EMFILE.

"Idle" is uvicorn's own notion (its graceful shutdown closes these first): no request yet,
or the last one answered.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import weakref
from collections import OrderedDict
from typing import Any

log = logging.getLogger("clipvec.http")

FD_RESERVE = 256  # descriptors kept for everything but client sockets (model, Milvus Lite, logs)


class ConnectionLimits:
    """One server's open connections, and those waiting for a request head (oldest first)."""

    def __init__(self, header_timeout: float, max_connections: int) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.open: set[Any] = set()
        self.idle: OrderedDict[Any, None] = OrderedDict()
        self.closed_for_room = 0
        self.closed_for_time = 0

    def opened(self, conn: Any) -> None:
        self.open.add(conn)

    def waiting(self, conn: Any) -> None:
        self.idle[conn] = None
        self.idle.move_to_end(conn)

    def busy(self, conn: Any) -> None:
        self.idle.pop(conn, None)

    def lost(self, conn: Any) -> None:
        self.open.discard(conn)
        self.idle.pop(conn, None)

    def to_close(self, newcomer: Any) -> list[Any]:
        """The connections to close so that the open ones fit the cap, oldest idle first."""
        excess = len(self.open) - self.max_connections
        victims: list[Any] = []
        for conn in self.idle:
            if len(victims) >= excess:
                break
            if conn is not newcomer:
                victims.append(conn)
        if len(victims) < excess:
            victims.append(newcomer)  # every other connection is busy: the newcomer cannot stay
        return victims


def effective_cap(max_connections: int, reserve: int = FD_RESERVE) -> int:
    """``max_connections``, lowered so that client sockets never take the last descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, soft - reserve))


class BoundedConnection:
    """Mixed in before uvicorn's protocol class (``H11Protocol`` or ``HttpToolsProtocol``)."""

    limits_of: weakref.WeakKeyDictionary[Any, ConnectionLimits] = weakref.WeakKeyDictionary()
    header_timeout = 10.0
    max_connections = 4096
    # uvicorn's protocol attributes this class relies on (both protocols have them)
    server_state: Any
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        limits = self.limits_of.get(self.server_state)
        if limits is None:
            limits = ConnectionLimits(self.header_timeout, effective_cap(self.max_connections))
            self.limits_of[self.server_state] = limits
            log.info(
                "connections: a request head within %g s (CLIPVEC_HEADER_TIMEOUT), at most %d open per "
                "worker (CLIPVEC_MAX_CONNECTIONS, the file descriptor limit)",
                limits.header_timeout,
                limits.max_connections,
            )
        self._limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        limits.opened(self)
        self._track()
        for conn in limits.to_close(self):
            limits.closed_for_room += 1
            conn._close_idle()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)  # type: ignore[misc]

    # ------------------------------------------------------------------ state
    def _track(self) -> None:
        """After every event: idle connections wait for a head under a deadline, busy ones do not."""
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            self._forget()  # closing, or handed to the WebSocket protocol
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._cancel_timer()
            self._limits.busy(self)
        elif self._head_timer is None:  # a new wait for a request head: the deadline starts now
            self._head_timer = self.loop.call_later(self._limits.header_timeout, self._head_too_slow)
            self._limits.waiting(self)

    def _forget(self) -> None:
        self._cancel_timer()
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.lost(self)

    def _cancel_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        self._limits.closed_for_time += 1
        self._close_idle()

    def _close_idle(self) -> None:
        """Close the way uvicorn closes an idle keep-alive connection (h11 is told, then the socket)."""
        self._forget()
        try:
            self.timeout_keep_alive_handler()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - the protocol could not say goodbye in its state: just close
            self.transport.close()


_BOUNDED: dict[type, type] = {}


def bounded(protocol_class: type) -> type:
    """``protocol_class`` with the two bounds, or itself when it is not an HTTP/1.1 protocol uvicorn ships."""
    if issubclass(protocol_class, BoundedConnection):
        return protocol_class
    needed = ("data_received", "on_response_complete", "timeout_keep_alive_handler")
    if not all(hasattr(protocol_class, name) for name in needed):
        log.warning("connections: %s is not bounded (no header timeout, no cap)", protocol_class.__name__)
        return protocol_class
    if protocol_class not in _BOUNDED:
        _BOUNDED[protocol_class] = type(
            f"Bounded{protocol_class.__name__}", (BoundedConnection, protocol_class), {}
        )
    return _BOUNDED[protocol_class]


def bound_connections(header_timeout: float, max_connections: int) -> None:
    """Make every uvicorn server this process starts bound its connections (idempotent).

    Called when the service module is imported, which BentoML's worker does before it makes
    its ``uvicorn.Config``; the protocol class is swapped when that config is loaded.
    """
    BoundedConnection.header_timeout = header_timeout
    BoundedConnection.max_connections = max_connections
    try:
        from uvicorn.config import Config
    except ImportError:  # another server: nothing to patch
        return
    if getattr(Config.load, "_clipvec", False):
        return
    original = Config.load

    def load(self: Any) -> None:
        original(self)
        self.http_protocol_class = bounded(self.http_protocol_class)

    load._clipvec = True  # type: ignore[attr-defined]
    Config.load = load  # type: ignore[method-assign]
