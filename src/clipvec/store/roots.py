"""The roots a collection holds: every folder or S3 prefix imported into it (issue 22).

Milvus cannot change a collection's description once made (Lite has no
``alter_collection_properties`` either), so the roots live in a small companion collection,
``<collection>__roots``: one row per root (its name from ``clipvec.sources.roots``, when it
was first imported), with the 2-d vector every Milvus collection must have. It is made by the
first import that records a root, read by the page (which serves a stored absolute path only
from inside a recorded root) and by ``clipvec import`` (which says what else the collection
holds), and dropped with its collection. Names are compared on the client: a folder's name
may hold characters no Milvus filter can carry.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

from clipvec.errors import ClipvecError, StoreUnavailable
from clipvec.store.connection import LOAD_TIMEOUT, Connection
from clipvec.store.outages import is_not_loaded
from clipvec.store.records import PATH_MAX_LEN

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

ROOTS_SUFFIX = "__roots"
MAX_ROOTS = 16384  # rows read back at once; far more folders than one collection sensibly holds
_NAME_LIMIT = 255  # Milvus' collection name limit


def roots_collection(collection: str) -> str:
    """The companion collection's name (a long name is cut and made unique by a hash)."""
    name = collection + ROOTS_SUFFIX
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(collection.encode()).hexdigest()[:12]
    return f"{collection[: _NAME_LIMIT - len(ROOTS_SUFFIX) - 13]}_{digest}{ROOTS_SUFFIX}"


class RootsRegistry:
    """Reads and records the roots of the collection ``conn`` is for, through ``conn``'s client."""

    def __init__(self, conn: Connection, write_lost: Callable[[int, str], NoReturn] | None = None) -> None:
        self._conn = conn
        # The store writer's judgement of a failed write (a full disk -> StorageFull, 507).
        self._write_lost = write_lost
        self.name = roots_collection(conn.collection)
        self._loaded = False

    def names(self) -> list[str]:
        """Every recorded root's name, oldest import first; [] for a collection with none yet."""
        return [row["root"] for row in sorted(self._rows(), key=lambda r: (r["imported_at"], r["root"]))]

    def record(self, name: str) -> None:
        """Record root ``name`` unless it is already; ``StoreUnavailable`` unless it is then read back.

        A root already recorded costs one read, no write: every import (and every watch pass)
        records its root.
        """
        if name in self._names():
            return
        try:
            if not self._exists():
                self._create()
            row = {"root": name, "imported_at": time.time(), "vector": [1.0, 0.0]}
            self._call(self._conn.client.upsert, self.name, [row])
        except ClipvecError:
            raise
        except Exception as exc:
            if self._write_lost is None:
                raise
            self._write_lost(1, f"the import root {name!r}: {exc}")
        if name not in self._names():
            raise StoreUnavailable(
                f"the import root {name!r} was not stored in {self.name!r} at {self._conn.uri}"
            )

    def _names(self) -> set[str]:
        return {row["root"] for row in self._rows()}

    def drop(self) -> None:
        """Drop the companion collection, if there is one (with its collection)."""
        if self._exists():
            self._conn.call(self._conn.client.drop_collection, self.name)

    # ---- Milvus ----------------------------------------------------------------------
    def _exists(self) -> bool:
        return bool(self._conn.call(self._conn.client.has_collection, self.name))

    def _rows(self) -> list[dict[str, Any]]:
        if not self._exists():
            return []
        rows = self._call(
            self._conn.client.query,
            self.name,
            filter='root != ""',
            output_fields=["root", "imported_at"],
            limit=MAX_ROOTS,
            consistency_level="Strong",  # a root another process recorded a moment ago
        )
        return [dict(row) for row in rows]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``conn.call`` with this collection loaded first (a restarted server may have forgotten it)."""
        if not self._loaded:
            self._conn.call(self._conn.client.load_collection, self.name, timeout=LOAD_TIMEOUT)
            self._loaded = True
        try:
            return self._conn.call(fn, *args, **kwargs)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if not is_not_loaded(exc):
                raise
            self._conn.call(self._conn.client.load_collection, self.name, timeout=LOAD_TIMEOUT)
            return self._conn.call(fn, *args, **kwargs)

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(
            auto_id=False,
            enable_dynamic_field=False,
            description=f"clipvec: the roots of {self._conn.collection}",
        )
        schema.add_field("root", DataType.VARCHAR, max_length=PATH_MAX_LEN, is_primary=True)
        schema.add_field("imported_at", DataType.DOUBLE)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        index = self._conn.client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        log.info("creating Milvus collection %r at %s", self.name, self._conn.uri)
        try:
            self._conn.create_collection(self.name, schema, index)
        except StoreUnavailable:
            raise
        except Exception:
            if not self._exists():  # another process made it meanwhile: fine
                raise
        self._loaded = False
