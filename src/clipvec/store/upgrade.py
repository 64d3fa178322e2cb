"""The collection-level steps of upgrading a collection's schema in place (``clipvec migrate``).

A Milvus collection's fields cannot be added to, so an upgrade writes every record into a
staged collection ``<name>__v2`` and then puts it in the old one's place:

* a server renames: ``<name>`` -> ``<name>__v1``, ``<name>__v2`` -> ``<name>``, then drops
  ``<name>__v1``; readers see the old collection or the new one, whole;
* Milvus Lite has no ``rename_collection`` (UNIMPLEMENTED in 2.5): the old collection is
  dropped once the staged one is checked complete, a new ``<name>`` is made and the staged
  records are copied into it, then the staged collection is dropped. Lite's file lock keeps
  every other process out meanwhile.

Every step leaves a state that :func:`upgrade_state` recognises, so an interrupted upgrade
resumes where it stopped. The companion ``<name>__roots`` is never touched: it stays the
collection's. What each record holds (its metadata re-read from its file) is the caller's
(``clipvec.indexing.migrate``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from clipvec.locations import is_lite_uri
from clipvec.store.connection import LOAD_TIMEOUT, Connection, existing_lite_file
from clipvec.store.schema import FAMILY_BEFORE_FAMILIES

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

STAGED_SUFFIX = "__v2"
BACKUP_SUFFIX = "__v1"
_NAME_LIMIT = 255


@dataclass(frozen=True)
class Recorded:
    """What a clipvec collection's description records: enough to open it without its model."""

    model_name: str
    dim: int
    metric: str
    family: str
    model_id: str | None
    schema_version: int

    def store_options(self) -> dict[str, Any]:
        """``ImageStore`` keyword arguments that open this collection (or a twin) as it was made."""
        return {
            "model_name": self.model_name,
            "dim": self.dim,
            "metric": self.metric,
            "family": self.family,
            "model_id": self.model_id,
        }


@dataclass(frozen=True)
class UpgradeState:
    """Which of the collection, its staged copy and its renamed-away original exist, and their versions."""

    main: Recorded | None
    staged: Recorded | None
    backup: Recorded | None


def staged_name(collection: str) -> str:
    return _suffixed(collection, STAGED_SUFFIX)


def backup_name(collection: str) -> str:
    return _suffixed(collection, BACKUP_SUFFIX)


def _suffixed(collection: str, suffix: str) -> str:
    name = collection + suffix
    if len(name) > _NAME_LIMIT:
        raise ValueError(
            f"collection name {collection!r} is too long to upgrade in place (at most 251 characters)"
        )
    return name


class Upgrader:
    """A connection to the collection's Milvus for the steps that act on whole collections."""

    def __init__(self, uri: str, collection: str, *, token: str = "", timeout: float = 60.0) -> None:
        db = existing_lite_file(uri) if is_lite_uri(uri) else None
        self.collection = collection
        self._conn = Connection(
            str(db) if db else uri, collection, timeout=timeout, reload_timeout=max(timeout, LOAD_TIMEOUT)
        )
        self._conn.open(token, 10, db=db)
        self.is_lite = self._conn.is_lite

    def __enter__(self) -> Upgrader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state(self) -> UpgradeState:
        """What exists now (an interrupted upgrade resumes from this)."""
        return UpgradeState(
            self.recorded(self.collection),
            self.recorded(staged_name(self.collection)),
            self.recorded(backup_name(self.collection)),
        )

    def recorded(self, name: str) -> Recorded | None:
        """What collection ``name`` records (None when there is no such collection).

        ``ValueError`` for a collection clipvec did not make.
        """
        conn = self._conn
        if not conn.call(conn.client.has_collection, name):
            return None
        desc = conn.call(conn.client.describe_collection, name)
        try:
            meta = json.loads(desc.get("description") or "")["clipvec"]
            return Recorded(
                model_name=str(meta["model"]),
                dim=int(meta["dim"]),
                metric=str(meta.get("metric", "COSINE")).upper(),
                family=str(meta.get("family") or FAMILY_BEFORE_FAMILIES),
                model_id=meta.get("model_id") or None,
                schema_version=int(meta["schema_version"]),
            )
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"collection {name!r} at {conn.uri} was not made by clipvec") from None

    def rename(self, old: str, new: str) -> bool:
        """Rename a collection; False where the backend cannot (Milvus Lite)."""
        if self.is_lite:
            return False
        conn = self._conn
        conn.call(conn.client.rename_collection, old, new)
        log.info("renamed collection %r to %r at %s", old, new, conn.uri)
        return True

    def drop(self, name: str) -> None:
        """Drop collection ``name`` (never its roots registry: the roots stay the collection's)."""
        conn = self._conn
        if conn.call(conn.client.has_collection, name):
            conn.call(conn.client.drop_collection, name)
            log.info("dropped collection %r at %s", name, conn.uri)

    def close(self) -> None:
        self._conn.close()
