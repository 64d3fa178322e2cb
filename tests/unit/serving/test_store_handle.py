"""``StoreHandle``: one collection shared by the request threads (clipvec.serving.store_handle).

Opened on first use, bounded waits while Milvus is away (a port nobody listens on), replaced
only after Milvus Lite lost a write (its file on a full 2 MB tmpfs), closed without leftovers.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from serving_fixtures import serving_settings, unreachable_uri

from clipvec.errors import StorageFull, StoreLocked, StoreUnavailable
from clipvec.serving.store_handle import StoreHandle
from clipvec.store import ImageRecord, ImageStore
from clipvec.store.lite_file import LiteLock

DIM = 8


def handle_at(base, **overrides) -> StoreHandle:
    return StoreHandle(serving_settings(base, "test/model", **overrides), model_name="test/model", dim=DIM)


def records(start: int, n: int) -> list[ImageRecord]:
    rng = np.random.default_rng(start)
    return [
        ImageRecord(f"h{i:06d}", [f"p{i}.png"], 1, 1.0, 1, 1, "PNG", rng.random(DIM, dtype=np.float32))
        for i in range(start, start + n)
    ]


def test_opened_once_on_first_use_shared_and_closed_without_leftovers(tmp_path):
    handle = handle_at(tmp_path)
    assert not (tmp_path / "m.db").exists()  # nothing is opened before it is needed
    seen: list[ImageStore] = []
    threads = [threading.Thread(target=lambda: seen.append(handle.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 8 and all(store is seen[0] for store in seen)
    assert handle.run(lambda store: store) is seen[0]
    handle.run(lambda store: store.upsert(records(0, 3)))
    assert handle.run(lambda store: store.count()) == 3
    assert handle.is_ready() is True

    with pytest.raises(ZeroDivisionError):  # an error in the action is the caller's: the store stays
        handle.run(lambda store: 1 / 0)
    assert handle.get() is seen[0]

    handle.close()
    handle.close()
    lock = LiteLock(tmp_path / "m.db")  # free at once: the handle let go of the file and its lock
    lock.acquire()
    lock.release()
    with ImageStore(str(tmp_path / "m.db"), model_name="test/model", dim=DIM) as store:
        assert store.count() == 3


def test_a_lite_file_locked_elsewhere_is_not_ready_until_it_is_free(tmp_path):
    held = LiteLock(tmp_path / "m.db")  # what another process opening the file holds (an flock)
    held.acquire()
    handle = handle_at(tmp_path)
    try:
        with pytest.raises(StoreLocked) as err:
            handle.get()
        assert err.value.status == 503
        assert handle.is_ready() is False
        held.release()
        assert handle.is_ready() is True  # tried again on the next request, not remembered
    finally:
        held.release()
        handle.close()


def test_an_unreachable_server_is_a_quick_503_and_not_ready(tmp_path, monkeypatch):
    """Quick: pymilvus is given the store timeout (1 s) to connect, not its own default."""
    import pymilvus

    connect, timeouts = pymilvus.MilvusClient, []

    def recording_client(*args, **kwargs):
        timeouts.append(kwargs.get("timeout"))
        return connect(*args, **kwargs)

    monkeypatch.setattr(pymilvus, "MilvusClient", recording_client)
    handle = handle_at(tmp_path, milvus_uri=unreachable_uri(), store_timeout=1.0)
    with pytest.raises(StoreUnavailable) as err:
        handle.run(lambda store: store.count())
    assert err.value.status == 503
    assert handle.is_ready() is False
    assert timeouts == [1.0, 1.0]  # one try each, with the store timeout
    handle.close()  # nothing was opened


def test_a_lost_lite_write_reopens_the_store(small_disk):
    """Lite's memory shows rows its file lost: the handle must not keep serving that store."""
    handle = handle_at(small_disk)
    try:
        store = handle.get()
        handle.run(lambda s: s.upsert(records(0, 30)))
        filler = small_disk / "filler"
        disk = os.statvfs(small_disk)
        filler.write_bytes(b"\0" * (disk.f_bavail * disk.f_frsize))

        # Refused up front (the space check): nothing was lost, the store stays.
        with pytest.raises(StorageFull):
            handle.run(lambda s: s.upsert(records(100, 10)))
        assert handle.get() is store and not store.write_failed

        # Lite's own failure, seen only by reading the file back: the store is replaced.
        store._writer.check_space = lambda size: None
        with pytest.raises(StorageFull):
            handle.run(lambda s: s.upsert(records(200, 10)))
        assert store.write_failed
        filler.unlink()
        fresh = handle.get()
        assert fresh is not store
        assert fresh.count() == 30  # exactly what was acknowledged, read from the file again
    finally:
        handle.close()
