"""The plan's view of the collection on disk, so an import's memory does not grow with the collection.

A plan compares every listed file with every stored record: by path (is this file stored,
unchanged?) and by content hash (is this content stored already: a rename or a copy?). Held
as Python dicts that is ~1 KB per record, several GB at 10 million images. Here the records
go, ``chunk`` at a time, into a SQLite file in a temporary folder (``TMPDIR``; about 0.5 KB
per record on disk, removed when the plan is closed or dropped), and the plan's questions
are SQL: one ordered join for the listing, point lookups for the merge.

SQLite rather than a sort-merge of sorted listings: the merge asks questions in the
stage's order (by path, then by hash, with writes in between), which a single sorted pass
cannot answer; an index answers them exactly, with the dict's semantics (the last record
iterated that lists a path owns it). Paths are stored as their UTF-8 bytes
(``surrogatepass``), so any text, escaped or not, compares by exact bytes.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import pickle
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import astuple
from itertools import islice
from typing import NamedTuple

from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta
from clipvec.sources import FoundFile
from clipvec.store import ImageRecord

CHUNK = 10_000  # records (or listed files) held in Python at once while the index is built
CACHE_KIB = 32 * 1024  # SQLite's page cache: the bound on what the index keeps in memory

_SCHEMA = """
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA temp_store = FILE;
CREATE TABLE records (hash TEXT PRIMARY KEY, size INTEGER, mtime REAL, primary_path BLOB,
                      npaths INTEGER, body BLOB) WITHOUT ROWID;
CREATE TABLE by_path (path BLOB PRIMARY KEY, hash TEXT) WITHOUT ROWID;
CREATE TABLE rec_paths (hash TEXT, path BLOB);
CREATE TABLE found (seq INTEGER PRIMARY KEY, path BLOB);
"""
_INDEXES = """
CREATE INDEX rec_paths_hash ON rec_paths (hash);
CREATE INDEX found_path ON found (path);
"""


def _key(path: str) -> bytes:
    return path.encode("utf-8", "surrogatepass")


def _text(key: bytes) -> str:
    return key.decode("utf-8", "surrogatepass")


def _pack(record: ImageRecord) -> bytes:
    """A record as bytes: marshal for the plain fields (fast), pickle for what marshal cannot hold."""
    meta = None if record.meta == UNKNOWN_META else record.meta
    vector = None if record.vector is None else pickle.dumps(record.vector, 5)
    try:
        fields = (
            list(record.paths),
            record.size,
            record.mtime,
            record.width,
            record.height,
            record.format,
            astuple(meta) if type(meta) is PhotoMeta else None,
            vector,
        )
        if meta is not None and fields[6] is None:
            raise ValueError("meta of another type")
        return b"m" + marshal.dumps(fields)
    except ValueError:
        return b"p" + pickle.dumps(record, 5)


def _unpack(content_hash: str, body: bytes) -> ImageRecord:
    if body[:1] == b"p":
        return pickle.loads(body[1:])  # noqa: S301 - our own bytes, in our own temporary file
    paths, size, mtime, width, height, fmt, meta, vector = marshal.loads(body[1:])
    return ImageRecord(
        content_hash,
        paths,
        size,
        mtime,
        width,
        height,
        fmt,
        None if vector is None else pickle.loads(vector),  # noqa: S301 - as above
        UNKNOWN_META if meta is None else PhotoMeta(*meta),
    )


class Match(NamedTuple):
    """What the collection holds at one listed path (all None: nothing)."""

    content_hash: str | None
    size: int | None
    mtime: float | None
    is_primary: bool | None  # the path is the record's first (the one whose mtime is stored)


class PlanIndex:
    """Stored records and listed paths of one plan, in a SQLite file; thread-safe (one lock)."""

    def __init__(self, *, chunk: int = CHUNK, folder: str | None = None) -> None:
        self.chunk = max(1, chunk)
        fd, self.file = tempfile.mkstemp(prefix="clipvec-plan-", suffix=".sqlite", dir=folder)
        os.close(fd)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.file, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA + f"PRAGMA cache_size = -{CACHE_KIB};")
        with contextlib.suppress(OSError):  # POSIX: the file lives while it is open, gone after
            os.unlink(self.file)
        self._found = 0

    # ------------------------------------------------------------------ building
    def add_records(self, records: Iterable[ImageRecord]) -> int:
        """Every record of ``records`` (an iterator: read ``chunk`` at a time); returns how many."""
        it, n = iter(records), 0
        while batch := list(islice(it, self.chunk)):
            rows = [_row(record) for record in batch]
            paths = [(r.content_hash, _key(p)) for r in batch for p in r.paths]
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)", rows)
                self._db.executemany("INSERT INTO rec_paths VALUES (?, ?)", paths)
                # in order: a later record listing a path takes it (a dict's semantics)
                self._db.executemany(
                    "INSERT OR REPLACE INTO by_path VALUES (?, ?)", ((p, h) for h, p in paths)
                )
                self._db.execute("COMMIT")
            del rows, paths
            n += len(batch)
            del batch
        return n

    def add_found(self, found: Iterable[FoundFile]) -> None:
        """The listed files' paths, in listing order (``matches`` answers in the same order)."""
        it = iter(found)
        while batch := list(islice(it, self.chunk)):
            with self._lock:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO found VALUES (?, ?)",
                    ((self._found + i, _key(f.rel_path)) for i, f in enumerate(batch)),
                )
                self._db.execute("COMMIT")
            self._found += len(batch)

    def finish(self) -> None:
        """Index what was loaded (faster after a bulk load than during it)."""
        with self._lock:
            self._db.executescript(_INDEXES)

    # ------------------------------------------------------------------ the plan's question
    def matches(self) -> Iterator[Match]:
        """For each listed path, in listing order, the record stored at it (read ``chunk`` rows at a time)."""
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT f.seq, r.hash, r.size, r.mtime, r.primary_path = f.path FROM found f"
                    " LEFT JOIN by_path b ON b.path = f.path LEFT JOIN records r ON r.hash = b.hash"
                    " WHERE f.seq > ? ORDER BY f.seq LIMIT ?",
                    (last, self.chunk),
                ).fetchall()
            if not rows:
                return
            for _seq, content_hash, size, mtime, primary in rows:
                yield Match(content_hash, size, mtime, None if primary is None else bool(primary))
            last = rows[-1][0]

    def path_count(self, content_hash: str) -> int | None:
        """How many paths the record of ``content_hash`` lists (None: no such record)."""
        with self._lock:
            row = self._db.execute("SELECT npaths FROM records WHERE hash = ?", (content_hash,)).fetchone()
        return None if row is None else int(row[0])

    # ------------------------------------------------------------------ the merge's questions
    def record(self, content_hash: str) -> ImageRecord | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM records WHERE hash = ?", (content_hash,)).fetchone()
        return None if row is None else _unpack(content_hash, row[0])

    def put(self, record: ImageRecord) -> None:
        with self._lock:
            self._db.execute("DELETE FROM rec_paths WHERE hash = ?", (record.content_hash,))
            self._put(record)

    def drop(self, content_hash: str) -> bool:
        with self._lock:
            self._db.execute("DELETE FROM rec_paths WHERE hash = ?", (content_hash,))
            return self._db.execute("DELETE FROM records WHERE hash = ?", (content_hash,)).rowcount > 0

    def hash_at(self, path: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT hash FROM by_path WHERE path = ?", (_key(path),)).fetchone()
        return None if row is None else str(row[0])

    def set_path(self, path: str, content_hash: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO by_path VALUES (?, ?)", (_key(path), content_hash))

    def drop_path(self, path: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM by_path WHERE path = ?", (_key(path),)).rowcount > 0

    def listed(self, path: str) -> bool:
        """Whether the listing holds ``path``."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM found WHERE path = ? LIMIT 1", (_key(path),)).fetchone()
        return row is not None

    def unlisted_paths(self) -> Iterator[str]:
        """Each path of each record that the listing does not hold (once per record listing it)."""
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT rowid, path FROM rec_paths WHERE rowid > ? AND NOT EXISTS"
                    " (SELECT 1 FROM found f WHERE f.path = rec_paths.path) ORDER BY rowid LIMIT ?",
                    (last, self.chunk),
                ).fetchall()
            if not rows:
                return
            yield from (_text(path) for _, path in rows)
            last = rows[-1][0]

    def hashes(self) -> Iterator[str]:
        """Every stored content hash, in order, ``chunk`` at a time (the merge may write meanwhile)."""
        last = ""
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT hash FROM records WHERE hash > ? ORDER BY hash LIMIT ?", (last, self.chunk)
                ).fetchall()
            if not rows:
                return
            yield from (str(h) for (h,) in rows)
            last = rows[-1][0]

    def has(self, content_hash: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM records WHERE hash = ?", (content_hash,)).fetchone()
        return row is not None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with contextlib.suppress(OSError):
            os.unlink(self.file)  # where an open file could not be unlinked (not POSIX)

    def _put(self, record: ImageRecord) -> None:
        """Write ``record`` (caller holds the lock; its old ``rec_paths`` rows are gone)."""
        self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)", _row(record))
        self._db.executemany(
            "INSERT INTO rec_paths VALUES (?, ?)", ((record.content_hash, _key(p)) for p in record.paths)
        )


def _row(record: ImageRecord) -> tuple[str, int, float, bytes | None, int, bytes]:
    paths = record.paths
    primary = _key(paths[0]) if paths else None
    return (record.content_hash, record.size, record.mtime, primary, len(paths), _pack(record))


# ---------------------------------------------------------------------- dict-like views (the merge's)
class RecordsByHash(MutableMapping[str, ImageRecord]):
    """``content hash -> record`` over an index; iterating is in hash order and streams."""

    def __init__(self, index: PlanIndex) -> None:
        self.index = index

    def __getitem__(self, content_hash: str) -> ImageRecord:
        record = self.index.record(content_hash)
        if record is None:
            raise KeyError(content_hash)
        return record

    def __setitem__(self, content_hash: str, record: ImageRecord) -> None:
        assert record.content_hash == content_hash
        self.index.put(record)

    def __delitem__(self, content_hash: str) -> None:
        if not self.index.drop(content_hash):
            raise KeyError(content_hash)

    def __contains__(self, content_hash: object) -> bool:
        return isinstance(content_hash, str) and self.index.has(content_hash)

    def __iter__(self) -> Iterator[str]:
        return self.index.hashes()

    def __len__(self) -> int:
        return self.index.count()

    def keys(self) -> RecordsByHash:  # type: ignore[override]
        """A live view (the stage asks it while the merge adds contents), as a dict's keys are."""
        return self


class RecordsByPath(MutableMapping[str, ImageRecord]):
    """``path -> record`` over an index: the record of the hash last set for the path."""

    def __init__(self, index: PlanIndex) -> None:
        self.index = index

    def __getitem__(self, path: str) -> ImageRecord:
        content_hash = self.index.hash_at(path)
        record = None if content_hash is None else self.index.record(content_hash)
        if record is None:
            raise KeyError(path)
        return record

    def __setitem__(self, path: str, record: ImageRecord) -> None:
        self.index.set_path(path, record.content_hash)

    def __delitem__(self, path: str) -> None:
        if not self.index.drop_path(path):
            raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("the paths of a plan on disk are not iterated")

    def __len__(self) -> int:
        raise TypeError("the paths of a plan on disk are not counted")


class Listed:
    """``path in listed``: whether the listing holds a path (the merge's and the prune's ``seen``)."""

    def __init__(self, index: PlanIndex) -> None:
        self.index = index

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.index.listed(path)
