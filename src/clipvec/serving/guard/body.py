"""Reading a request body under limits, and handing it on.

The guard reads the body of every API route itself, so that a body too large, too slow or
with too many parts is refused as soon as that is known, not after BentoML has buffered it.
"""

from __future__ import annotations

import asyncio

from clipvec.errors import EmptyInput, PayloadTooLarge
from clipvec.serving.guard.asgi import Message, Receive, Scope, header
from clipvec.serving.guard.config import GuardConfig
from clipvec.serving.guard.errors import RequestTimeout


async def read_body(scope: Scope, receive: Receive, cfg: GuardConfig, boundary: bytes | None) -> bytes:
    """The whole body, or 413/408 as soon as it is too large, too slow or has too many parts.

    ``boundary``: a multipart body's boundary, to count its parts while it streams in.
    """
    declared = header(scope, b"content-length")
    if declared.isdigit() and int(declared) > cfg.max_body_bytes:
        raise too_large(int(declared), cfg.max_body_bytes)
    loop = asyncio.get_running_loop()
    started = loop.time()
    counter = PartCounter(boundary, cfg.max_batch_items) if boundary else None
    chunks: list[bytes] = []
    total = 0
    while True:
        now = loop.time()
        wait = cfg.idle_timeout
        if cfg.min_rate > 0:  # the body must keep up with min_rate after a grace period
            wait = min(wait, started + cfg.idle_timeout + total / cfg.min_rate - now)
        if wait <= 0:
            raise too_slow(total, now - started, cfg)
        try:
            message = await asyncio.wait_for(receive(), wait)
        except asyncio.TimeoutError:
            raise too_slow(total, loop.time() - started, cfg) from None
        if message["type"] == "http.disconnect":
            raise EmptyInput("the client disconnected before sending the body")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > cfg.max_body_bytes:
            raise too_large(total, cfg.max_body_bytes)
        if counter is not None:
            counter.feed(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class PartCounter:
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


def too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is {size} bytes or more; the limit is {limit} bytes (CLIPVEC_MAX_BODY_BYTES)"
    )


def too_slow(received: int, elapsed: float, cfg: GuardConfig) -> RequestTimeout:
    return RequestTimeout(
        f"the body stopped or arrived too slowly ({received} bytes in {elapsed:.0f} s); the service waits "
        f"{cfg.idle_timeout:g} s (CLIPVEC_BODY_IDLE_TIMEOUT) and needs {cfg.min_rate} bytes/s after that "
        "(CLIPVEC_BODY_MIN_RATE)"
    )


def replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body on once, then the real channel (so disconnects still arrive)."""
    pending = [body]  # popped once: the closure outlives the request (asyncio timers hold it)

    async def replayed() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replayed
