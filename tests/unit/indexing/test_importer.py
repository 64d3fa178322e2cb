"""The importer's composition: plan -> stage -> merge -> write, with a stand-in stage and a real Lite store."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future

import numpy as np

from clipvec.errors import ClipvecError
from clipvec.indexing.importer import Importer
from clipvec.indexing.local_stage import LocalStage
from clipvec.indexing.report import FileFailure
from clipvec.indexing.skip_memory import FILE_NAME
from clipvec.indexing.stage import Work
from clipvec.sources import FolderSource, Scanned, scan_source


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Stage:
    """Hashes each file and "encodes" it as a fixed vector; ``.txt`` files are not images, ``bad*`` fail."""

    def __init__(self) -> None:
        self.model_loaded = False
        self.calls: list[tuple[list[str], set[str]]] = []

    def run(self, source, todo, known, report):
        self.calls.append(([f.rel_path for f in todo], set(known)))
        for found in todo:
            data = source.read(found.rel_path)
            work = Work(found, digest(data))
            if found.rel_path.endswith(".txt"):
                work = Work(found, skip=FileFailure(found.rel_path, "not_image", "content is text"))
            elif found.rel_path.startswith("bad"):
                work.error = ClipvecError("cut short", code="truncated_image")
            elif work.content_hash not in known:
                self.model_loaded = True
                work.vector = np.ones(512, np.float32) / np.sqrt(512)
                work.format, work.width, work.height = "PNG", 4, 4
            yield work


def files(folder, **contents: bytes) -> None:
    folder.mkdir(exist_ok=True)
    for name, data in contents.items():
        (folder / name.replace("__", ".")).write_bytes(data)


def test_one_run_then_a_second_with_nothing_to_do(lite_store, tmp_path):
    folder = tmp_path / "images"
    files(folder, a__png=b"A", b__png=b"B", copy__png=b"A", notes__txt=b"hi", bad__png=b"X")
    stage = Stage()
    importer = Importer(lite_store, stage, upsert_batch=2)
    totals, steps = [], []
    report = importer.run(folder, progress=steps.append, on_total=totals.append)
    assert totals == [5] and steps == [1] * 5  # every listed file is one step
    assert (report.imported, report.reused, report.unchanged, report.files_read) == (2, 1, 0, 5)
    assert report.skipped_files == [FileFailure("notes.txt", "not_image", "content is text")]
    assert report.failed == [FileFailure("bad.png", "truncated_image", "cut short")]
    assert {r.content_hash: r.paths for r in lite_store.iter_records()} == {
        digest(b"A"): ["a.png", "copy.png"],
        digest(b"B"): ["b.png"],
    }
    assert importer.encoder_loaded and report.model_loaded
    assert set(report.seconds) == {"plan", "write", "total"}
    assert (folder / FILE_NAME).is_file()

    stage = Stage()
    totals, steps = [], []
    again = Importer(lite_store, stage).run(folder, progress=steps.append, on_total=totals.append)
    assert [todo for todo, _ in stage.calls] == [[]]  # all unchanged or known to be skipped: nothing read
    assert (again.imported, again.reused, again.unchanged, again.files_read) == (0, 0, 3, 0)
    assert totals == [5] and steps == [3]  # the unchanged files in one step
    assert len(again.skipped_files) == 1 and again.failed == []  # a known failure does not fail again
    assert again.known_broken == [FileFailure("bad.png", "truncated_image", "cut short")]
    assert not again.model_loaded and set(again.seconds) == {"plan", "total"}


def test_the_stage_gets_only_what_must_be_read_and_the_stored_hashes(lite_store, tmp_path):
    folder = tmp_path / "images"
    files(folder, a__png=b"A")
    Importer(lite_store, Stage()).run(FolderSource(folder))
    files(folder, renamed__png=b"A", new__png=b"N")
    os.unlink(folder / "a.png")
    stage = Stage()
    report = Importer(lite_store, stage).run(str(folder), prune=True)
    assert stage.calls == [(["new.png", "renamed.png"], {digest(b"A")})]
    assert (report.imported, report.reused, report.pruned) == (1, 1, 0)  # the rename took a.png along
    assert "prune" in report.seconds
    assert sorted(p for r in lite_store.iter_records() for p in r.paths) == ["new.png", "renamed.png"]


def test_prune_drops_the_paths_that_vanished(lite_store, tmp_path):
    folder = tmp_path / "images"
    files(folder, a__png=b"A", b__png=b"B")
    Importer(lite_store, Stage()).run(folder)
    os.unlink(folder / "b.png")
    assert Importer(lite_store, Stage()).run(folder).pruned == 0
    assert lite_store.count() == 2
    assert Importer(lite_store, Stage()).run(folder, prune=True).pruned == 1
    assert [r.paths for r in lite_store.iter_records()] == [["a.png"]]


def test_a_scan_started_by_the_caller_is_used(lite_store, tmp_path):
    folder = tmp_path / "images"
    files(folder, a__png=b"A", b__png=b"B")
    source = FolderSource(folder)
    scanned: Future[Scanned] = Future()
    listing = scan_source(source)
    scanned.set_result(Scanned(listing.found[:1], []))
    stage = Stage()
    Importer(lite_store, stage).run(source, scanned=scanned)
    assert stage.calls[0][0] == ["a.png"]


def test_without_remembering_skips_no_file_is_written(lite_store, tmp_path):
    folder = tmp_path / "images"
    files(folder, notes__txt=b"hi")
    Importer(lite_store, Stage(), remember_skips=False).run(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_local_importer_loads_its_model_only_when_needed(lite_store, tmp_path):
    def load():
        raise AssertionError("no file needed the model")

    importer = Importer.local(load, lite_store, decode_workers=1, max_pixels=123, max_file_bytes=456)
    assert isinstance(importer.stage, LocalStage) and importer.stage.max_pixels == 123
    assert (importer.max_pixels, importer.max_file_bytes) == (123, 456)
    folder = tmp_path / "images"
    files(folder, notes__txt=b"not an image at all")
    report = importer.run(folder)
    assert report.skipped == 1 and not importer.encoder_loaded and not report.model_loaded


def test_gone_files_are_counted_without_prune_and_removed_with_it(lite_store, tmp_path):
    """Issue 22: a deleted file stays without --prune, and the report says how many."""
    folder = tmp_path / "images"
    files(folder, a__png=b"A", b__png=b"B", c__png=b"C", copy__png=b"A")
    Importer(lite_store, Stage()).run(folder)
    os.unlink(folder / "b.png")
    os.unlink(folder / "copy.png")
    report = Importer(lite_store, Stage()).run(folder)
    assert (report.gone, report.pruned) == (2, 0)
    assert lite_store.count() == 3
    pruned = Importer(lite_store, Stage()).run(folder, prune=True)
    assert (pruned.gone, pruned.pruned) == (0, 2)
    assert Importer(lite_store, Stage()).run(folder).gone == 0
