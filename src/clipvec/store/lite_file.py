"""The Milvus Lite file itself: one process at a time, damage found at open, writes checked on disk.

milvus-lite 2.5.1 keeps each collection in a SQLite table (``"<collection>"(id INTEGER
PRIMARY KEY, milvus_id, data)``; an upsert deletes the old row and inserts a new one) and
serves reads from memory. Three of its habits lose or mix data, so clipvec guards them here:

* its ``Server.stop()`` unlinks its lock file even in a process that never got the lock, so
  after one refused open the next opener gets in beside the holder. ``LiteLock`` is our own
  ``flock`` on ``.<name>.clipvec.lock``, taken before milvus-lite starts; its holder removes
  it on release, and an opener that locked a file removed meanwhile tries again.
* a damaged or empty file opens as an empty collection. ``check_lite_file`` runs SQLite's
  ``PRAGMA quick_check`` first (about 1 s per GB) and refuses a 0-byte file.
* on a full disk an insert fails inside milvus-lite ("database or disk is full") but the
  client hears success and later reads are served from memory. ``LiteWriteCheck`` reads the
  file with its own read-only SQLite connection after each write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from clipvec.errors import StorageFull, StoreDamaged, StoreLocked, StoreUnavailable

SQLITE_MAGIC = b"SQLite format 3\x00"
LOW_SPACE_BYTES = 8 << 20  # below this much free space a failed Lite write is called "disk full"
_SQL_IN_CHUNK = 500  # keys per "IN (...)" (SQLite's variable limit is 32766 since 3.32)


def lock_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.clipvec.lock")


class LiteLock:
    """An exclusive ``flock`` on a sidecar file next to the db, held while the file is open."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait`` seconds; ``StoreLocked`` if another process keeps it."""
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise StorageFull(
                        f"no space left on {mount_of(self.path.parent)} (Milvus Lite file {self.db})"
                    ) from exc
                raise StoreUnavailable(f"cannot create the lock file {self.path}: {exc.strerror}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"the Milvus Lite file {self.db} is in use by another process{holder}; "
                        "a Lite file can be open in one process only. If it is the clipvec service, "
                        "let it do the work: it imports its images folder itself (POST /import, or the "
                        "page's Import button) and searches (POST /search_text, or the page). Otherwise "
                        "stop that process, wait for it (clipvec import --wait SECONDS), or use a "
                        "Milvus server URI for several processes."
                    ) from None
                time.sleep(0.2)
                continue
            # The previous holder removes the file when it lets go: a lock on a removed file
            # protects nothing, so check that the file we locked is still the one at the path.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                with contextlib.suppress(OSError):  # who holds it is a hint; a full disk may refuse it
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # while still holding it: see acquire()
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def _damaged(db: Path, why: str) -> StoreDamaged:
    return StoreDamaged(
        f"the Milvus Lite file {db} is damaged ({why}). Nothing was changed. Restore a copy of it, "
        "or import again into a new file (another CLIPVEC_MILVUS_URI) and keep this one for rescue."
    )


def check_lite_file(db: Path) -> None:
    """Refuse a db file that exists but is empty, is not SQLite, or fails ``quick_check``."""
    try:
        st = db.stat()
    except FileNotFoundError:
        return  # a new file: milvus-lite creates it
    except OSError as exc:
        raise _damaged(db, f"cannot stat it: {exc.strerror}") from exc
    if not db.is_file():
        raise _damaged(db, "it is not a regular file")
    if st.st_size == 0:
        raise _damaged(
            db,
            "it is empty (0 bytes), so it is not silently made into a new database; "
            "delete it yourself if a new one is what you want",
        )
    try:
        with open(db, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise _damaged(db, f"cannot read it: {exc.strerror}") from exc
    if head != SQLITE_MAGIC:
        raise _damaged(db, "it does not start with a SQLite header")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise _damaged(db, f"SQLite: {exc}") from exc
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        raise _damaged(db, "SQLite quick_check: " + "; ".join(problems[:3]))


def mount_of(path: Path) -> Path:
    path = path.absolute()
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return -1


class LiteWriteCheck:
    """Reads the Lite file directly to confirm that a write reached the disk."""

    def __init__(self, db: Path, table: str) -> None:
        self.db = db
        self.table = '"' + table.replace('"', '""') + '"'
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.db}?mode=ro", uri=True, timeout=30, check_same_thread=False
            )
            self._conn.text_factory = bytes  # Lite's row data is binary in a TEXT-typed column
        return self._conn

    def rows(self, keys: Sequence[str]) -> dict[str, tuple[int, bytes]]:
        """``key -> (row id, data)`` for the ``keys`` that have a row in the file now."""
        found: dict[str, tuple[int, bytes]] = {}
        with self._lock:
            try:
                conn = self._connection()
                for start in range(0, len(keys), _SQL_IN_CHUNK):
                    chunk = list(keys[start : start + _SQL_IN_CHUNK])
                    marks = ",".join("?" * len(chunk))
                    for key, row_id, data in conn.execute(
                        f"SELECT milvus_id, id, data FROM {self.table} WHERE milvus_id IN ({marks})", chunk
                    ):
                        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                        found[name] = (int(row_id), bytes(data or b""))
            except sqlite3.Error as exc:  # busy for 30 s, or a milvus-lite with another file layout
                raise StoreUnavailable(
                    f"cannot check the write in the Milvus Lite file {self.db}: {exc} "
                    "(CLIPVEC_VERIFY_WRITES=false turns the check off)"
                ) from exc
        return found

    def missing(
        self, written: Sequence[tuple[str, Sequence[str]]], before: dict[str, tuple[int, bytes]]
    ) -> list[str]:
        """The keys of ``written`` ((key, paths) pairs) whose new row is not in the file.

        An upsert replaces the row (a new row id, or the same one when it was the last row),
        so a key is stored if its row is new or changed. A row left exactly as it was is
        fine only if it already holds what was written (all its paths; the bytes of a
        Milvus row are not ours to decode further).
        """
        after = self.rows([key for key, _ in written])
        lost = []
        for key, paths in written:
            now = after.get(key)
            if now is None or before.get(key) == now and not all(p.encode() in now[1] for p in paths):
                lost.append(key)
        return lost

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
