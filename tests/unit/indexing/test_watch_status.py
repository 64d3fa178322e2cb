"""The watcher's counters and state as ``/import_status`` and ``/metrics`` read them (issue 19.4, 19.5)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future

from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.watch_status import WatchCounts, WatchStatus
from clipvec.indexing.watcher import FolderWatcher
from clipvec.sources import Scanned, open_source


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lag_runs_from_the_oldest_change_until_a_pass_indexes_it():
    clock = Clock()
    status = WatchStatus(clock=clock)
    assert status.snapshot().lag_seconds == 0.0 and status.snapshot().queued == 0
    status.saw_changes(3, queued=2)
    clock.now += 4
    status.saw_changes(1, queued=3)  # a later change does not reset the oldest one
    clock.now += 1
    counts = status.snapshot()
    assert (counts.events, counts.queued, counts.pending, counts.lag_seconds) == (4, 3, True, 5.0)
    failed = FileFailure("bad.jpg", "decode_error", "not an image")
    status.pass_done(ImportReport(imported=2, reused=1, failed=[failed]))
    counts = status.snapshot()
    assert (counts.queued, counts.pending, counts.lag_seconds) == (0, False, 0.0)
    assert (counts.indexed, counts.failed_files, counts.passes) == (3, 1, 1)
    status.pass_failed()
    assert status.snapshot().failed == 1


def test_the_folder_is_absent_while_unavailable_and_present_again_after():
    status = WatchStatus()
    status.set_state("unavailable", "/x is not a folder")
    assert status.snapshot().folder_present is False
    status.set_state("stopped", "")  # stopping says nothing about the folder
    assert status.snapshot().folder_present is False
    status.set_state("watching", "/x")
    assert status.snapshot().folder_present is True
    status.set_polling(True)
    answer = status.as_json()
    assert answer["polling"] is True and answer["folder_present"] is True
    assert set(answer) >= {"state", "events", "queued", "indexed", "failed_files", "passes", "lag_seconds"}


def test_the_watcher_publishes_queued_work_then_its_indexing(tmp_path):
    """Through a fake watch: the listener sees the change queued (with a lag), then indexed."""
    (tmp_path / "a.jpg").write_bytes(b"x")
    seen: list[WatchCounts] = []
    release = threading.Event()

    def fake_watch(*_args: object, stop_event: threading.Event, **_kwargs: object):
        yield set()  # the start-up pass
        while not release.is_set() and not stop_event.is_set():
            time.sleep(0.01)
        yield {(1, os.path.join(tmp_path, "b.jpg")), (1, os.path.join(tmp_path, "c.jpg"))}
        while not stop_event.is_set():
            time.sleep(0.05)
            yield set()

    def run_pass(prune: bool, scanned: Future[Scanned]) -> ImportReport:
        return ImportReport(imported=len(scanned.result().found))

    watcher = FolderWatcher(
        open_source(tmp_path), run_pass, settle=0.1, interval=0.1, watch=fake_watch, on_status=seen.append
    )
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while watcher.status.snapshot().passes < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    release.set()
    while watcher.status.snapshot().passes < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    watcher.stop.set()
    thread.join(10)
    queued = [c for c in seen if c.queued == 2]
    assert queued and queued[0].pending and queued[0].events == 2
    assert any(c.lag_seconds > 0 for c in queued)
    last = seen[-1]
    assert (last.state, last.queued, last.lag_seconds, last.passes, last.indexed) == ("stopped", 0, 0.0, 2, 2)


def test_the_watcher_reports_the_fallback_and_a_missing_folder(tmp_path):
    """The watch limit reached: polling 1; the folder gone: absent (and no pass); back: present."""
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    seen: list[WatchCounts] = []

    def limited_watch(*_args: object, **_kwargs: object):
        raise OSError('OS file watch limit reached. about ["/x"]')
        yield  # a generator, as watchfiles.watch is

    calls: list[int] = []

    def run_pass(prune: bool, scanned: Future[Scanned]) -> ImportReport:
        calls.append(len(scanned.result().found))
        return ImportReport()

    watcher = FolderWatcher(
        open_source(folder), run_pass, settle=0.1, interval=0.1, watch=limited_watch, on_status=seen.append
    )
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()

    def until(check) -> None:
        deadline = time.monotonic() + 30
        while not check():
            assert time.monotonic() < deadline
            time.sleep(0.02)

    until(lambda: watcher.status.snapshot().passes >= 2)
    assert seen[-1].polling and seen[-1].folder_present
    folder.rename(tmp_path / "away")
    until(lambda: not watcher.status.snapshot().folder_present)
    passes = len(calls)
    time.sleep(0.5)
    assert len(calls) == passes  # nothing passed over a missing folder
    assert seen[-1].state == "unavailable" and not seen[-1].folder_present and not seen[-1].polling
    (tmp_path / "away").rename(folder)
    until(lambda: watcher.status.snapshot().folder_present and len(calls) > passes)
    watcher.stop.set()
    thread.join(10)
    assert not thread.is_alive()
