"""The watcher's decisions without Milvus: when it passes, prunes, retries and falls back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from clipvec.errors import StoreUnavailable
from clipvec.indexing.pass_loop import unlisted_folders
from clipvec.indexing.report import ImportReport
from clipvec.indexing.watcher import FolderWatcher, is_ignored
from clipvec.sources import Scanned, SkippedEntry, open_source


class Passes:
    """A pass runner that records (prune, files scanned) and fails the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[bool, int]] = []
        self.failures = failures

    def __call__(self, prune: bool, scanned: Future[Scanned]) -> ImportReport:
        self.calls.append((prune, len(scanned.result().found)))
        if len(self.calls) <= self.failures:
            raise StoreUnavailable("Milvus is down")
        return ImportReport()


def running(watcher: FolderWatcher) -> threading.Thread:
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    return thread


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def stop(watcher: FolderWatcher, thread: threading.Thread) -> None:
    watcher.stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert watcher.status.state == "stopped"


def test_ignores_hidden_and_junk_names_below_the_root(tmp_path):
    assert is_ignored(tmp_path, str(tmp_path / ".clipvec-skipped.json"))  # the import's own sidecar
    assert is_ignored(tmp_path, str(tmp_path / ".thumbs" / "a.jpg"))  # the page's thumbnails
    assert is_ignored(tmp_path, str(tmp_path / "sub" / ".DS_Store"))
    assert is_ignored(tmp_path, str(tmp_path.parent / "elsewhere.jpg"))
    assert not is_ignored(tmp_path, str(tmp_path / "sub" / "a.jpg"))


def test_a_folder_that_cannot_be_listed_forbids_pruning():
    scan = Scanned(
        [],
        [
            SkippedEntry("sub", "unreadable", "cannot list the folder: Permission denied"),
            SkippedEntry("x.jpg", "empty_file", "0 bytes"),
        ],
    )
    assert unlisted_folders(scan) == ["sub"]
    assert unlisted_folders(Scanned([], [SkippedEntry("a", "unreadable", "cannot stat: I/O error")])) == []


def test_a_missing_or_empty_folder_is_never_passed_over(tmp_path):
    missing = FolderWatcher(open_source(tmp_path / "gone"), Passes(), settle=0.1, interval=0.1)
    thread = running(missing)
    until(lambda: missing.status.state == "unavailable")
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    passes = Passes()
    empty = FolderWatcher(open_source(empty_folder), passes, settle=0.1, interval=0.1)
    thread2 = running(empty)
    until(lambda: empty.status.state == "unavailable")
    time.sleep(0.5)
    assert passes.calls == []  # a pass with prune over it would drop every record
    (empty_folder / "a.jpg").write_bytes(b"x")  # the disk is back
    until(lambda: passes.calls == [(True, 1)])
    stop(missing, thread)
    stop(empty, thread2)


def test_a_failing_pass_is_retried_until_it_succeeds(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    passes = Passes(failures=2)
    watcher = FolderWatcher(open_source(tmp_path), passes, settle=0.1, interval=0.1)
    thread = running(watcher)
    until(lambda: watcher.status.passes == 1)
    assert len(passes.calls) == 3 and watcher.status.failed == 2
    stop(watcher, thread)


@pytest.mark.parametrize("message", ['OS file watch limit reached. about ["/x"]'])
def test_at_the_watch_limit_it_falls_back_to_periodic_passes(tmp_path, message, caplog):
    (tmp_path / "a.jpg").write_bytes(b"x")

    def limited_watch(*_args: object, **_kwargs: object):
        raise OSError(message)
        yield  # a generator, as watchfiles.watch is

    passes = Passes()
    watcher = FolderWatcher(open_source(tmp_path), passes, settle=0.1, interval=0.1, watch=limited_watch)
    thread = running(watcher)
    until(lambda: len(passes.calls) >= 3)  # one pass per interval, no crash
    assert watcher.status.state in ("polling", "indexing")
    assert "max_user_watches" in caplog.text
    (tmp_path / "b.jpg").write_bytes(b"y")
    until(lambda: passes.calls[-1] == (True, 2))
    stop(watcher, thread)


class NamedPasses:
    """A pass runner that records (prune, the names scanned)."""

    def __init__(self) -> None:
        self.calls: list[tuple[bool, list[str]]] = []

    def __call__(self, prune: bool, scanned: Future[Scanned]) -> ImportReport:
        self.calls.append((prune, sorted(f.rel_path for f in scanned.result().found)))
        return ImportReport()


def test_a_file_still_being_written_is_held_back_while_finished_ones_are_indexed(tmp_path):
    """Settling is per file: a steady writer does not keep a finished photo from being indexed."""
    (tmp_path / "old.jpg").write_bytes(b"o")
    passes = NamedPasses()
    watcher = FolderWatcher(open_source(tmp_path), passes, settle=0.3, interval=0.1)
    thread = running(watcher)
    until(lambda: passes.calls == [(True, ["old.jpg"])])  # the catch-up pass
    writing = threading.Event()
    writing.set()

    def write_slowly() -> None:
        with (tmp_path / "growing.jpg").open("ab") as out:
            while writing.is_set():
                out.write(b"x")
                out.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    try:
        time.sleep(0.2)
        (tmp_path / "done.jpg").write_bytes(b"d")
        until(lambda: any("done.jpg" in names for _, names in passes.calls))
        # the pass that took done.jpg left the file still being written out, and pruned nothing
        # (a file rewritten in place must keep its record until it is complete)
        assert [call for call in passes.calls if "done.jpg" in call[1]][0] == (False, ["done.jpg", "old.jpg"])
    finally:
        writing.clear()
        writer.join()
    until(lambda: passes.calls[-1] == (True, ["done.jpg", "growing.jpg", "old.jpg"]))
    assert watcher.status.queued == 0
    stop(watcher, thread)
