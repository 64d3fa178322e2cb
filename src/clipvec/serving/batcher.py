"""Micro-batching of concurrent single-image requests.

Each request thread decodes and preprocesses its own image, then hands the pixels to
one worker thread that encodes whatever has queued up meanwhile as a single batch.
There is no fixed wait: an idle service answers at single-image latency, a busy one
batches naturally (while one batch runs, the next one fills). BentoML's own adaptive
batching only applies across services, with the connection-recycling and 503 pitfalls
described in NOTES.md; this stays in-process.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

EncodeFn = Callable[[np.ndarray], np.ndarray]


class MicroBatcher:
    """Encode (3, H, W) pixel arrays from many threads in shared batches."""

    def __init__(
        self,
        encode: EncodeFn,
        *,
        max_batch: int = 32,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._encode = encode
        self._max_batch = max_batch
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[tuple[np.ndarray, Future[np.ndarray]]] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="clipvec-batcher", daemon=True)
        self._worker.start()

    def submit(self, pixels: np.ndarray) -> Future[np.ndarray]:
        fut: Future[np.ndarray] = Future()
        self._queue.put((pixels, fut))
        return fut

    def encode(self, pixels: np.ndarray, timeout: float | None = None) -> np.ndarray:
        """Blocking: one image's pixels -> its unit vector."""
        return self.submit(pixels).result(timeout=timeout)

    def _run(self) -> None:
        import time

        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            live = [(p, f) for p, f in batch if f.set_running_or_notify_cancel()]
            if not live:
                continue
            started = time.perf_counter()
            try:
                vectors = self._encode(np.stack([p for p, _ in live]))
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller, not swallowed
                for _, fut in live:
                    fut.set_exception(exc)
                continue
            for (_, fut), vec in zip(live, vectors, strict=True):
                fut.set_result(vec)
            if self._on_batch is not None:
                self._on_batch(len(live), time.perf_counter() - started)
