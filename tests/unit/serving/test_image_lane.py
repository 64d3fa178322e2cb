"""``ImageLane``: image work waits for a slot on the event loop and runs in threads of its own."""

from __future__ import annotations

import threading

import anyio
import anyio.to_thread
import pytest

from clipvec.serving.image_lane import ImageLane, ImagesBusy


def test_runs_the_work_in_a_thread_and_hands_back_its_result_or_error():
    lane = ImageLane(threads=2)

    async def scenario():
        loop_thread = threading.get_ident()
        ran_in = await lane.run(threading.get_ident)
        with pytest.raises(ValueError, match="bad image"):
            await lane.run(_raise, ValueError("bad image"))
        return loop_thread, ran_in

    loop_thread, ran_in = anyio.run(scenario)
    assert ran_in != loop_thread


def _raise(err: Exception) -> None:
    raise err


def test_a_full_lane_leaves_other_threads_free_and_waiters_hold_no_thread():
    """Images waiting for the lane do not take the threads health checks and the page use."""
    lane = ImageLane(threads=2)
    release = threading.Event()

    async def scenario():
        threads_before = threading.active_count()
        async with anyio.create_task_group() as tg:
            for _ in range(10):  # 2 running (blocked), 8 queued
                tg.start_soon(lane.run, release.wait, 30)
            await anyio.sleep(0.2)
            queued, new_threads = lane.waiting, threading.active_count() - threads_before
            # anyio's default limiter (health checks, the page) has every token left.
            limiter = anyio.to_thread.current_default_thread_limiter()
            free = limiter.available_tokens == limiter.total_tokens
            other = await anyio.to_thread.run_sync(lambda: "answered")
            release.set()
        return queued, new_threads, free, other, lane.waiting

    queued, new_threads, free, other, after = anyio.run(scenario)
    assert queued == 8
    assert new_threads <= 2  # one per running image; the 8 waiting hold none
    assert free and other == "answered"
    assert after == 0


def test_a_request_that_waits_too_long_gets_images_busy_and_the_lane_recovers():
    lane = ImageLane(threads=1, max_wait=0.2)
    release = threading.Event()

    async def scenario():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lane.run, release.wait, 30)
            await anyio.sleep(0.05)
            with pytest.raises(ImagesBusy) as busy:
                await lane.run(lambda: "late")
            release.set()
        return busy.value, await lane.run(lambda: "next")

    busy, after = anyio.run(scenario)
    assert busy.status == 503 and busy.code == "images_busy"
    assert after == "next"


def test_a_cancelled_waiter_leaves_the_queue_without_running():
    lane = ImageLane(threads=1)
    release = threading.Event()
    ran: list[str] = []

    async def scenario():
        async with anyio.create_task_group() as tg:
            tg.start_soon(lane.run, release.wait, 30)
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.1):  # the client went away while queued
                await lane.run(ran.append, "should not run")
            waiting = lane.waiting
            release.set()
        return waiting

    assert anyio.run(scenario) == 0
    assert ran == []
