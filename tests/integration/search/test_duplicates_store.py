"""Near-duplicate groups from records written through ``ImageStore`` and read back, on
Milvus Lite and the 2.3.5 server: the stored vectors, paths, sizes and dates come through."""

from __future__ import annotations

import math

import numpy as np
import pytest
from store_fixtures import DIM

from clipvec.search.duplicates import find_duplicates
from clipvec.store import ImageRecord

MTIME = 1_700_000_000.0


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def near(base: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    other = np.random.default_rng(seed).standard_normal(DIM)
    other -= other.dot(base) * base
    other /= np.linalg.norm(other)
    return (cosine * base + math.sqrt(1 - cosine**2) * other).astype(np.float32)


def rec(n: int, paths: list[str], vector: np.ndarray, wh: tuple[int, int] = (640, 480)) -> ImageRecord:
    return ImageRecord(f"{n:064x}", paths, 1000 + n, MTIME + n, wh[0], wh[1], "JPEG", vector)


def library() -> list[ImageRecord]:
    a, b = unit(1), unit(2)
    return [
        rec(1, ["trip/a.jpg", "backup/a.jpg"], a, (4000, 3000)),  # exact copies: one record
        rec(2, ["trip/a_small.jpg"], near(a, 0.99, 10), (800, 600)),
        rec(3, ["trip/a_crop.jpg"], near(near(a, 0.99, 10), 0.97, 11)),  # close to a_small only
        rec(4, ["home/b.jpg"], b),
        rec(5, ["home/b_burst.jpg"], near(b, 0.98, 12)),
        *[rec(10 + k, [f"misc/{k}.jpg"], unit(100 + k)) for k in range(7)],
    ]


@pytest.mark.parametrize("metric", ["COSINE", "L2"])
def test_groups_from_stored_vectors(make_store, milvus_backend, metric):
    suffix = "" if metric == "COSINE" else "_l2"
    store = make_store(collection=milvus_backend.collection + suffix, metric=metric)
    store.upsert(library())
    read = list(store.iter_records(with_vectors=True, batch=3))  # pages of 3 rows
    assert len(read) == 12

    groups = find_duplicates(read, 0.95).groups
    assert [[r.content_hash[-1] for r in g.records] for g in groups] == [
        ["1", "2", "3"],
        ["5", "4"],
    ]  # same pixels: the bigger file first
    first = groups[0].records[0]
    assert first.paths == ["trip/a.jpg", "backup/a.jpg"]
    assert (first.width, first.height, first.size, first.mtime) == (4000, 3000, 1001, MTIME + 1)

    under_home = find_duplicates(store.iter_records(with_vectors=True), 0.95, path_prefix="home/").groups
    assert [[r.path for r in g.records] for g in under_home] == [["home/b_burst.jpg", "home/b.jpg"]]
    assert find_duplicates(store.iter_records(with_vectors=True), 0.999).groups == []
