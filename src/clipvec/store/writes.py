"""Writes that are confirmed before they count, and deletes.

* duplicate primary keys inside one upsert request are stored twice by both backends, so
  ``upsert`` deduplicates (last record wins) before sending;
* requests are small (<= 512 rows, ~1 MiB): Lite slows down sharply above ~4 MB per request
  (8k rows of 512-d took 71 s instead of ~1 s) and both backends are fastest around 500 rows;
* every write is read back (Lite: from the file on disk, since Lite's own reads come from
  memory; server: by key); a write that did not stick is ``StorageFull`` or
  ``StoreUnavailable``, never a success.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from clipvec.errors import ClipvecError, StorageFull, StoreUnavailable
from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.filters import chunks, in_chunk_size, in_filter
from clipvec.store.lite_file import LOW_SPACE_BYTES, LiteWriteCheck, free_bytes, mount_of
from clipvec.store.records import ImageRecord, row_bytes, to_row
from clipvec.store.schema import SCHEMA_VERSION

BATCH_ROWS = 512
BATCH_BYTES = 1 << 20


class Writer:
    """Upserts and deletes on one collection, each request confirmed (``verify``) before it counts."""

    def __init__(
        self,
        conn: Connection,
        consistency: ReadConsistency,
        *,
        dim: int,
        model_name: str,
        verify: bool,
        version: int = SCHEMA_VERSION,
    ) -> None:
        self._conn = conn
        self._consistency = consistency
        self._dim = dim
        self._model_name = model_name
        # The collection's schema version: set when it is opened (a version-1 row has no metadata).
        self.version = version
        self._in_chunk = in_chunk_size(conn.is_lite)
        # Every write is read back (Lite: from the file on disk; server: by key), see upsert().
        self.verify = verify
        self._write_check: LiteWriteCheck | None = None
        self._check_pool: ThreadPoolExecutor | None = None
        self._checks: list[Future[list[str]]] = []
        self._lock = threading.Lock()
        # Set when a write was lost: Lite's memory then disagrees with its file, so the
        # owner (the service) must reopen the store instead of reading phantom rows.
        self.failed = False

    def upsert(self, records: Sequence[ImageRecord], *, defer_check: bool = False) -> None:
        """Insert or replace records (by content_hash), in requests of <= 512 rows / ~1 MiB.

        Each request is read back before this returns, except with ``defer_check`` on a
        server: then the check runs in the background and ``confirm()`` (or the next
        upsert) raises if it failed.
        """
        self.confirm()
        rows_by_pk: dict[str, dict[str, Any]] = {}
        for record in records:
            row = to_row(record, dim=self._dim, model_name=self._model_name, version=self.version)
            rows_by_pk.pop(row["content_hash"], None)  # last one wins, and keeps its place
            rows_by_pk[row["content_hash"]] = row
        batch: list[dict[str, Any]] = []
        size = 0
        for row in rows_by_pk.values():
            row_size = row_bytes(row, self._dim)
            if batch and (len(batch) >= BATCH_ROWS or size + row_size > BATCH_BYTES):
                self._write(batch, size, defer_check)
                batch, size = [], 0
            batch.append(row)
            size += row_size
        if batch:
            self._write(batch, size, defer_check)

    def _write(self, batch: list[dict[str, Any]], size: int, defer: bool = False) -> None:
        """One upsert request, confirmed: ``StorageFull`` / ``StoreUnavailable`` if it did not stick.

        Lite: its file is read with a separate read-only SQLite connection (each upserted key
        must have a new or changed row), because Lite's own reads come from
        memory and show rows whose disk write failed. Server: the keys are queried back.
        """
        conn = self._conn
        keys = [row["content_hash"] for row in batch]
        with self._lock:  # no file read while our own write is in flight
            before: dict[str, tuple[int, bytes]] = {}
            if conn.is_lite:
                self.check_space(size)
                if self.verify:
                    before = self._lite_check().rows(keys)
            try:
                conn.call(conn.client.upsert, conn.collection, batch)
            except StoreUnavailable:
                raise
            except ClipvecError:
                raise
            except Exception as exc:
                self.write_lost(len(keys), str(exc))
                raise
            if not self.verify:
                return
            if conn.is_lite:
                missing = self._lite_check().missing([(r["content_hash"], r["paths"]) for r in batch], before)
            elif defer:
                # A server read right after a write waits for its time tick (~0.2-0.5 s): an
                # import lets that wait overlap its encoding and checks before its next write.
                if self._check_pool is None:
                    self._check_pool = ThreadPoolExecutor(1, thread_name_prefix="clipvec-verify")
                self._checks.append(self._check_pool.submit(self._server_missing, keys))
                return
            else:
                missing = self._server_missing(keys)
            if missing:
                self.write_lost(len(missing), f"{len(missing)} of {len(keys)} rows are not in the collection")

    def _server_missing(self, keys: list[str]) -> list[str]:
        conn = self._conn
        rows = conn.call(
            conn.client.query, conn.collection, filter=in_filter(keys), output_fields=["content_hash"]
        )
        present = {str(r["content_hash"]) for r in rows}
        return [k for k in keys if k not in present]

    def confirm(self) -> None:
        """Wait for the checks of deferred writes (``upsert(defer_check=True)``); raise if one was lost."""
        checks, self._checks = self._checks, []
        lost = sum(len(check.result()) for check in checks)  # StoreUnavailable propagates
        if lost:
            self.write_lost(lost, f"{lost} rows written earlier are not in the collection")

    def _lite_check(self) -> LiteWriteCheck:
        if self._write_check is None:
            assert self._conn.lite_path is not None
            self._write_check = LiteWriteCheck(Path(self._conn.lite_path), self._conn.collection)
        return self._write_check

    def check_space(self, size: int) -> None:
        """Refuse a Lite write up front when its disk cannot hold it (Lite would lose it quietly)."""
        assert self._conn.lite_path is not None
        db = Path(self._conn.lite_path)
        free = free_bytes(db.parent)
        if 0 <= free < size + (256 << 10):  # the row data plus SQLite's journal pages, roughly
            raise StorageFull(
                f"no space left on {mount_of(db.parent)} (Milvus Lite file {db}): {free} bytes free; "
                "nothing of this write was stored. Free some space and run again."
            )

    def write_lost(self, count: int, why: str) -> NoReturn:
        """A write that did not stick: say why, as precisely as we can tell."""
        self.failed = True
        if self._conn.is_lite:
            assert self._conn.lite_path is not None
            db = Path(self._conn.lite_path)
            free = free_bytes(db.parent)
            if "full" in why.lower() or 0 <= free < LOW_SPACE_BYTES:
                raise StorageFull(
                    f"no space left on {mount_of(db.parent)} (Milvus Lite file {db}, {free} bytes free): "
                    f"{count} records were not stored. Free some space and run again."
                )
            raise StoreUnavailable(f"Milvus Lite did not store {count} records in {db}: {why}")
        if "full" in why.lower() or "no space" in why.lower():
            raise StorageFull(
                f"Milvus at {self._conn.uri} has no space left: {count} records were not stored ({why})"
            )
        raise StoreUnavailable(f"Milvus at {self._conn.uri} did not store {count} records: {why}")

    def delete(self, hashes: Sequence[str]) -> int:
        """Delete records by content_hash; returns how many existed (and are now gone)."""
        conn = self._conn
        wanted = list(dict.fromkeys(hashes))
        deleted = 0
        for chunk in chunks(wanted, self._in_chunk):
            rows = conn.call(
                conn.client.query,
                conn.collection,
                filter=in_filter(chunk),
                output_fields=["content_hash"],
                **self._consistency.read_options(),
            )
            existing = [str(r["content_hash"]) for r in rows]
            if existing:
                with self._lock:
                    conn.call(conn.client.delete, conn.collection, filter=in_filter(existing))
                self._consistency.strong_next_read()
                deleted += len(existing)
        return deleted

    def close(self) -> None:
        """Finish the deferred checks' thread and close the Lite file reader."""
        pool, self._check_pool = self._check_pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        check, self._write_check = self._write_check, None
        if check is not None:
            check.close()
