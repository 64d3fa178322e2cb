"""``serve --watch``'s counters and folder state over real HTTP (issue 19.4, 19.5).

A real ``bentoml serve`` with ``CLIPVEC_WATCH=1``: a new file moves the indexed counter on
``/metrics`` and ``/import_status``'s queued count returns to 0; the folder moved away is
reported (the gauge, the watch state) while ``/readyz`` stays 200 (searches are still
answered from the collection, which is kept whole); the folder back is watched again.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape

SEED = HELD_OUT_SEED_START + 910_000
WAIT = 240.0  # a wait on a loaded machine, never an assertion on speed


def draw(path, i: int) -> None:
    draw_shape(("red", "green", "blue")[i % 3], ("circle", "square")[i % 2], size=96, seed=SEED + i).save(
        path
    )


@pytest.fixture(scope="module")
def watched(services):
    return services.watching("watch-state", lambda images: draw(images / "first.png", 0))


def metric(svc, name: str) -> float:
    """One clipvec family's value on /metrics (summed over label sets and workers)."""
    text = requests.get(f"{svc.url}/metrics", timeout=30).text
    values = [float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)]
    assert values, f"no {name} on /metrics"
    return sum(values)


def watch_status(svc) -> dict:
    answer = requests.post(f"{svc.url}/import_status", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["watch"]


def count(svc) -> int:
    return requests.post(f"{svc.url}/collection_info", timeout=30).json()["count"]


def eventually(check, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.3)


def test_watch_counters_and_the_folder_state(watched):
    svc, images = watched, watched.images
    eventually(lambda: watch_status(svc)["passes"] >= 1 and count(svc) >= 1, "the start-up pass")
    indexed = metric(svc, "clipvec_watch_files_indexed_total")
    events = metric(svc, "clipvec_watch_events_total")

    draw(images / "added.png", 1)
    eventually(lambda: metric(svc, "clipvec_watch_files_indexed_total") >= indexed + 1, "the indexed counter")
    assert metric(svc, "clipvec_watch_events_total") > events
    eventually(lambda: watch_status(svc)["queued"] == 0, "nothing queued any more")
    status = watch_status(svc)
    assert status["lag_seconds"] == 0 and status["folder_present"] is True, status
    assert metric(svc, "clipvec_watch_files_queued") == 0 and metric(svc, "clipvec_watch_folder_present") == 1
    stored = count(svc)

    away = images.parent / "images-away"
    images.rename(away)  # the disk unmounted
    try:
        eventually(
            lambda: metric(svc, "clipvec_watch_folder_present") == 0, "the gauge says the folder is gone"
        )
        status = watch_status(svc)
        assert status["state"] == "unavailable" and not status["folder_present"], status
        assert "not a folder" in status["detail"], status
        assert requests.get(f"{svc.url}/readyz", timeout=30).status_code == 200  # searches still answered
        assert count(svc) == stored  # no prune of a missing disk
    finally:
        away.rename(images)
    eventually(lambda: watch_status(svc)["state"] == "watching", "watching again")
    assert metric(svc, "clipvec_watch_folder_present") == 1
    draw(images / "after.png", 2)
    eventually(lambda: count(svc) == stored + 1, "a file added after the folder came back")
