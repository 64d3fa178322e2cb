"""Issue 17.2 on Milvus Lite 2.5.1 and the real 2.3.5 server: ``clipvec migrate`` upgrades a
version-1 collection (written as earlier clipvec wrote it) in place, with the stored vectors,
the metadata re-read from the files, a gone or changed file's record kept with unknown
metadata, the roots kept, and an interrupted run resumed."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from photo_corpus import write_corpus
from v1_collection import DIM, MODEL, create_v1_collection

from clipvec.images.photo_meta import PhotoMeta
from clipvec.indexing import migrate as migrate_mod
from clipvec.indexing.migrate import migrate
from clipvec.settings import Settings
from clipvec.store import ImageRecord, ImageStore
from clipvec.store.upgrade import Upgrader, backup_name, staged_name

PICKED = [
    "canon_paris.jpg",
    "canon_paris.tif",
    "nikon_sydney.png",
    "phone_quito.webp",
    "no_exif.jpg",
    "zero_date.jpg",
    "lat_95.jpg",
    "wrong_type_make.jpg",
]


@pytest.fixture
def library(tmp_path, milvus_backend):
    """A version-1 collection of real files: images/ (relative paths) and pics/ (absolute, a recorded root)."""
    images, pics = tmp_path / "images", (tmp_path / "pics").resolve()
    expected_all = write_corpus(tmp_path / "corpus")
    vectors = np.random.default_rng(7).standard_normal((len(PICKED) + 2, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records, expected = [], {}
    for i, name in enumerate(PICKED):
        folder, stored = (images, name) if i % 2 == 0 else (pics, f"{pics}/{name}")
        folder.mkdir(exist_ok=True)
        data = (tmp_path / "corpus" / name).read_bytes()
        (folder / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        records.append(ImageRecord(digest, [stored], len(data), 1.0, 48, 40, "JPEG", vectors[i]))
        expected[digest] = expected_all[name]
    # A record whose file is gone, and one whose file now holds other bytes.
    records.append(ImageRecord("f" * 64, ["gone.jpg"], 1, 1.0, 48, 40, "JPEG", vectors[-2]))
    (images / "changed.jpg").write_bytes((tmp_path / "corpus" / "canon_paris.jpg").read_bytes())
    records.append(ImageRecord("e" * 64, ["changed.jpg"], 1, 1.0, 48, 40, "JPEG", vectors[-1]))
    expected["f" * 64] = expected["e" * 64] = PhotoMeta()
    create_v1_collection(milvus_backend.uri, milvus_backend.collection, records)
    with store_at(milvus_backend) as old:
        assert old.schema_version == 1
        old.record_root(".")
        old.record_root(str(pics))
    settings = Settings(
        milvus_uri=milvus_backend.uri, collection=milvus_backend.collection, images_dir=str(images)
    )
    return settings, records, expected


def store_at(milvus_backend) -> ImageStore:
    return ImageStore(milvus_backend.uri, collection=milvus_backend.collection, model_name=MODEL, dim=DIM)


def check_upgraded(milvus_backend, records, expected) -> None:
    with store_at(milvus_backend) as store:
        assert store.schema_version == 2 and store.migrate_hint is None
        assert store.count() == len(records)
        got = {r.content_hash: r for r in store.iter_records(with_vectors=True)}
        assert {h: r.meta for h, r in got.items()} == expected
        for record in records:  # the stored vectors, not new ones
            np.testing.assert_array_equal(got[record.content_hash].vector, record.vector)
            assert got[record.content_hash].paths == record.paths
        assert store.roots()[0] == "."  # the roots registry stays the collection's
        hit = store.search(records[0].vector, top_k=1)[0]
        assert hit.content_hash == records[0].content_hash and hit.meta == expected[hit.content_hash]
    with Upgrader(milvus_backend.uri, milvus_backend.collection) as up:
        state = up.state()
        assert state.staged is None and state.backup is None


def test_migrate_upgrades_in_place_with_stored_vectors_and_file_metadata(library, milvus_backend):
    settings, records, expected = library
    report = migrate(settings)
    assert (report.records, report.read, report.gone, report.changed) == (len(records), len(PICKED), 1, 1)
    check_upgraded(milvus_backend, records, expected)
    again = migrate(settings)  # nothing left to do
    assert again.already and again.records == len(records)


def test_an_interrupted_staging_resumes(library, milvus_backend, monkeypatch):
    settings, records, expected = library
    monkeypatch.setattr(migrate_mod, "BATCH", 3)

    def stop(done: int, total: int) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate(settings, on_batch=stop)
    with store_at(milvus_backend) as old:  # still version 1, whole, searchable
        assert old.schema_version == 1 and old.count() == len(records)
        with ImageStore(
            milvus_backend.uri, collection=staged_name(settings.collection), model_name=MODEL, dim=DIM
        ) as staged:
            was_staged = [r.content_hash for r in staged.iter_records()]
        assert len(was_staged) == 6
        # Meanwhile an import deletes one staged record, moves another, and adds one.
        by_hash = {r.content_hash: r for r in records}
        gone, moved = by_hash.pop(was_staged[0]), by_hash.pop(was_staged[1])
        moved = dataclasses.replace(moved, paths=["moved/elsewhere.jpg"], mtime=2.0)
        vector = np.roll(records[0].vector, 1)  # a vector of its own
        added = dataclasses.replace(records[0], content_hash="d" * 64, paths=["added.jpg"], vector=vector)
        old.delete([gone.content_hash])
        old.upsert([moved, added])
    records = [*by_hash.values(), moved, added]
    expected = {
        **{h: expected[h] for h in by_hash},
        moved.content_hash: PhotoMeta(),
        added.content_hash: PhotoMeta(),
    }
    report = migrate(settings)
    assert report.staged_before == 6 and report.records == len(records)
    check_upgraded(milvus_backend, records, expected)


def test_an_interrupted_swap_resumes(library, milvus_backend, monkeypatch):
    settings, records, expected = library
    monkeypatch.setattr(migrate_mod, "BATCH", 3)
    real_drop, real_upsert = Upgrader.drop, ImageStore.upsert
    staged, backup = staged_name(settings.collection), backup_name(settings.collection)

    def failing_drop(self, name):  # the last step: the server's backup, Lite's staged copy
        if name in (staged, backup) and self.recorded(name) is not None:
            raise KeyboardInterrupt
        real_drop(self, name)

    copies = []

    def failing_copy(self, batch, **kw):  # Lite copies the staged records back: stop half-way
        if self.collection == settings.collection:
            copies.append(len(batch))
            if len(copies) == 2:
                raise KeyboardInterrupt
        real_upsert(self, batch, **kw)

    # Lite copies the staged records back (stopped half-way, then at its last drop); a server
    # renames (stopped at its last drop: the old collection renamed away, the new one in place).
    patches = [(ImageStore, "upsert", failing_copy)] if milvus_backend.is_lite else []
    for patch in [*patches, (Upgrader, "drop", failing_drop)]:
        with monkeypatch.context() as m:
            m.setattr(*patch)
            with pytest.raises(KeyboardInterrupt):
                migrate(settings)
        with Upgrader(milvus_backend.uri, settings.collection) as up:
            state = up.state()
            assert state.staged is not None or state.backup is not None
    report = migrate(settings)
    assert report.records == len(records)
    check_upgraded(milvus_backend, records, expected)


def test_a_version_2_collection_needs_no_migration(milvus_backend):
    with store_at(milvus_backend) as store:
        store.upsert([ImageRecord("a" * 64, ["a.jpg"], 1, 1.0, 4, 4, "JPEG", np.ones(DIM, np.float32))])
    settings = Settings(milvus_uri=milvus_backend.uri, collection=milvus_backend.collection)
    report = migrate(settings)
    assert report.already and report.records == 1


def test_paths_outside_any_recorded_root_are_not_read(tmp_path: Path):
    """A stored absolute path whose folder was never imported is not opened (the page's rule too)."""
    from clipvec.sources import open_source

    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    record = ImageRecord(hashlib.sha256(b"x").hexdigest(), [str(outside)], 1, 1.0, 1, 1, "JPEG")
    meta, outcome = migrate_mod._reread(record, open_source(tmp_path / "images"), [], 10**6)
    assert (meta, outcome) == (PhotoMeta(), "gone")
