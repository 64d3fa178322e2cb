"""``MicroBatcher``: concurrent single images are encoded together, each caller gets its own row.

The encoder here is a plain function (the row sums, tagged by batch), so every result can be
traced to its input and its batch. The model itself behind the batcher is in test_core.py
(test_concurrent_single_images_are_batched_correctly).
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

import numpy as np
import pytest

from clipvec.serving.batcher import MicroBatcher

TIMEOUT = 10


class GatedEncoder:
    """Encodes ``pixels -> [sum, batch number]``; the first batch waits for ``gate``."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []
        self.fail_with = fail_with

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        self.batches.append(len(pixels))
        if self.fail_with is not None:
            raise self.fail_with
        number = len(self.batches)
        return np.stack([pixels.reshape(len(pixels), -1).sum(axis=1), np.full(len(pixels), number)], axis=1)


def pixels(value: float) -> np.ndarray:
    return np.full((3, 2, 2), value, dtype=np.float32)


def blocked(encoder: GatedEncoder, batcher: MicroBatcher) -> Future[np.ndarray]:
    """Submit one image and wait until the worker is encoding it (so the next ones queue up)."""
    first = batcher.submit(pixels(-1))
    assert encoder.entered.wait(TIMEOUT)
    return first


def test_an_idle_batcher_encodes_at_once():
    batches: list[tuple[int, float]] = []
    batcher = MicroBatcher(
        lambda p: p.reshape(len(p), -1)[:, :2] * 2, on_batch=lambda n, s: batches.append((n, s))
    )
    vector = batcher.encode(pixels(1.5), timeout=TIMEOUT)
    np.testing.assert_array_equal(vector, [3.0, 3.0])
    assert len(batches) == 1 and batches[0][0] == 1 and batches[0][1] >= 0


def test_requests_that_queue_meanwhile_share_one_batch_and_get_their_own_rows():
    encoder = GatedEncoder()
    sizes: list[int] = []
    batcher = MicroBatcher(encoder, max_batch=32, on_batch=lambda n, s: sizes.append(n))
    first = blocked(encoder, batcher)
    futures = [batcher.submit(pixels(i)) for i in range(10)]
    encoder.gate.set()
    assert first.result(TIMEOUT).tolist() == [-12.0, 1.0]
    for i, fut in enumerate(futures):
        assert fut.result(TIMEOUT).tolist() == [12.0 * i, 2.0], i  # its own sum, all in batch 2
    assert encoder.batches == [1, 10]
    assert sizes == [1, 10]


def test_concurrent_callers_from_many_threads():
    encoder = GatedEncoder()
    encoder.gate.set()
    batcher = MicroBatcher(encoder, max_batch=8)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: batcher.encode(pixels(i), timeout=TIMEOUT), range(64)))
    assert [r[0] for r in results] == [12.0 * i for i in range(64)]
    assert sum(encoder.batches) == 64 and max(encoder.batches) <= 8


def test_batches_are_at_most_max_batch():
    encoder = GatedEncoder()
    batcher = MicroBatcher(encoder, max_batch=4)
    first = blocked(encoder, batcher)
    futures = [batcher.submit(pixels(i)) for i in range(10)]
    encoder.gate.set()
    first.result(TIMEOUT)
    assert [f.result(TIMEOUT)[0] for f in futures] == [12.0 * i for i in range(10)]
    assert encoder.batches == [1, 4, 4, 2]


def test_an_encode_error_reaches_every_waiter_and_the_batcher_goes_on():
    failure = RuntimeError("out of memory")
    encoder = GatedEncoder(fail_with=failure)
    batcher = MicroBatcher(encoder)
    first = blocked(encoder, batcher)
    futures = [batcher.submit(pixels(i)) for i in range(5)]
    encoder.gate.set()
    for fut in [first, *futures]:
        with pytest.raises(RuntimeError) as err:
            fut.result(TIMEOUT)
        assert err.value is failure
    encoder.fail_with = None
    assert batcher.encode(pixels(2), timeout=TIMEOUT)[0] == 24.0  # the worker still runs


def test_cancelled_requests_are_skipped():
    encoder = GatedEncoder()
    batcher = MicroBatcher(encoder)
    first = blocked(encoder, batcher)
    futures = [batcher.submit(pixels(i)) for i in range(6)]
    for fut in futures[::2]:
        assert fut.cancel()
    encoder.gate.set()
    first.result(TIMEOUT)
    for i, fut in enumerate(futures):
        if i % 2 == 0:
            with pytest.raises(CancelledError):
                fut.result(TIMEOUT)
        else:
            assert fut.result(TIMEOUT).tolist() == [12.0 * i, 2.0]
    assert encoder.batches == [1, 3]  # the cancelled ones never reached the encoder


def test_a_batch_of_only_cancelled_requests_encodes_nothing():
    encoder = GatedEncoder()
    batcher = MicroBatcher(encoder)
    first = blocked(encoder, batcher)
    cancelled = [batcher.submit(pixels(i)) for i in range(3)]
    for fut in cancelled:
        fut.cancel()
    encoder.gate.set()
    first.result(TIMEOUT)
    assert batcher.encode(pixels(1), timeout=TIMEOUT).tolist() == [12.0, 2.0]
    assert encoder.batches == [1, 1]
