"""Folder import into real Milvus (Lite and the 2.3 server): incremental, rename, prune, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from clipvec.indexing.importer import Importer
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.store import ImageStore

SEED = HELD_OUT_SEED_START + 500_000


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


def write_shapes(folder: Path, items: list[tuple[str, str, str]], seed: int = SEED) -> None:
    for i, (name, color, shape) in enumerate(items):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_shape(color, shape, size=96, seed=seed + i).save(path)


def contents(store: ImageStore) -> dict[str, list[str]]:
    """hash -> sorted paths: the collection's exact contents."""
    return {r.content_hash: sorted(r.paths) for r in store.iter_records()}


def all_paths(store: ImageStore) -> list[str]:
    return sorted(p for paths in contents(store).values() for p in paths)


@pytest.fixture
def store(milvus_backend, encoder):
    uri, collection = milvus_backend
    with ImageStore(uri, collection=collection, model_name=encoder.name, dim=encoder.dim) as s:
        yield s


@pytest.fixture
def folder(tmp_path) -> Path:
    """The image folder (apart from tmp_path, where the Lite database file lives)."""
    path = tmp_path / "images"
    path.mkdir()
    return path


def make_importer(encoder: ClipEncoder, store: ImageStore) -> Importer:
    return Importer.local(encoder, store, decode_workers=2, batch_size=8, upsert_batch=16)


ITEMS = [
    ("red_circle.png", "red", "circle"),
    ("blue_square.jpg", "blue", "square"),
    ("sub/green_star.png", "green", "star"),
    ("sub/deeper/yellow_cross.webp", "yellow", "cross"),
    ("orange_triangle.bmp", "orange", "triangle"),
]


def test_import_then_unchanged_second_run(folder, encoder, store):
    write_shapes(folder, ITEMS)
    (folder / ".hidden").mkdir()
    draw_shape("red", "star", seed=SEED + 99).save(folder / ".hidden" / "secret.png")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 100)
    (folder / "._red_circle.png").write_bytes(b"\0\5\26\7" + b"\0" * 100)
    (folder / "notes.txt").write_text("not an image")
    report = make_importer(encoder, store).run(folder)
    assert (report.imported, report.skipped, len(report.failed)) == (5, 1, 0)
    assert all_paths(store) == sorted(name for name, _, _ in ITEMS)
    assert store.count() == 5
    record = next(r for r in store.iter_records() if r.paths == ["blue_square.jpg"])
    assert (record.format, record.width, record.height) == ("JPEG", 96, 96)

    again = make_importer(encoder, store).run(folder)
    assert (again.imported, again.reused, again.unchanged) == (0, 0, 5)
    assert store.count() == 5


def test_changed_renamed_copied_and_pruned(folder, encoder, store):
    write_shapes(folder, ITEMS)
    make_importer(encoder, store).run(folder)
    before = contents(store)
    red_hash = next(h for h, p in before.items() if p == ["red_circle.png"])
    red_vector = store.get([red_hash], with_vectors=True)[red_hash].vector

    # rename one file, copy another, change a third, delete a fourth
    (folder / "red_circle.png").rename(folder / "renamed_red.png")
    shutil.copy(folder / "blue_square.jpg", folder / "sub" / "blue_copy.jpg")
    draw_shape("purple", "circle", size=96, seed=SEED + 77).save(folder / "sub" / "green_star.png")
    (folder / "orange_triangle.bmp").unlink()

    report = make_importer(encoder, store).run(folder)
    assert report.imported == 1  # only the changed file is encoded
    assert report.reused == 2  # rename + copy reuse stored vectors
    after = contents(store)
    assert after[red_hash] == ["renamed_red.png"]
    np.testing.assert_allclose(
        store.get([red_hash], with_vectors=True)[red_hash].vector, red_vector, atol=1e-6
    )
    blue_hash = next(h for h, p in before.items() if p == ["blue_square.jpg"])
    assert after[blue_hash] == ["blue_square.jpg", "sub/blue_copy.jpg"]
    assert not any(p == ["sub/green_star.png"] for h, p in after.items() if h in before)
    # without --prune the deleted file stays; with it, it goes
    assert "orange_triangle.bmp" in all_paths(store)
    pruned = make_importer(encoder, store).run(folder, prune=True)
    assert pruned.pruned == 1
    assert all_paths(store) == sorted(
        [
            "renamed_red.png",
            "blue_square.jpg",
            "sub/blue_copy.jpg",
            "sub/green_star.png",
            "sub/deeper/yellow_cross.webp",
        ]
    )
    assert store.count() == 4


def test_broken_files_are_reported_and_the_rest_imported(folder, encoder, store):
    write_shapes(folder, ITEMS[:2])
    good = (folder / "blue_square.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x13" * 200)
    report = make_importer(encoder, store).run(folder)
    assert report.imported == 2
    assert sorted((f.path, f.reason) for f in report.failed) == [
        ("garbage.png", "undecodable_image"),
        ("truncated.jpg", "truncated_image"),
    ]
    assert all_paths(store) == ["blue_square.jpg", "red_circle.png"]
