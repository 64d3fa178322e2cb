"""Several folders in one collection, on real Milvus (Lite and the 2.3 server) (issue 22.4).

The images folder keeps relative paths; a folder elsewhere is stored by its absolute path;
each imported root is recorded in the collection; a ``--prune`` of one folder never touches
another's records; paths an older clipvec stored relative to another folder move to their
absolute form when the folder is imported again, without encoding anything.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clipvec.indexing.importer import Importer
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.sources import open_source
from clipvec.store import ImageRecord, ImageStore, drop_collection
from clipvec.store.roots import roots_collection

SEED = HELD_OUT_SEED_START + 520_000


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


@pytest.fixture
def store(milvus_backend, encoder):
    uri, collection = milvus_backend
    with ImageStore(uri, collection=collection, model_name=encoder.name, dim=encoder.dim) as s:
        yield s


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """images/ (the images folder) and pics/ (elsewhere), each with an a.png of its own."""
    images, pics = tmp_path / "images", tmp_path / "pics"
    for i, (folder, color) in enumerate(((images, "red"), (pics, "blue"))):
        folder.mkdir()
        draw_shape(color, "circle", size=96, seed=SEED + i).save(folder / "a.png")
    draw_shape("green", "star", size=96, seed=SEED + 9).save(pics / "b.png")
    return images, pics.resolve()


def run(encoder: ClipEncoder, store: ImageStore, folder: Path, images: Path, **kwargs):
    importer = Importer.local(encoder, store, decode_workers=2, batch_size=8, upsert_batch=16)
    return importer.run(open_source(folder, images), **kwargs)


def paths(store: ImageStore) -> list[str]:
    return sorted(p for r in store.iter_records() for p in r.paths)


def test_two_folders_share_a_collection_and_each_file_is_found_again(folders, encoder, store):
    images, pics = folders
    run(encoder, store, images, images)
    report = run(encoder, store, pics, images)
    assert report.imported == 2
    assert paths(store) == sorted(["a.png", f"{pics}/a.png", f"{pics}/b.png"])
    assert store.roots() == [".", str(pics)]
    # every stored path names its file: relative ones below the images folder
    for path in paths(store):
        assert (images / path if not path.startswith("/") else Path(path)).is_file(), path


def test_pruning_one_folder_leaves_the_other_folders_records(folders, encoder, store):
    images, pics = folders
    run(encoder, store, images, images)
    run(encoder, store, pics, images)
    (pics / "b.png").unlink()
    report = run(encoder, store, pics, images, prune=True)
    assert report.pruned == 1
    assert paths(store) == sorted(["a.png", f"{pics}/a.png"])
    again = run(encoder, store, images, images, prune=True)  # and the other way round
    assert (again.pruned, again.unchanged) == (0, 1)
    assert paths(store) == sorted(["a.png", f"{pics}/a.png"])


def test_the_same_picture_in_two_folders_is_one_record_with_both_paths(folders, encoder, store):
    images, pics = folders
    shutil.copy(images / "a.png", pics / "same.png")
    run(encoder, store, images, images)
    report = run(encoder, store, pics, images)
    assert (report.imported, report.reused) == (2, 1)
    record = next(r for r in store.iter_records() if "a.png" in r.paths)
    assert record.paths == ["a.png", f"{pics}/same.png"]


def test_paths_an_older_clipvec_stored_move_to_their_folder_without_encoding(folders, encoder, store):
    images, pics = folders
    # what `clipvec import pics` stored before issue 22: paths relative to pics/
    first = run(encoder, store, pics, None)  # None: pics taken as the images folder, as then
    assert first.imported == 2 and paths(store) == ["a.png", "b.png"]
    vectors = {r.content_hash: r.vector for r in store.iter_records(with_vectors=True)}

    report = run(encoder, store, pics, images)
    assert (report.imported, report.relocated) == (0, 2)
    assert paths(store) == [f"{pics}/a.png", f"{pics}/b.png"]
    for record in store.get(list(vectors), with_vectors=True).values():
        assert record.vector.tolist() == vectors[record.content_hash].tolist()
    assert run(encoder, store, pics, images).unchanged == 2  # and from then on, nothing to do


def test_a_root_is_recorded_before_the_import_writes_and_dropped_with_the_collection(
    milvus_backend, folders, encoder, store
):
    uri, collection = milvus_backend
    images, pics = folders
    store.upsert(
        [
            ImageRecord(
                content_hash="0" * 64,
                paths=["x.png"],
                size=1,
                mtime=0.0,
                width=1,
                height=1,
                format="PNG",
                vector=[1.0] + [0.0] * (encoder.dim - 1),
            )
        ]
    )
    assert store.roots() == []  # a collection from before roots: none recorded, nothing made
    run(encoder, store, pics, images)
    assert store.roots() == [str(pics)]
    store.close()
    assert drop_collection(uri, collection)
    with ImageStore(uri, collection=collection, model_name=encoder.name, dim=encoder.dim) as fresh:
        assert fresh.count() == 0 and fresh.roots() == []
        assert not fresh._client.has_collection(roots_collection(collection))
