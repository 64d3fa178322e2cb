"""The plan: which files are unchanged, already known to be skipped, too large, or must be read."""

from __future__ import annotations

import gc
import os
from concurrent.futures import Future

import numpy as np
import pytest
from plan_helpers import LIMIT, plan_of

from clipvec.indexing.plan import gc_paused
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.skip_memory import SkipMemory
from clipvec.sources import FolderSource, FoundFile, Scanned
from clipvec.store import ImageRecord


def stored(content_hash: str, paths: list[str], size: int, mtime: float) -> ImageRecord:
    return ImageRecord(content_hash, paths, size, mtime, 8, 8, "PNG", np.ones(512, np.float32))


def write(folder, name: str, size: int, mtime: float = 1_700_000_000.0) -> FoundFile:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return FoundFile(name, size, mtime)


def test_a_stored_path_with_the_same_size_and_mtime_is_not_read(lite_store, folder):
    same = write(folder, "same.png", 10)
    touched = write(folder, "touched.png", 10, mtime=1_700_000_500.0)
    grown = write(folder, "grown.png", 11)
    new = write(folder, "new.png", 10)
    lite_store.upsert(
        [
            stored("1" * 64, ["same.png"], 10, same.mtime),
            stored("2" * 64, ["touched.png"], 10, 1_700_000_000.0),
            stored("3" * 64, ["grown.png"], 10, grown.mtime),
        ]
    )
    report = ImportReport()
    plan = plan_of(lite_store, folder, report)
    assert report.unchanged == 1
    assert [f.rel_path for f in plan.todo] == ["grown.png", "new.png", "touched.png"]
    assert [f.rel_path for f in plan.found] == ["grown.png", "new.png", "same.png", "touched.png"]
    assert set(plan.by_hash) == {"1" * 64, "2" * 64, "3" * 64}
    assert plan.by_path["same.png"].content_hash == "1" * 64
    assert new in plan.todo and touched in plan.todo


def test_a_copy_is_unchanged_only_through_the_skip_memory(lite_store, folder):
    """A record keeps its first path's mtime only: a copy's is in the skip memory."""
    first = write(folder, "a.png", 10)
    copy = write(folder, "b.png", 10, mtime=1_700_000_900.0)
    lite_store.upsert([stored("c" * 64, ["a.png", "b.png"], 10, first.mtime)])
    report = ImportReport()
    assert [f.rel_path for f in plan_of(lite_store, folder, report).todo] == ["b.png"]

    memory = SkipMemory.load(FolderSource(folder).root, 100)
    memory.remember_copy(copy, "c" * 64)
    memory.save({"a.png", "b.png"})
    report = ImportReport()
    assert plan_of(lite_store, folder, report).todo == []
    assert report.unchanged == 2


def test_files_the_skip_memory_knows_are_reported_not_read(lite_store, folder):
    movie = write(folder, "movie.mp4", 20)
    broken = write(folder, "broken.png", 30)
    memory = SkipMemory.load(folder.resolve(), 100)
    memory.remember(movie, "not_image", "content is not an image", failed=False)
    memory.remember(broken, "truncated_image", "cut short", failed=True)
    memory.save({"movie.mp4", "broken.png"})

    report = ImportReport()
    plan = plan_of(lite_store, folder, report)
    assert plan.todo == []
    assert report.skipped_files == [FileFailure("movie.mp4", "not_image", "content is not an image")]
    assert report.failed == []  # it failed the run that found it, not this one (issue 22)
    assert report.known_broken == [FileFailure("broken.png", "truncated_image", "cut short")]

    write(folder, "movie.mp4", 21)  # changed: looked at again
    assert [f.rel_path for f in plan_of(lite_store, folder, ImportReport()).todo] == ["movie.mp4"]
    # without the skip memory (--no-remember-skips) every file is read
    assert len(plan_of(lite_store, folder, ImportReport(), remember_skips=False).todo) == 2


def test_a_file_over_the_byte_limit_is_skipped_by_its_listed_size(lite_store, folder):
    write(folder, "big.png", LIMIT + 1)
    write(folder, "limit.png", LIMIT)
    report = ImportReport()
    plan = plan_of(lite_store, folder, report)
    assert [f.rel_path for f in plan.todo] == ["limit.png"]
    assert report.skipped_files == [
        FileFailure(
            "big.png", "too_large", f"{LIMIT + 1} bytes, over the limit of {LIMIT} (CLIPVEC_MAX_FILE_BYTES)"
        )
    ]


def test_the_scan_skips_are_reported_and_a_given_scan_is_used(lite_store, folder):
    (folder / "empty.png").write_bytes(b"")
    write(folder, "a.png", 5)
    report = ImportReport()
    plan = plan_of(lite_store, folder, report)
    assert [(f.path, f.reason) for f in report.skipped_files] == [("empty.png", "empty_file")]
    assert [f.rel_path for f in plan.todo] == ["a.png"]

    listed: Future[Scanned] = Future()  # the caller's scan, started before the store opened
    listed.set_result(Scanned([FoundFile("elsewhere.png", 5, 1.0)], []))
    plan = plan_of(lite_store, folder, ImportReport(), scanned=listed)
    assert [f.rel_path for f in plan.found] == [f.rel_path for f in plan.todo] == ["elsewhere.png"]


def test_gc_paused_restores_the_collector_even_after_an_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
