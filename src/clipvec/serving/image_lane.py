"""Image work runs in a lane of its own, so it cannot take the threads other requests need.

BentoML runs a sync API method in one of the service's ``threads`` (an anyio capacity
limiter), and the page's sync handlers in anyio's default 40 threads, which health checks
share. A big image can wait for the decode pixel budget for a long time: 100-128 legal
100-megapixel PNGs held every one of those threads while they waited, and a single
``/vectorize_text`` waited 39-75 s behind them (issue 21).

So the image routes are async: a request waits for a lane slot on the event loop (no
thread held), then decodes and encodes in one of the lane's own threads. Text, search,
health and the page's other routes keep their threads whatever the images do. A request
that gets no slot within ``max_wait`` seconds is answered ``503 images_busy``, well before
BentoML's traffic timeout, instead of queueing on; one cancelled while waiting (the client
went away) leaves the queue without taking a thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from clipvec.errors import ClipvecError

__all__ = ["IMAGE_THREADS", "LANE_MAX_WAIT", "ImageLane", "ImagesBusy"]

T = TypeVar("T")

# Lane threads mostly wait (for the pixel budget, then for the micro-batcher); 32 lets a
# full encoder batch form while big images wait their turn.
IMAGE_THREADS = 32
# Seconds a request may wait for a slot. Once in, an image may still wait for the pixel
# budget behind the other lane threads' images (32 x ~1-4 s for 100 MP PNGs on 2 cores),
# so the whole stays well inside BentoML's 300 s traffic timeout (service.py).
LANE_MAX_WAIT = 60.0


class ImagesBusy(ClipvecError):
    """No lane thread came free in time: the service is busy with other images."""

    status, code = 503, "images_busy"


class ImageLane:
    """A bounded set of threads for image work, entered by waiting on the event loop."""

    def __init__(
        self,
        threads: int = IMAGE_THREADS,
        max_wait: float = LANE_MAX_WAIT,
        *,
        busy: type[ClipvecError] | None = None,
        what: str = "image",
    ) -> None:
        """``busy`` and ``what``: the 503 and its words, for a lane of other heavy work (duplicates)."""
        self.threads = max(1, int(threads))
        self.max_wait = max_wait
        self.busy = busy or ImagesBusy
        self.what = what
        self.waiting = 0  # requests queued for a slot (one event loop: no lock needed)
        # Made on first use: an anyio limiter belongs to the event loop that uses it.
        self._slots: anyio.CapacityLimiter | None = None
        self._threads: anyio.CapacityLimiter | None = None

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in a lane thread, once a slot is free; :class:`ImagesBusy` after ``max_wait``."""
        if self._slots is None or self._threads is None:
            self._slots = anyio.CapacityLimiter(self.threads)
            # Never waited on (the slots are the bound), but to_thread needs a limiter, and
            # anyio's default one is the one health checks and the page use.
            self._threads = anyio.CapacityLimiter(self.threads)
        slots = self._slots
        self.waiting += 1
        try:
            with anyio.move_on_after(self.max_wait) as wait:
                await slots.acquire()
        finally:
            self.waiting -= 1
        if wait.cancelled_caught:
            raise self.busy(
                f"no {self.what} slot came free within {self.max_wait:.0f} s "
                f"({self.threads} in work, {self.waiting} waiting); try again shortly"
            )
        try:
            return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=self._threads)
        finally:
            slots.release()
