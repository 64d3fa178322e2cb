"""Records out to the store: batched upserts, stored vectors fetched once per batch, pruning."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container
from dataclasses import replace

from clipvec.indexing.report import ImportReport
from clipvec.store import ImageRecord, ImageStore

log = logging.getLogger(__name__)


class RecordWriter:
    """Collects records to upsert (by content hash) and writes them ``batch`` at a time.

    A record whose content is already stored (a rename, a copy, a path dropped) carries no
    vector: the stored vectors of a whole batch are fetched in one query when it is written.
    """

    def __init__(self, store: ImageStore, batch: int, report: ImportReport) -> None:
        self.store = store
        self.batch = batch
        self.report = report
        self.pending: dict[str, ImageRecord] = {}  # hash -> record to upsert (paths merged)

    def put(self, record: ImageRecord) -> None:
        self.pending[record.content_hash] = record
        if len(self.pending) >= self.batch:
            self.flush()

    def discard(self, content_hash: str) -> None:
        self.pending.pop(content_hash, None)

    def delete(self, content_hash: str) -> None:
        self.discard(content_hash)
        self.store.delete([content_hash])

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        records = list(self.pending.values())
        self._fill_vectors(records)
        self.store.upsert(records, defer_check=True)
        log.info("wrote %d records", len(records))
        self.pending.clear()
        self.report.seconds["write"] += time.perf_counter() - t0

    def finish(self) -> None:
        """Write what is left and wait for every write's check: nothing is reported that is not stored."""
        self.flush()
        self.store.confirm_writes()

    def prune(self, seen: Container[str], owns: Callable[[str], bool]) -> int:
        """Forget paths of this source that no longer exist; delete contents left with no path."""
        t0 = time.perf_counter()
        gone = 0
        doomed: list[str] = []
        updates: list[ImageRecord] = []
        for record in self.store.iter_records():
            alive = [p for p in record.paths if p in seen or not owns(p)]
            if len(alive) == len(record.paths):
                continue
            gone += len(record.paths) - len(alive)
            if alive:
                updates.append(replace(record, paths=alive))
            else:
                doomed.append(record.content_hash)
        if updates:
            self._fill_vectors(updates)
            self.store.upsert(updates)
        if doomed:
            self.store.delete(doomed)
        self.report.seconds["prune"] += time.perf_counter() - t0
        return gone

    def _fill_vectors(self, records: list[ImageRecord]) -> None:
        """The stored vector of every record that has none, in one query for all of them."""
        missing = [r.content_hash for r in records if r.vector is None]
        if not missing:
            return
        stored = self.store.get(missing, with_vectors=True)
        for record in records:
            if record.vector is None:
                vector = stored[record.content_hash].vector
                assert vector is not None
                record.vector = vector
