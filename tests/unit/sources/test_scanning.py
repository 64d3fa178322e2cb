"""Listing a source now, or in the background while the store opens: the same answer either way."""

from __future__ import annotations

import os
import threading

import pytest

from clipvec.sources import FolderSource, FoundFile, SkippedEntry, SourceUnavailable, scan_ahead, scan_source


def test_scan_ahead_gives_what_scan_source_gives(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.png").write_bytes(b"b")
    (tmp_path / "sub" / "a.png").write_bytes(b"aa")
    (tmp_path / "empty.png").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.png")
    source = FolderSource(tmp_path)
    now = scan_source(source)
    assert [f.rel_path for f in now.found] == ["b.png", "sub/a.png"]
    assert [(s.rel_path, s.reason) for s in now.skipped] == [
        ("empty.png", "empty_file"),
        ("pipe.png", "not_a_file"),
    ]
    assert scan_ahead(source).result(timeout=10) == now


class Listing:
    """A source that lists what it is given, from whatever thread, or fails."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.thread: threading.Thread | None = None

    def scan(self, skipped=None):
        self.thread = threading.current_thread()
        if self.error is not None:
            raise self.error
        skipped.append(SkippedEntry("s3://b/empty", "empty_file", "0 bytes"))
        yield FoundFile("s3://b/a.jpg", 3, 1.5)


def test_the_scan_runs_in_a_daemon_thread():
    """A run that fails to open its store exits at once, however long the listing takes."""
    source = Listing()
    scanned = scan_ahead(source).result(timeout=10)
    assert scanned.found == [FoundFile("s3://b/a.jpg", 3, 1.5)]
    assert scanned.skipped == [SkippedEntry("s3://b/empty", "empty_file", "0 bytes")]
    assert source.thread is not threading.main_thread()
    assert source.thread.daemon and source.thread.name == "clipvec-scan"


@pytest.mark.parametrize(
    "error", [SourceUnavailable("cannot list s3://b/: no such bucket"), KeyboardInterrupt()]
)
def test_a_failed_scan_is_raised_to_whoever_waits(error):
    future = scan_ahead(Listing(error))
    with pytest.raises(type(error)) as caught:
        future.result(timeout=10)
    assert caught.value is error
