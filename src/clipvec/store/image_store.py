"""``ImageStore``: the one object callers hold for a collection; it composes the store's parts.

Opening it checks its arguments, connects (``connection``), opens or creates the
collection and checks that it fits this model (``schema``); its methods hand over to the
readers (``reads``, ``nearest``) and the writer (``writes``), which share one connection
and one read consistency policy (``consistency``). The package docstring lists the
portability rules they follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from clipvec.store.connection import LITE_OPEN_HINT, LOAD_TIMEOUT, Connection, new_lite_file
from clipvec.store.consistency import ReadConsistency
from clipvec.store.facets import Facets, Summary
from clipvec.store.meta_filter import MetaFilter
from clipvec.store.names import SETTLE, NameAdded, add_name
from clipvec.store.nearest import Nearest
from clipvec.store.reads import Reader
from clipvec.store.records import Hit, ImageRecord, has_meta, higher_is_better
from clipvec.store.roots import RootsRegistry
from clipvec.store.schema import (
    FAMILY_BEFORE_FAMILIES,
    MIGRATE_HINT,
    SCHEMA_VERSION,
    CollectionSpec,
    open_collection,
)
from clipvec.store.writes import Writer

if TYPE_CHECKING:
    from clipvec.settings import Settings


class ImageStore:
    """Image records and their vectors in one Milvus collection."""

    def __init__(
        self,
        uri: str,
        *,
        collection: str = "images",
        model_name: str,
        dim: int,
        metric: str = "COSINE",
        index_type: str = "auto",
        token: str = "",
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        lock_wait: float = 0.0,
        verify_writes: bool = True,
        reload_timeout: float = LOAD_TIMEOUT,
        model_id: str | None = None,
        recognises: Callable[[str], bool] | None = None,
        family: str = FAMILY_BEFORE_FAMILIES,
        create_missing: bool = True,
    ) -> None:
        # ValueError: nothing opened. model_id / recognises / family: see CollectionSpec.
        # create_missing=False: a reader's open; ``CollectionMissing`` rather than a new collection.
        spec = CollectionSpec.checked(collection, model_name, dim, metric, model_id, recognises, family)
        self.uri = uri
        self.collection = spec.collection
        self.model_name = spec.model_name
        self.model_id = spec.model_id
        self.family = spec.family
        self.dim = spec.dim
        self.metric = spec.metric
        self.higher_is_better = higher_is_better(spec.metric)
        self.lock_wait = lock_wait
        self._conn = Connection(uri, spec.collection, timeout=timeout, reload_timeout=reload_timeout)
        self.is_lite = self._conn.is_lite
        self._consistency = ReadConsistency(self._conn)
        self._writer = Writer(
            self._conn, self._consistency, dim=spec.dim, model_name=spec.model_name, verify=verify_writes
        )
        self._roots = RootsRegistry(self._conn, self._writer.write_lost)
        try:
            if self.is_lite:
                db = new_lite_file(uri)
                self._conn.open(token, connect_timeout, db=db, lock_wait=lock_wait, hint=LITE_OPEN_HINT)
            else:
                self._conn.open(token, connect_timeout)
            self.index_type, self.recorded_model_name, version = open_collection(
                self._conn, spec, index_type, create_missing=create_missing
            )
        except BaseException:
            self.close()
            raise
        # The collection's schema version (``SCHEMA_VERSION`` for a new one): a version-1
        # collection is read and searched without the metadata columns, and written without them.
        self.schema_version = version
        self._writer.version = version
        self._reader = Reader(self._conn, self._consistency, version=version)
        self._summary = Summary(self._reader.scan, self._reader.count, has_meta=has_meta(version))
        self._nearest = Nearest(
            self._conn,
            self._consistency,
            dim=spec.dim,
            metric=spec.metric,
            index_type=self.index_type,
            version=version,
            keys=self._summary.keys,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, model_name: str, dim: int, **options: Any) -> ImageStore:
        """The configured store; ``options`` (``lock_wait``, ``timeout``, ...) override settings."""
        kwargs: dict[str, Any] = {
            "collection": settings.collection,
            "model_name": model_name,
            "dim": dim,
            "metric": settings.metric,
            "index_type": settings.index_type,
            "token": settings.milvus_token,
            "verify_writes": settings.verify_writes,
        }
        kwargs.update(options)
        return cls(settings.milvus_uri, **kwargs)

    def __repr__(self) -> str:
        return (
            f"ImageStore(uri={self.uri!r}, collection={self.collection!r}, model={self.model_name!r}, "
            f"dim={self.dim}, metric={self.metric})"
        )

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- settings kept by the parts --------------------------------------------------
    @property
    def migrate_hint(self) -> str | None:
        """One line saying how to upgrade a collection of an older schema; None when it is current."""
        if self.schema_version >= SCHEMA_VERSION:
            return None
        return f"collection {self.collection!r} has schema version {self.schema_version}: {MIGRATE_HINT}"

    @property
    def timeout(self) -> float:
        """Seconds each Milvus call may take."""
        return self._conn.timeout

    @property
    def reload_timeout(self) -> float:
        """Seconds for loading a collection a restarted server forgot."""
        return self._conn.reload_timeout

    @property
    def verify_writes(self) -> bool:
        """Every write is read back (Lite: from the file on disk; server: by key)."""
        return self._writer.verify

    @property
    def write_failed(self) -> bool:
        """A write was lost: Lite's memory then disagrees with its file, so the owner (the
        service) must reopen the store instead of reading phantom rows."""
        return self._writer.failed

    @property
    def _client(self) -> Any:
        """The pymilvus client (benchmarks look inside; clipvec itself goes through the parts)."""
        return self._conn.client

    # ---- writes ----------------------------------------------------------------------
    def upsert(self, records: Sequence[ImageRecord], *, defer_check: bool = False) -> None:
        """Insert or replace records (by content_hash), in requests of <= 512 rows / ~1 MiB.

        Each request is read back before this returns, except with ``defer_check`` on a
        server: then the check runs in the background and ``confirm_writes()`` (or the next
        upsert) raises if it failed.
        """
        self._writer.upsert(records, defer_check=defer_check)
        self._summary.forget()

    def add_name(self, record: ImageRecord, name: str) -> NameAdded:
        """Store ``record``'s content with ``name`` among its paths, never dropping a stored name.

        Atomic per content hash within this process, read back and merged again across
        processes (``clipvec.store.names``); ``StoreUnavailable`` if the name would not stick.
        """
        try:
            return add_name(self._reader, self._writer, record, name, settle=0.0 if self.is_lite else SETTLE)
        finally:
            self._summary.forget()

    def confirm_writes(self) -> None:
        """Wait for the checks of deferred writes (``upsert(defer_check=True)``); raise if one was lost."""
        self._writer.confirm()

    def delete(self, hashes: Sequence[str]) -> int:
        """Delete records by content_hash; returns how many existed (and are now gone)."""
        try:
            return self._writer.delete(hashes)
        finally:
            self._summary.forget()

    def record_root(self, name: str) -> None:
        """Record that root ``name`` (``clipvec.sources.roots``) is imported into this collection.

        An import records its root before it writes a record, so no record is without one.
        """
        self._roots.record(name)

    # ---- reads -----------------------------------------------------------------------
    def roots(self) -> list[str]:
        """The names of the roots imported into this collection, oldest first."""
        return self._roots.names()

    def expect_foreign_writes(self) -> None:
        """Make the next read Strong: other clients (Ray import workers) wrote meanwhile, and a
        Session read only waits for this client's own writes (issue 12)."""
        self._consistency.strong_next_read()

    def count(self) -> int:
        """Number of stored records (rows counted, never collection statistics)."""
        return self._reader.count()

    def get(self, hashes: Sequence[str], *, with_vectors: bool = False) -> dict[str, ImageRecord]:
        """The stored records among ``hashes`` (missing ones are simply absent)."""
        return self._reader.get(hashes, with_vectors=with_vectors)

    def get_by_path(self, path: str, *, hash_prefix: str | None = None) -> ImageRecord | None:
        """The record that lists ``path`` among its paths (exact match), if any.

        ``hash_prefix`` (hex, 8+ digits of the record's content hash) finds paths no filter
        can carry (control characters); without it such a path is not found.
        """
        return self._reader.get_by_path(path, hash_prefix=hash_prefix)

    def iter_records(self, *, with_vectors: bool = False, batch: int | None = None) -> Iterator[ImageRecord]:
        """Every stored record, a page at a time; ``batch`` caps the rows per page."""
        return self._reader.iter_records(with_vectors=with_vectors, batch=batch)

    def search(
        self,
        vector: np.ndarray,
        *,
        top_k: int = 10,
        min_score: float | None = None,
        path_prefix: str | None = None,
        exclude: str | None = None,
        filters: MetaFilter | None = None,
    ) -> list[Hit]:
        """Nearest records to ``vector``, best first.

        ``min_score`` follows the metric: for COSINE/IP hits scoring below it are dropped,
        for L2 it is a maximum (squared) distance. ``path_prefix`` keeps hits whose primary
        path starts with it (any characters; matched exactly, no wildcards). ``exclude``
        leaves out the record with that content hash (the example of "more like this").
        ``filters`` keeps the photos that match (``meta_filter``), inside the same search, so
        the hits are the true top-k among them; on a version-1 collection a filter on the
        photo metadata is a ``bad_parameter`` error that names ``clipvec migrate``.
        """
        return self._nearest.search(
            vector,
            top_k=top_k,
            min_score=min_score,
            path_prefix=path_prefix,
            exclude=exclude,
            filters=filters,
        )

    def facets(self) -> Facets:
        """Cameras, lenses, formats and the date range, with counts (kept while current)."""
        return self._summary.facets()

    # ---- closing ---------------------------------------------------------------------
    def close(self) -> None:
        """Finish deferred write checks, close the client, let go of the Lite file (idempotent)."""
        self._writer.close()
        self._conn.close()
