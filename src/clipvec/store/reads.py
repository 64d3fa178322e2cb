"""Reading records back: count, by key, by path, and all of them a page at a time."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

from clipvec.store.connection import Connection
from clipvec.store.consistency import ReadConsistency
from clipvec.store.filters import (
    LITE_PAGE,
    chunks,
    has_control,
    in_chunk_size,
    in_filter,
    literal,
    prefix_filter,
)
from clipvec.store.records import MAX_TOP_K, ImageRecord, from_row, output_fields
from clipvec.store.schema import SCHEMA_VERSION

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

VECTOR_PAGE = 2000  # rows per page when vectors come too (4 MB at 512-d)
# ``get_by_path``'s hint: a lowercase hex start of a content hash (sha256), and how many
# records under it are compared (a 16-digit prefix names one record in practice).
HASH_PREFIX = re.compile(r"[0-9a-f]{8,128}")
HASH_PREFIX_CANDIDATES = 16


class Reader:
    """Queries on one collection, each at the consistency level the policy asks for."""

    def __init__(
        self, conn: Connection, consistency: ReadConsistency, *, version: int = SCHEMA_VERSION
    ) -> None:
        self._conn = conn
        self._consistency = consistency
        self._fields = output_fields(version)  # a version-1 collection has no metadata columns
        self._in_chunk = in_chunk_size(conn.is_lite)

    def count(self, expr: str = 'content_hash != ""') -> int:
        """Number of stored records (those matching ``expr``, when given).

        ``count(*)`` with an always-true filter: a 2.3 server answers an *unfiltered*
        ``count(*)`` from segment statistics that miss a delete made a moment ago (Session
        consistency), while the filtered form counts rows; ``Strong`` would also work but
        waits ~0.2-0.6 s for the server's time tick.
        """
        conn = self._conn
        rows = conn.call(
            conn.client.query,
            conn.collection,
            filter=expr,
            output_fields=["count(*)"],
            **self._consistency.read_options(),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def get(
        self, hashes: Sequence[str], *, with_vectors: bool = False, strong: bool = False
    ) -> dict[str, ImageRecord]:
        """The stored records among ``hashes`` (missing ones are simply absent).

        ``strong``: also see what other clients (replicas) wrote a moment ago (a server read
        then waits for its time tick, ~0.2-0.5 s; Lite has one client, so it changes nothing).
        """
        conn = self._conn
        wanted = list(dict.fromkeys(hashes))
        fields = self._fields + (["vector"] if with_vectors else [])
        found: dict[str, ImageRecord] = {}
        for chunk in chunks(wanted, self._in_chunk):
            rows = conn.call(
                conn.client.query,
                conn.collection,
                filter=in_filter(chunk),
                output_fields=fields,
                **self._options(strong),
            )
            for row in rows:
                record = from_row(row, with_vectors)
                found[record.content_hash] = record
        return found

    def _options(self, strong: bool) -> dict[str, Any]:
        options = self._consistency.read_options()
        if strong and not self._conn.is_lite:
            options["consistency_level"] = "Strong"
        return options

    def get_by_path(self, path: str, *, hash_prefix: str | None = None) -> ImageRecord | None:
        """The record that lists ``path`` among its paths (exact match), if any.

        A path with a control character (a file named with a newline or a tab) cannot be
        written in a portable filter: it is found through ``hash_prefix``, the start of its
        record's content hash that a search hit gave the caller (the page's ``v=``). The few
        records under that prefix are read and their paths compared here, exactly.
        """
        if not path or "\x00" in path:
            return None
        if hash_prefix is not None and HASH_PREFIX.fullmatch(hash_prefix):
            found = self._by_hash_prefix(path, hash_prefix)
            if found is not None:
                return found
        if has_control(path):
            return None
        conn = self._conn
        rows = conn.call(
            conn.client.query,
            conn.collection,
            filter=f"array_contains(paths, {literal(path)})",
            output_fields=self._fields,
            limit=1,
            **self._consistency.read_options(),
        )
        return from_row(rows[0], False) if rows else None

    def _by_hash_prefix(self, path: str, hash_prefix: str) -> ImageRecord | None:
        conn = self._conn
        rows = conn.call(
            conn.client.query,
            conn.collection,
            filter=prefix_filter("content_hash", hash_prefix),
            output_fields=self._fields,
            limit=HASH_PREFIX_CANDIDATES,
            **self._consistency.read_options(),
        )
        records = (from_row(row, False) for row in rows)
        return next((r for r in records if path in r.paths), None)

    def iter_records(self, *, with_vectors: bool = False, batch: int | None = None) -> Iterator[ImageRecord]:
        """Every stored record, a page at a time (a query iterator, so it scales to 100k+).

        The ``paths`` ARRAY is read only for records that have a second path
        (``paths[1] != ""``: copies of one image, few), the others take their one path from
        the ``path`` field. Milvus Lite reads an ARRAY in time that grows with the square of
        the page (5,000 rows with ``paths``: 8.9 s, without: 0.05 s), so that read uses small
        pages and the rest full ones: 100k records in about 1 s instead of 15 s. ``batch``
        caps the rows per page (tests use it to cross page boundaries).
        """
        cap = MAX_TOP_K if batch is None else max(1, min(int(batch), MAX_TOP_K))
        if self._consistency.stale:
            self.count()  # a Strong read first, so the pages cannot show deleted or miss replayed rows
        fields = [f for f in self._fields if f != "paths"] + (["vector"] if with_vectors else [])
        # Both iterators are made before either is read: a 2.3 server makes the first page of
        # an iterator wait (~1.3 s) until it has caught up with the moment the iterator was
        # made, and made together they wait once, not twice.
        everything = self._iterator(fields, "", min(cap, VECTOR_PAGE) if with_vectors else cap)
        try:
            with_copies = self._iterator(
                ["content_hash", "paths"],
                'paths[1] != ""',
                min(cap, LITE_PAGE) if self._conn.is_lite else cap,
            )
            more_paths = {str(row["content_hash"]): row.get("paths") for row in self._drain(with_copies)}
        except BaseException:
            with contextlib.suppress(Exception):  # the first iterator is not read: release it
                everything.close()
            raise
        for row in self._drain(everything):
            paths = more_paths.get(str(row["content_hash"]))
            yield from_row({**row, "paths": paths} if paths else row, with_vectors)

    def scan(self, fields: list[str], *, page: int = MAX_TOP_K) -> Iterator[dict[str, Any]]:
        """Every row's ``fields`` (scalar ones: never ``paths``, see ``iter_records``), a page at a time."""
        if self._consistency.stale:
            self.count()  # a Strong read first, as in iter_records
        return self._drain(self._iterator(fields, "", page))

    def _iterator(self, fields: list[str], expr: str, page: int) -> Any:
        """A query iterator over the rows matching ``expr`` (all rows for ""), ``page`` at a time."""
        conn = self._conn
        return conn.call(
            conn.client.query_iterator, conn.collection, batch_size=page, filter=expr, output_fields=fields
        )

    def _drain(self, iterator: Any) -> Iterator[dict[str, Any]]:
        """Every row of ``iterator``, which is closed afterwards (also when the reader stops early)."""
        try:
            while True:
                rows = self._conn.call(iterator.next, with_timeout=False)
                if not rows:
                    break
                yield from rows
        finally:
            try:
                iterator.close()
            except Exception as exc:  # noqa: BLE001
                log.debug("closing the query iterator failed: %s", exc)
