"""A bounded look-ahead over a thread pool: work runs ahead of the consumer, in order, within a window."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """``fn`` over ``items`` in ``pool``, at most ``window`` at once, results in input order.

    Memory stays bounded however many items there are (rclip's bounded loader), and the
    consumer (the encoder) works while the next items are read and decoded.
    """
    pending = iter(items)
    inflight: deque[Future[R]] = deque()
    done = object()  # not None: None is an item like any other

    def top_up() -> None:
        while len(inflight) < window:
            nxt = next(pending, done)
            if nxt is done:
                return
            inflight.append(pool.submit(fn, nxt))  # type: ignore[arg-type]

    top_up()
    while inflight:
        result = inflight.popleft().result()
        top_up()
        yield result
