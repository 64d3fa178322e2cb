"""clipvec.images.budget: concurrent decodes wait for pixels instead of all landing in memory."""

from __future__ import annotations

import threading
import time

import pytest
from image_corpus import H, W, format_cases

from clipvec.images import budget as budget_module
from clipvec.images.budget import PixelBudget, take_pixels
from clipvec.images.decode import decode_image

BY_NAME = {s.name: s for s in format_cases()}

WAKE = 60  # s: a wait for what happens at once; only a hang gets near it (a busy machine stalls seconds)


def taken_in_thread(
    budget: PixelBudget, pixels: int
) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A thread that takes ``pixels`` then holds them until ``let_go`` is set."""
    got, let_go = threading.Event(), threading.Event()

    def run() -> None:
        with budget.reservation() as held:
            held.take(pixels)
            got.set()
            let_go.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got, let_go


def test_take_and_release() -> None:
    budget = PixelBudget(1000)
    with budget.reservation() as held:
        held.take(300)
        held.take(200)  # already holds more: nothing extra
        assert (held.weight, budget.used) == (300, 300)
        held.take(500)  # a bigger size, known later: only the difference is taken
        assert (held.weight, budget.used) == (500, 500)
    assert budget.used == 0 and held.weight == 0
    held.release()  # twice is harmless
    assert budget.used == 0


def test_a_second_image_waits_until_the_first_releases() -> None:
    budget = PixelBudget(1000)
    first, first_got, first_go = taken_in_thread(budget, 700)
    assert first_got.wait(WAKE)
    second, second_got, second_go = taken_in_thread(budget, 700)
    assert not second_got.wait(0.3), "took pixels the budget does not have"
    assert budget.used == 700
    first_go.set()
    assert second_got.wait(WAKE), "never woken when the pixels came back"
    second_go.set()
    first.join(WAKE)
    second.join(WAKE)
    assert budget.used == 0


def test_images_that_fit_together_run_together() -> None:
    budget = PixelBudget(1000)
    threads = [taken_in_thread(budget, 400), taken_in_thread(budget, 500)]
    assert all(got.wait(WAKE) for _, got, _ in threads)
    assert budget.used == 900
    for thread, _, go in threads:
        go.set()
        thread.join(WAKE)
    assert budget.used == 0


def test_an_image_larger_than_the_budget_runs_alone() -> None:
    budget = PixelBudget(1000)
    big, big_got, big_go = taken_in_thread(budget, 10**9)
    assert big_got.wait(WAKE), "refused instead of running alone"
    assert budget.used == 1000  # capped at the whole budget
    small, small_got, small_go = taken_in_thread(budget, 1)
    assert not small_got.wait(0.3)
    big_go.set()
    assert small_got.wait(WAKE)
    small_go.set()
    big.join(WAKE)
    small.join(WAKE)
    assert budget.used == 0


def test_the_block_gives_pixels_back_on_errors_too() -> None:
    budget = PixelBudget(1000)
    with pytest.raises(RuntimeError), budget.reservation() as held:
        held.take(600)
        raise RuntimeError("decoding failed")
    assert budget.used == 0


def test_decoding_takes_the_image_size_from_the_reservation() -> None:
    budget = PixelBudget(10**8)
    with budget.reservation() as held:
        decode_image(BY_NAME["png_rgb"].data, reservation=held)
        assert budget.used == W * H
        decode_image(BY_NAME["hdr_rle"].data, reservation=held)  # same size: nothing more
        assert budget.used == W * H
    assert budget.used == 0
    take_pixels(None, 10, 10)  # without a budget: nothing to do


def test_large_releases_hand_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[float] = []
    monkeypatch.setattr(budget_module, "_malloc_trim", lambda: trims.append(time.monotonic()))
    budget = PixelBudget(10**8)
    with budget.reservation() as held:
        held.take(budget_module._TRIM_PIXELS - 1)
    assert trims == []
    with budget.reservation() as held:
        held.take(budget_module._TRIM_PIXELS)
    assert len(trims) == 1


def test_malloc_trim_is_safe_to_call() -> None:
    budget_module._malloc_trim()
    budget_module._malloc_trim()  # the library is looked up once and kept
    assert budget_module._LIBC is not None
