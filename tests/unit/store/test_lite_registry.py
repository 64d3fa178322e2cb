"""The per-process registry of open Lite files: the first user locks and checks, the last one lets go.

No milvus-lite process is started here (nothing is opened through pymilvus); a real Lite
file held by two processes is in tests/integration/store/test_data_safety.py.
"""

from __future__ import annotations

import pytest

from clipvec.errors import StoreDamaged, StoreLocked
from clipvec.store import lite_registry
from clipvec.store.lite_file import LiteLock, lock_path


def test_the_first_user_locks_and_the_last_unlocks(tmp_path):
    db = str(tmp_path / "milvus.db")
    lock = lock_path(tmp_path / "milvus.db")
    lite_registry.acquire(db, 0.0)
    try:
        assert lock.exists() and lite_registry.users(db) == 1
        lite_registry.acquire(db, 0.0)  # a second store in this process: no second lock
        assert lite_registry.users(db) == 2
        lite_registry.release(db)
        assert lock.exists() and lite_registry.users(db) == 1
    finally:
        lite_registry.release(db)
    assert lite_registry.users(db) == 0 and not lock.exists()


def test_a_file_held_by_another_lock_is_refused(tmp_path):
    other = LiteLock(tmp_path / "milvus.db")  # as another process would hold it
    other.acquire()
    try:
        with pytest.raises(StoreLocked):
            lite_registry.acquire(str(tmp_path / "milvus.db"), 0.0)
        assert lite_registry.users(str(tmp_path / "milvus.db")) == 0
    finally:
        other.release()


def test_a_damaged_file_is_refused_and_left_unlocked(tmp_path):
    db = tmp_path / "milvus.db"
    db.write_bytes(b"not a database at all")
    with pytest.raises(StoreDamaged, match="does not start with a SQLite header"):
        lite_registry.acquire(str(db), 0.0)
    assert lite_registry.users(str(db)) == 0 and not lock_path(db).exists()
    lite_registry.acquire(str(tmp_path / "fine.db"), 0.0)  # the registry still works
    lite_registry.release(str(tmp_path / "fine.db"))


def test_release_all_leaves_no_lock_files(tmp_path):
    paths = [str(tmp_path / f"db{i}.db") for i in range(3)]
    for path in paths:
        lite_registry.acquire(path, 0.0)
    lite_registry.acquire(paths[0], 0.0)  # two users of one file: released all the same
    lite_registry.release_all()
    assert [lite_registry.users(p) for p in paths] == [0, 0, 0]
    assert list(tmp_path.iterdir()) == []  # no lock files left


def test_a_helper_starts_only_while_no_other_starts_or_stops(tmp_path):
    """milvus-lite's helpers make and remove one shared folder; starting beside a stop failed."""
    import fcntl
    import threading

    from clipvec.store import ImageStore, lite_registry

    held, order = threading.Event(), []

    def other_process_changing_helpers() -> None:
        with open(lite_registry.HELPERS_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            held.set()
            threading.Event().wait(0.5)
            order.append("other helper done")

    lite_registry.HELPERS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    thread = threading.Thread(target=other_process_changing_helpers)
    thread.start()
    held.wait(10)
    with ImageStore(str(tmp_path / "m.db"), model_name="m", dim=8):
        order.append("opened")
    thread.join()
    assert order == ["other helper done", "opened"]
