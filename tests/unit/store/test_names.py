"""``clipvec.store.names``: a name is acknowledged only once it is read back (real Milvus Lite).

Another process's write is played by a writer that upserts a competing record right after
ours (what a second replica on the same server does between our upsert and our read-back).
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from clipvec.errors import StoreUnavailable
from clipvec.store import ImageRecord, ImageStore
from clipvec.store.names import ATTEMPTS, _HashLocks, add_name

KEY = "cd" * 32


def content() -> ImageRecord:
    vector = np.zeros(512, dtype=np.float32)
    vector[3] = 1.0
    return ImageRecord(KEY, ["ignored.png"], 10, 1.5, 4, 4, "PNG", vector)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A Milvus Lite store of this module's own (the shared one does not outlive
    test_lite_registry's ``release_all`` in the same process)."""
    path = tmp_path_factory.mktemp("names") / "m.db"
    with ImageStore(str(path), collection="t", model_name="test/random-clip", dim=512) as opened:
        yield opened


@pytest.fixture
def lite_store(store: ImageStore) -> ImageStore:
    store.delete([KEY])
    return store


class Interloper:
    """Our writer, plus another process that replaces the record with its own after our first ``times`` writes."""

    def __init__(self, store: ImageStore, times: int) -> None:
        self.store, self.times, self.writes = store, times, 0

    def upsert(self, records: list[ImageRecord]) -> None:
        self.store.upsert(records)
        self.writes += 1
        if self.writes <= self.times:
            self.store.upsert([replace(content(), paths=[f"theirs-{self.writes}.png"])])


def test_a_name_replaced_by_another_writer_is_merged_again(lite_store):
    writer = Interloper(lite_store, times=1)
    added = add_name(lite_store._reader, writer, content(), "mine.png")
    assert added.listed and added.created is False  # the other writer's record came first
    assert lite_store.get([KEY])[KEY].paths == ["theirs-1.png", "mine.png"]
    assert writer.writes == 2


def test_a_name_that_never_sticks_is_an_error_not_a_success(lite_store):
    writer = Interloper(lite_store, times=ATTEMPTS)
    with pytest.raises(StoreUnavailable, match="did not stick"):
        add_name(lite_store._reader, writer, content(), "mine.png")
    assert "mine.png" not in lite_store.get([KEY])[KEY].paths
    assert writer.writes == ATTEMPTS


def test_hash_locks_serialise_one_hash_and_are_dropped_after_use():
    locks = _HashLocks()
    inside, overlap = [], []

    def work(key: str) -> None:
        with locks.held(key):
            inside.append(key)
            overlap.append(inside.count(key) > 1)
            threading.Event().wait(0.01)
            inside.remove(key)

    threads = [threading.Thread(target=work, args=(k,)) for k in ("a", "a", "a", "b", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap and not any(overlap)
    assert locks._locks == {}  # no lock left behind per hash ever seen
