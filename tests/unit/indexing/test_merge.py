"""Merging finished files into the collection: new contents, renames, copies, touches, changes, skips."""

from __future__ import annotations

import numpy as np
import pytest

from clipvec.errors import ClipvecError
from clipvec.indexing.merge import Merger
from clipvec.indexing.plan import Plan
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.skip_memory import SkipMemory
from clipvec.indexing.stage import Work
from clipvec.indexing.writer import RecordWriter
from clipvec.sources import FoundFile
from clipvec.store import ImageRecord

OLD, NEW = "a" * 64, "b" * 64


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


def record(content_hash: str, paths: list[str], mtime: float = 100.0, seed: int = 1) -> ImageRecord:
    return ImageRecord(content_hash, paths, 10, mtime, 8, 6, "PNG", vector(seed))


def new_image(path: str, content_hash: str = NEW, mtime: float = 200.0) -> Work:
    return Work(FoundFile(path, 10, mtime), content_hash, vector(2), "JPEG", 32, 24)


def known(path: str, content_hash: str, mtime: float = 100.0) -> Work:
    return Work(FoundFile(path, 10, mtime), content_hash)


class Run:
    """One import's merge over a real Lite store holding ``existing``; ``present``: what the scan found."""

    def __init__(self, store, existing: list[ImageRecord], present: list[str]) -> None:
        if existing:
            store.upsert(existing)
        self.store = store
        stored = list(store.iter_records())
        found = [FoundFile(p, 10, 100.0) for p in present]
        self.memory = SkipMemory(None, 100)
        plan = Plan(
            found,
            found,
            {p: r for r in stored for p in r.paths},
            {r.content_hash: r for r in stored},
            self.memory,
        )
        self.report = ImportReport()
        self.writer = RecordWriter(store, 100, self.report)
        self.merger = Merger(plan, self.writer, self.report, owns=lambda p: not p.startswith("s3://"))

    def add(self, *works: Work) -> ImportReport:
        for work in works:
            self.merger.add(work)
        self.writer.finish()
        return self.report

    def contents(self) -> dict[str, list[str]]:
        return {r.content_hash: r.paths for r in self.store.iter_records()}

    def stored_vector(self, content_hash: str) -> np.ndarray:
        return self.store.get([content_hash], with_vectors=True)[content_hash].vector


def counts(report: ImportReport) -> tuple[int, int, int]:
    return report.imported, report.reused, report.unchanged


def test_a_new_content_becomes_a_record(lite_store):
    run = Run(lite_store, [], ["new.jpg"])
    assert counts(run.add(new_image("new.jpg"))) == (1, 0, 0)
    stored = lite_store.get([NEW], with_vectors=True)[NEW]
    assert (stored.paths, stored.size, stored.mtime) == (["new.jpg"], 10, 200.0)
    assert (stored.format, stored.width, stored.height) == ("JPEG", 32, 24)
    np.testing.assert_allclose(stored.vector, vector(2), atol=1e-6)


def test_a_renamed_file_keeps_its_record_and_vector(lite_store):
    run = Run(lite_store, [record(OLD, ["old.png"])], ["renamed.png"])
    assert counts(run.add(known("renamed.png", OLD, mtime=150.0))) == (0, 1, 0)
    assert run.contents() == {OLD: ["renamed.png"]}
    assert lite_store.get([OLD])[OLD].mtime == 150.0  # the primary path's mtime
    np.testing.assert_allclose(run.stored_vector(OLD), vector(1), atol=1e-6)


def test_a_copy_adds_a_path_and_is_remembered(lite_store):
    run = Run(lite_store, [record(OLD, ["a.png"])], ["a.png", "b.png"])
    copy = known("b.png", OLD, mtime=300.0)
    assert counts(run.add(copy)) == (0, 1, 0)
    assert run.contents() == {OLD: ["a.png", "b.png"]}
    assert lite_store.get([OLD])[OLD].mtime == 100.0  # still the first path's
    assert run.memory.copy_of(copy.found) == OLD  # not read again while it stays as it is


def test_a_touched_file_updates_the_mtime_only(lite_store):
    run = Run(lite_store, [record(OLD, ["a.png"])], ["a.png"])
    assert counts(run.add(known("a.png", OLD, mtime=500.0))) == (0, 0, 1)
    assert run.contents() == {OLD: ["a.png"]} and lite_store.get([OLD])[OLD].mtime == 500.0


def test_the_same_file_again_writes_nothing(lite_store):
    run = Run(lite_store, [record(OLD, ["a.png"])], ["a.png"])
    run.merger.add(known("a.png", OLD))
    assert run.writer.pending == {} and counts(run.report) == (0, 0, 1)


def test_a_changed_file_deletes_a_record_left_without_paths(lite_store):
    run = Run(lite_store, [record(OLD, ["a.png"])], ["a.png"])
    assert counts(run.add(new_image("a.png"))) == (1, 0, 0)
    assert run.contents() == {NEW: ["a.png"]}


def test_a_changed_file_leaves_the_old_contents_other_paths(lite_store):
    run = Run(lite_store, [record(OLD, ["a.png", "b.png"])], ["a.png", "b.png"])
    run.add(new_image("a.png"))
    assert run.contents() == {OLD: ["b.png"], NEW: ["a.png"]}
    np.testing.assert_allclose(run.stored_vector(OLD), vector(1), atol=1e-6)


def test_one_new_content_at_two_paths_in_one_run_is_one_record(lite_store):
    run = Run(lite_store, [], ["x.png", "y.png"])
    assert counts(run.add(new_image("x.png"), known("y.png", NEW))) == (1, 1, 0)
    assert run.contents() == {NEW: ["x.png", "y.png"]}


def test_paths_of_other_sources_survive_a_rename(lite_store):
    run = Run(lite_store, [record(OLD, ["s3://bucket/a.png", "old.png"])], ["new.png"])
    run.add(known("new.png", OLD))
    assert run.contents() == {OLD: ["s3://bucket/a.png", "new.png"]}


def test_skips_and_failures_are_reported_and_remembered(lite_store):
    run = Run(lite_store, [], ["notes.txt", "bad.png", "locked.png"])
    notes, bad, locked = (FoundFile(p, 10, 100.0) for p in ("notes.txt", "bad.png", "locked.png"))
    run.add(
        Work(notes, skip=FileFailure("notes.txt", "not_image", "content is text")),
        Work(bad, error=ClipvecError("cut short", code="truncated_image")),
        Work(locked, error=ClipvecError("cannot read: Permission denied", code="unreadable")),
    )
    assert run.report.skipped_files == [FileFailure("notes.txt", "not_image", "content is text")]
    assert run.report.failed == [
        FileFailure("bad.png", "truncated_image", "cut short"),
        FileFailure("locked.png", "unreadable", "cannot read: Permission denied"),
    ]
    assert run.memory.get(notes) == ("not_image", "content is text", False)
    assert run.memory.get(bad) == ("truncated_image", "cut short", True)
    assert run.memory.get(locked) is None  # a permission fix should be retried
    assert run.contents() == {}


@pytest.mark.parametrize("merged", [False, True])
def test_a_record_the_stage_stored_is_written_again_only_if_merged(lite_store, merged):
    """Ray workers store new records themselves; the driver writes only what it merged into them."""
    run = Run(lite_store, [], ["x.png", "y.png"])
    stored_by_worker = new_image("x.png")
    stored_by_worker.stored = True
    run.merger.add(stored_by_worker)
    assert run.writer.pending == {} and run.report.imported == 1
    if merged:
        run.merger.add(known("y.png", NEW))
        assert run.writer.pending[NEW].paths == ["x.png", "y.png"]
