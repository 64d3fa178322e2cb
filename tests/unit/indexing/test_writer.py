"""The record writer: batched upserts, stored vectors fetched once per batch, pruning."""

from __future__ import annotations

import numpy as np

from clipvec.indexing.report import ImportReport
from clipvec.indexing.writer import RecordWriter
from clipvec.store import ImageRecord


class Counted:
    """A real store whose calls are listed (name, first argument) as they are made."""

    def __init__(self, store) -> None:
        self.store = store
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name: str):
        method = getattr(self.store, name)

        def call(*args, **kwargs):
            self.calls.append((name, args[0] if args else None))
            return method(*args, **kwargs)

        return call

    def named(self, name: str) -> list[object]:
        return [arg for called, arg in self.calls if called == name]


def key(i: int) -> str:
    return f"{i:064x}"


def vector(i: int) -> np.ndarray:
    v = np.zeros(512, np.float32)
    v[i % 512] = 1.0
    return v


def record(i: int, paths: list[str] | None = None, with_vector: bool = True) -> ImageRecord:
    return ImageRecord(
        key(i), paths or [f"{i}.png"], 10, 1.0, 4, 4, "PNG", vector(i) if with_vector else None
    )


def test_records_are_written_a_batch_at_a_time_and_finish_writes_the_rest(lite_store):
    store = Counted(lite_store)
    writer = RecordWriter(store, 3, ImportReport())
    for i in range(7):
        writer.put(record(i))
    assert [len(batch) for batch in store.named("upsert")] == [3, 3]
    assert list(writer.pending) == [key(6)]
    writer.finish()
    assert [len(batch) for batch in store.named("upsert")] == [3, 3, 1]
    assert store.named("confirm_writes") == [None]  # nothing is reported that is not stored
    assert lite_store.count() == 7 and writer.pending == {}
    assert writer.report.seconds["write"] > 0


def test_the_same_content_put_twice_is_written_once_with_the_last_paths(lite_store):
    store = Counted(lite_store)
    writer = RecordWriter(store, 10, ImportReport())
    writer.put(record(1, ["a.png"]))
    writer.put(record(1, ["a.png", "b.png"]))
    writer.finish()
    assert [len(batch) for batch in store.named("upsert")] == [1]
    assert lite_store.get([key(1)])[key(1)].paths == ["a.png", "b.png"]


def test_stored_vectors_are_fetched_in_one_query_per_batch(lite_store):
    lite_store.upsert([record(i) for i in range(3)])
    store = Counted(lite_store)
    writer = RecordWriter(store, 10, ImportReport())
    for i in range(3):  # renamed: records without their vector
        writer.put(record(i, [f"renamed-{i}.png"], with_vector=False))
    writer.put(record(3))  # a new content brings its own
    writer.finish()
    assert store.named("get") == [[key(0), key(1), key(2)]]
    stored = lite_store.get([key(i) for i in range(4)], with_vectors=True)
    for i in range(4):
        np.testing.assert_allclose(stored[key(i)].vector, vector(i))
    assert stored[key(0)].paths == ["renamed-0.png"]


def test_a_batch_of_new_contents_reads_nothing(lite_store):
    store = Counted(lite_store)
    writer = RecordWriter(store, 2, ImportReport())
    writer.put(record(1))
    writer.put(record(2))
    writer.finish()
    assert store.named("get") == []


def test_discard_and_delete(lite_store):
    lite_store.upsert([record(1)])
    writer = RecordWriter(lite_store, 10, ImportReport())
    writer.put(record(2))
    writer.discard(key(2))
    writer.put(record(1, ["moved.png"]))
    writer.delete(key(1))  # the content is gone: neither stored nor written later
    writer.finish()
    assert lite_store.count() == 0


def test_prune_forgets_vanished_paths_of_this_source_only(lite_store):
    lite_store.upsert(
        [
            record(1, ["a.png", "gone.png"]),
            record(2, ["gone-too.png"]),
            record(3, ["s3://bucket/x.png"]),  # another source's path: not ours to prune
            record(4, ["kept.png"]),
        ]
    )
    report = ImportReport()
    store = Counted(lite_store)
    gone = RecordWriter(store, 10, report).prune(
        {"a.png", "kept.png"}, owns=lambda p: not p.startswith("s3://")
    )
    assert gone == 2
    assert {r.content_hash: r.paths for r in lite_store.iter_records()} == {
        key(1): ["a.png"],
        key(3): ["s3://bucket/x.png"],
        key(4): ["kept.png"],
    }
    np.testing.assert_allclose(lite_store.get([key(1)], with_vectors=True)[key(1)].vector, vector(1))
    assert store.named("delete") == [[key(2)]] and "prune" in report.seconds


def test_prune_with_nothing_gone_writes_nothing(lite_store):
    lite_store.upsert([record(1)])
    store = Counted(lite_store)
    assert RecordWriter(store, 10, ImportReport()).prune({"1.png"}, owns=lambda p: True) == 0
    assert store.named("upsert") == [] and store.named("delete") == []
