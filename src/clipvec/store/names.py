"""Adding one name to a stored content so that no acknowledged name is ever lost (issue 21).

A record lists every path its bytes were found under. ``POST /add_image`` adds a name by
reading the record, appending the name and upserting the whole record. Two clients adding
the same bytes under two names at once both read the same record, and the later upsert
replaced the earlier one's name: both were told ``created: true``, one name was gone.
Milvus has no conditional write, so the merge is made safe in two steps:

* within a process, one lock per content hash makes read-merge-write atomic;
* across processes (service workers or replicas sharing one Milvus server), each adder
  reads the record back (Strong) after its upsert and merges again while its name is
  missing, at most ``ATTEMPTS`` times; then ``StoreUnavailable``: never a success for a
  name that is not stored. An adder whose own write was replaced by another's learns that
  the other created the record, so ``created`` is true for one of them only.

A Strong read is answered at the server's next time tick, with what was written before it
was asked: a writer whose read was asked just before our upsert writes just after our
read-back returns (both wait for the same tick), and replaces our name. So on a server the
name is read once more ``SETTLE`` seconds after it was seen (a second tick later); only a
writer stalled longer than that between its read and its write can still replace it (two
processes racing on 2 overloaded cores did). Closing that needs a conditional write (Milvus
has none) or a lock the replicas share. Within one process no name is ever lost (the lock).

A record keeps at most ``PATHS_KEPT`` names; a name beyond them is reported as not listed
(``NameAdded.listed``), and the caller keeps the file reachable some other way.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from clipvec.errors import StoreUnavailable
from clipvec.store.reads import Reader
from clipvec.store.records import PATHS_KEPT, ImageRecord
from clipvec.store.writes import Writer

ATTEMPTS = 5
SETTLE = 0.25  # seconds between a server read-back and the second look (see above)


@dataclass(frozen=True)
class NameAdded:
    """What adding one name did: the record as read back, and the name's place in it."""

    record: ImageRecord
    created: bool  # this call stored the content's first record
    listed: bool  # the name is among ``record.paths`` (False: the record already had PATHS_KEPT)


class _HashLocks:
    """One lock per content hash, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, list[int]]] = {}

    @contextlib.contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._locks[key]


_LOCKS = _HashLocks()  # per process: every store object of this process shares it


def add_name(
    reader: Reader, writer: Writer, record: ImageRecord, name: str, *, settle: float = 0.0
) -> NameAdded:
    """Store ``record`` (its content, with ``name`` among its paths), keeping every stored name.

    ``record`` carries the content's facts and vector; its ``paths`` are ignored. The stored
    record keeps its paths (and its first path's mtime), ``name`` is appended when there is
    room. ``settle``: seconds to wait before reading a confirmed name once more (a server,
    where other processes write). ``StoreUnavailable`` when the name could not be made to stick.
    """
    key = record.content_hash
    with _LOCKS.held(key):
        created: bool | None = None
        for _ in range(ATTEMPTS):
            stored = reader.get([key], strong=True).get(key)
            if created is None:
                created = stored is None
            if stored is not None and name in stored.paths:
                return NameAdded(stored, created, True)
            if stored is not None and len(stored.paths) >= PATHS_KEPT:
                return NameAdded(stored, created, False)
            if stored is None:
                merged = replace(record, paths=[name])
            else:
                merged = replace(record, paths=[*stored.paths, name], mtime=stored.mtime)
            writer.upsert([merged])
            back = _confirmed(reader, key, name, settle)
            if back is not None:
                return NameAdded(back, created, True)
            created = False  # another process's write replaced ours: it made the record
    raise StoreUnavailable(
        f"the name {name!r} of content {key} did not stick after {ATTEMPTS} attempts "
        "(other writers kept replacing the record); nothing was acknowledged"
    )


def _confirmed(reader: Reader, key: str, name: str, settle: float) -> ImageRecord | None:
    """The record read back if it lists ``name`` (and still does ``settle`` seconds later)."""
    back = reader.get([key], strong=True).get(key)
    if back is None or name not in back.paths:
        return None
    if settle <= 0:
        return back
    time.sleep(settle)
    again = reader.get([key], strong=True).get(key)
    return again if again is not None and name in again.paths else None
