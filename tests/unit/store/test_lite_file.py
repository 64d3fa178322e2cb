"""The Lite file itself: our lock, the damage check at open, and the on-disk write check.

No milvus-lite process: a plain SQLite file laid out as milvus-lite 2.5.1 lays out a
collection (``"<collection>"(id INTEGER PRIMARY KEY, milvus_id, data)``). Real Lite files
held, damaged and filled are in tests/integration/store/test_data_safety.py.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from clipvec.errors import StoreDamaged, StoreLocked, StoreUnavailable
from clipvec.store.lite_file import (
    LiteLock,
    LiteWriteCheck,
    check_lite_file,
    free_bytes,
    lock_path,
    mount_of,
)


# ---------------------------------------------------------------------- the lock
def test_lock_file_sits_next_to_the_db():
    assert lock_path(Path("/data/milvus.db")) == Path("/data/.milvus.db.clipvec.lock")


def test_a_second_lock_is_refused_and_names_the_holder(tmp_path):
    db = tmp_path / "milvus.db"
    first = LiteLock(db)
    first.acquire()
    try:
        assert lock_path(db).read_text() == f"{os.getpid()}\n"
        t0 = time.monotonic()
        with pytest.raises(StoreLocked) as err:
            LiteLock(db).acquire(wait=0.5)
        assert time.monotonic() - t0 >= 0.4  # it waited as told
        assert f"in use by another process (pid {os.getpid()})" in err.value.detail
        assert "--wait" in err.value.detail and err.value.status == 503
    finally:
        first.release()
    assert not lock_path(db).exists()  # the holder removes it when it lets go
    again = LiteLock(db)
    again.acquire()
    again.release()
    again.release()  # twice is fine


# ---------------------------------------------------------------------- damage at open
def sqlite_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "images" (id INTEGER PRIMARY KEY, milvus_id TEXT, data BLOB)')
    conn.commit()
    conn.close()
    return path


def test_a_new_or_sound_file_passes(tmp_path):
    check_lite_file(tmp_path / "new.db")  # milvus-lite creates it
    check_lite_file(sqlite_db(tmp_path / "sound.db"))


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "it is empty (0 bytes)"),
        (b"PK\x03\x04 a zip, not a database", "it does not start with a SQLite header"),
    ],
)
def test_damaged_files_are_refused(tmp_path, content, why):
    db = tmp_path / "milvus.db"
    db.write_bytes(content)
    with pytest.raises(StoreDamaged) as err:
        check_lite_file(db)
    assert why in err.value.detail and "Restore a copy" in err.value.detail
    assert db.read_bytes() == content


def test_a_folder_is_not_a_db(tmp_path):
    (tmp_path / "milvus.db").mkdir()
    with pytest.raises(StoreDamaged, match="it is not a regular file"):
        check_lite_file(tmp_path / "milvus.db")


def test_a_corrupt_sqlite_file_is_refused(tmp_path):
    db = sqlite_db(tmp_path / "milvus.db")
    conn = sqlite3.connect(db)
    conn.executemany(
        'INSERT INTO "images" (milvus_id, data) VALUES (?, ?)', [(f"k{i}", b"x" * 900) for i in range(200)]
    )
    conn.commit()
    conn.close()
    size = db.stat().st_size
    with open(db, "r+b") as f:  # overwrite pages in the middle of the file
        f.seek(size // 2)
        f.write(bytes(range(256)) * 16)
    with pytest.raises(StoreDamaged, match="is damaged"):
        check_lite_file(db)


# ---------------------------------------------------------------------- the write check
def write(db: Path, key: str, data: bytes, *, replace: bool = True) -> None:
    """As milvus-lite upserts: the old row goes, a new one comes."""
    conn = sqlite3.connect(db)
    if replace:
        conn.execute('DELETE FROM "images" WHERE milvus_id = ?', (key,))
    conn.execute('INSERT INTO "images" (milvus_id, data) VALUES (?, ?)', (key, data))
    conn.commit()
    conn.close()


def test_write_check_sees_new_and_changed_rows_only(tmp_path):
    db = sqlite_db(tmp_path / "milvus.db")
    write(db, "old", b"paths: a.png")
    check = LiteWriteCheck(db, "images")
    try:
        before = check.rows(["old", "new", "gone"])
        assert set(before) == {"old"}
        write(db, "old", b"paths: a.png b.png")
        write(db, "new", b"paths: n.png")
        written = [("old", ["a.png", "b.png"]), ("new", ["n.png"]), ("gone", ["g.png"])]
        assert check.missing(written, before) == ["gone"]  # never reached the file
        # a row left exactly as it was is fine only if it already holds what was written
        same = check.rows(["new"])
        assert check.missing([("new", ["n.png"])], same) == []
        assert check.missing([("new", ["other.png"])], same) == ["new"]
    finally:
        check.close()
    check.close()  # twice is fine


def test_write_check_reads_many_keys(tmp_path):
    db = sqlite_db(tmp_path / "milvus.db")
    conn = sqlite3.connect(db)
    conn.executemany(
        'INSERT INTO "images" (milvus_id, data) VALUES (?, ?)', [(f"k{i}", b"d") for i in range(1200)]
    )
    conn.commit()
    conn.close()
    check = LiteWriteCheck(db, "images")
    try:
        assert len(check.rows([f"k{i}" for i in range(1300)])) == 1200  # more than one IN (...) chunk
    finally:
        check.close()


def test_an_unreadable_layout_is_unavailable_and_says_how_to_turn_the_check_off(tmp_path):
    db = sqlite_db(tmp_path / "milvus.db")
    check = LiteWriteCheck(db, 'no "such" table')
    try:
        with pytest.raises(StoreUnavailable) as err:
            check.rows(["k"])
    finally:
        check.close()
    assert "cannot check the write in the Milvus Lite file" in err.value.detail
    assert "CLIPVEC_VERIFY_WRITES=false" in err.value.detail


def test_disk_helpers(tmp_path):
    assert os.path.ismount(mount_of(tmp_path))
    assert free_bytes(tmp_path) > 0
    assert free_bytes(tmp_path / "no" / "such" / "folder") == -1
