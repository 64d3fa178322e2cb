"""What an import records is what it read, and what it cannot list it does not read again (issue 21).

* A file replaced between the scan and the read is stored with the size and mtime of the
  file whose bytes were read (``os.fstat`` of the open descriptor), so the next run reads
  nothing (it read it again on every run).
* Copies of one image beyond the ``PATHS_KEPT`` names a record lists are remembered, not
  read and written again on every run (30 of 130 copies were).

Real imports into Milvus Lite and the 2.3.5 server, with the tiny CLIP.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytest

from clipvec.indexing.importer import Importer
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.sources import FolderSource
from clipvec.store import PATHS_KEPT, ImageStore

SEED = HELD_OUT_SEED_START + 600_000


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


@pytest.fixture
def store(milvus_backend, encoder):
    with ImageStore(
        milvus_backend.uri, collection=milvus_backend.collection, model_name=encoder.name, dim=encoder.dim
    ) as s:
        yield s


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "images"
    path.mkdir()
    return path


def importer(encoder: ClipEncoder, store: ImageStore) -> Importer:
    return Importer.local(encoder, store, decode_workers=2, batch_size=8, upsert_batch=64)


@dataclass(frozen=True)
class ReplacedOnRead(FolderSource):
    """A folder whose file ``victim`` is replaced (new bytes, size and mtime) just before it is opened:
    the scan has listed the old file, the read gets the new one."""

    victim: str = ""
    replacement: Path = Path()

    def open(self, path: str) -> BinaryIO:
        if path == self.victim and self.replacement.exists():
            os.replace(self.replacement, self.root / path)  # what an editor's "save" does
            os.utime(self.root / path, (1_600_000_000.25, 1_600_000_000.25))
        return super().open(path)


def test_a_file_replaced_between_scan_and_read_is_recorded_as_read(folder, tmp_path, encoder, store):
    draw_shape("red", "circle", size=96, seed=SEED).save(folder / "photo.png")
    draw_shape("blue", "star", size=96, seed=SEED + 1).save(folder / "other.png")
    replacement = tmp_path / "new.png"
    draw_shape("green", "square", size=160, seed=SEED + 2).save(replacement)
    new_bytes = replacement.read_bytes()
    assert len(new_bytes) != (folder / "photo.png").stat().st_size

    source = ReplacedOnRead(folder.resolve(), victim="photo.png", replacement=replacement)
    first = importer(encoder, store).run(source)
    assert (first.imported, len(first.failed)) == (2, 0)
    record = store.get_by_path("photo.png")
    on_disk = (folder / "photo.png").stat()
    assert record is not None and (record.size, record.mtime) == (len(new_bytes), on_disk.st_mtime)

    again = importer(encoder, store).run(FolderSource(folder.resolve()))
    assert (again.files_read, again.unchanged, again.imported) == (0, 2, 0)


def test_copies_beyond_the_kept_names_are_not_read_again(folder, encoder, store):
    draw_shape("yellow", "cross", size=96, seed=SEED + 3).save(folder / "copy000.png")
    copies = PATHS_KEPT + 30
    for i in range(1, copies):
        shutil.copy2(folder / "copy000.png", folder / f"copy{i:03d}.png")
    first = importer(encoder, store).run(folder)
    assert (first.imported, first.reused, len(first.failed)) == (1, copies - 1, 0)
    (record,) = store.iter_records()
    assert record.paths == [f"copy{i:03d}.png" for i in range(PATHS_KEPT)]

    again = importer(encoder, store).run(folder)
    assert (again.files_read, again.unchanged, again.imported, again.reused) == (0, copies, 0, 0)
    (record,) = store.iter_records()
    assert len(record.paths) == PATHS_KEPT

    # a listed name that goes makes room: the next unlisted copy is read and listed again
    (folder / "copy000.png").unlink()
    (folder / f"copy{copies:03d}.png").write_bytes((folder / "copy001.png").read_bytes())
    third = importer(encoder, store).run(folder, prune=True)
    assert third.files_read == 1
    (record,) = store.iter_records()
    assert len(record.paths) == PATHS_KEPT and "copy000.png" not in record.paths
    assert record.paths[-1] == f"copy{copies:03d}.png"
