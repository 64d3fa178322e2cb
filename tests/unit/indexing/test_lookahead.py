"""ordered_map: results in input order, at most ``window`` items ahead of the consumer, errors raised."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from clipvec.indexing.lookahead import ordered_map


def test_results_come_in_input_order_whatever_finishes_first():
    def slow_for_early_items(i: int) -> int:
        time.sleep(0.002 * (20 - i))  # the first items finish last
        return i * i

    with ThreadPoolExecutor(6) as pool:
        assert list(ordered_map(pool, slow_for_early_items, range(20), window=8)) == [
            i * i for i in range(20)
        ]


def test_at_most_window_items_are_ahead_of_the_consumer():
    pulled = 0

    def items():
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield i

    ahead = []
    with ThreadPoolExecutor(8) as pool:
        for consumed, _ in enumerate(ordered_map(pool, lambda i: i, items(), window=3), start=1):
            ahead.append(pulled - consumed)
    assert max(ahead) == 3  # the window is used (work runs ahead) and never exceeded
    assert ahead[0] == 3 and ahead[-1] == 0


def test_no_more_than_window_calls_run_at_once_in_a_larger_pool():
    running = peak = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.005)
        with lock:
            running -= 1
        return i

    with ThreadPoolExecutor(8) as pool:
        assert list(ordered_map(pool, work, range(24), window=2)) == list(range(24))
    assert 1 <= peak <= 2


def test_an_exception_reaches_the_consumer_at_its_item():
    def fail_on_three(i: int) -> int:
        if i == 3:
            raise ValueError("item 3 is broken")
        return i

    got = []
    with ThreadPoolExecutor(2) as pool, pytest.raises(ValueError, match="item 3 is broken"):
        for result in ordered_map(pool, fail_on_three, range(10), window=4):
            got.append(result)
    assert got == [0, 1, 2]


def test_no_items_no_results():
    with ThreadPoolExecutor(1) as pool:
        assert list(ordered_map(pool, lambda i: i, [], window=4)) == []


def test_none_is_an_item_not_the_end():
    with ThreadPoolExecutor(2) as pool:
        assert list(ordered_map(pool, lambda x: x, [1, None, 3], window=2)) == [1, None, 3]
