"""Dropping a collection on Milvus Lite: asked first, with the row count; no model needed.

The CLI ``clipvec drop`` on Lite and the server is in tests/integration/store/test_data_safety.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from clipvec.errors import StoreLocked, StoreUnavailable
from clipvec.store import ImageRecord, ImageStore, drop_collection
from clipvec.store.lite_file import LiteLock

DIM = 4


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "milvus.db")
    with ImageStore(path, collection="photos", model_name="m", dim=DIM) as store:
        store.upsert(
            [ImageRecord(f"h{i}", [f"{i}.png"], 1, 1.0, 1, 1, "PNG", np.ones(DIM)) for i in range(3)]
        )
    return path


def test_drop_asks_with_the_count_and_keeps_on_no(db, tmp_path):
    asked: list[int | None] = []
    assert drop_collection(db, "photos", confirm=lambda n: asked.append(n) or False) is False
    assert drop_collection(db, "nothing_here", confirm=lambda n: asked.append(n) or True) is False
    assert asked == [3]  # an absent collection is not asked about
    assert drop_collection(db, "photos", confirm=lambda n: asked.append(n) or True) is True
    assert asked == [3, 3]
    with ImageStore(db, collection="photos", model_name="another", dim=DIM + 1) as store:
        assert store.count() == 0  # started over, with another model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["milvus.db"]  # no lock left behind


def test_drop_needs_an_existing_lite_file(tmp_path):
    with pytest.raises(StoreUnavailable, match="there is no Milvus Lite file"):
        drop_collection(str(tmp_path / "none.db"), "photos")
    assert list(tmp_path.iterdir()) == []


def test_drop_does_not_wait_for_a_held_file(tmp_path):
    db = tmp_path / "milvus.db"
    db.write_bytes(b"")  # refused at the lock, before the file is even checked
    held = LiteLock(db)
    held.acquire()
    try:
        with pytest.raises(StoreLocked, match="in use by another process"):
            drop_collection(str(db), "photos")
    finally:
        held.release()
