"""Adding names to one content at once keeps every name (issue 21 item 4), on Milvus Lite and a 2.3.5 server.

``ImageStore.add_name`` is what ``POST /add_image`` uses: the per-hash lock makes it atomic
within a process; across processes the read-back (Strong) sees another client's write that
replaced ours and merges again. (A free race of two processes is not tested: one stalled
longer than ``names.SETTLE`` between its read and its write can still replace a name, see
``clipvec.store.names``; on 2 loaded cores that happened.)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from clipvec.errors import StoreUnavailable
from clipvec.store import PATHS_KEPT, ImageRecord, ImageStore
from clipvec.store.names import ATTEMPTS, SETTLE, add_name

MODEL = "test/random-clip"  # as in store_fixtures.make_store
DIM = 512
KEY = "ab" * 32


def content(key: str = KEY) -> ImageRecord:
    vector = np.random.default_rng(7).standard_normal(DIM).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return ImageRecord(key, ["ignored.png"], 1234, 1_700_000_000.5, 64, 48, "PNG", vector)


def test_names_added_by_threads_at_once_are_all_kept_and_one_created(make_store):
    store = make_store()
    names = [f"uploads/{KEY[:16]}-n{i}.png" for i in range(8)]
    start = threading.Barrier(len(names))

    def add(name: str):
        start.wait()
        return store.add_name(content(), name)

    with ThreadPoolExecutor(len(names)) as pool:
        added = list(pool.map(add, names))
    assert all(a.listed for a in added)
    assert sum(a.created for a in added) == 1
    assert sorted(store.get([KEY])[KEY].paths) == sorted(names)
    assert store.count() == 1


def test_a_name_already_listed_and_names_beyond_the_limit_are_not_written(make_store):
    store = make_store()
    first = store.add_name(content(), "a.png")
    again = store.add_name(content(), "a.png")
    assert (first.created, first.listed, again.created, again.listed) == (True, True, False, True)
    store.upsert([ImageRecord(**{**content().__dict__, "paths": [f"p{i}.png" for i in range(PATHS_KEPT)]})])
    full = store.add_name(content(), "one-too-many.png")
    assert (full.created, full.listed) == (False, False)
    assert len(full.record.paths) == PATHS_KEPT and "one-too-many.png" not in store.get([KEY])[KEY].paths


class OtherClient:
    """Our writes, each followed (the first ``times``) by another client's record without our name:
    what a second replica does between our upsert and our read-back."""

    def __init__(self, ours: ImageStore, theirs: ImageStore, times: int) -> None:
        self.ours, self.theirs, self.times, self.writes = ours, theirs, times, 0

    def upsert(self, records: list[ImageRecord]) -> None:
        self.ours.upsert(records)
        self.writes += 1
        if self.writes <= self.times:
            self.theirs.upsert([replace(content(), paths=[f"theirs-{self.writes}.png"])])


def test_a_name_another_client_replaced_is_merged_again(make_store):
    ours, theirs = make_store(), make_store()  # two connections: two replicas on one Milvus
    writer = OtherClient(ours, theirs, times=2)
    added = add_name(ours._reader, writer, content(), "mine.png", settle=0.0 if ours.is_lite else SETTLE)
    assert (added.listed, added.created, writer.writes) == (True, False, 3)
    assert ours.get([KEY])[KEY].paths == ["theirs-2.png", "mine.png"]
    assert theirs.get([KEY])[KEY].paths == ["theirs-2.png", "mine.png"]  # as the other replica sees it


def test_a_name_that_never_sticks_is_an_error(make_store):
    ours, theirs = make_store(), make_store()
    writer = OtherClient(ours, theirs, times=ATTEMPTS)
    with pytest.raises(StoreUnavailable, match="did not stick"):
        add_name(ours._reader, writer, content(), "mine.png")
    assert "mine.png" not in theirs.get([KEY])[KEY].paths
