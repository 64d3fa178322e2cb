"""Deleting a whole collection: how a collection made with another model is started over."""

from __future__ import annotations

import logging
from collections.abc import Callable

from clipvec.locations import is_lite_uri
from clipvec.store.connection import LOAD_TIMEOUT, Connection, existing_lite_file
from clipvec.store.roots import RootsRegistry

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it


def drop_collection(
    uri: str,
    collection: str,
    *,
    token: str = "",
    confirm: Callable[[int | None], bool] = lambda count: True,
    timeout: float = 30.0,
) -> bool:
    """Delete ``collection`` (after ``confirm(row count)`` says yes); False if it was kept or absent.

    Needs no model: this is how a collection made with another model is started over. The
    collection's roots registry goes with it.
    """
    db = existing_lite_file(uri) if is_lite_uri(uri) else None
    conn = Connection(
        str(db) if db else uri, collection, timeout=timeout, reload_timeout=max(timeout, LOAD_TIMEOUT)
    )
    try:
        conn.open(token, 10, db=db)
        client = conn.client
        if not conn.call(client.has_collection, collection):
            return False
        count: int | None = None
        try:
            conn.call(client.load_collection, collection, timeout=max(timeout, LOAD_TIMEOUT))
            rows = conn.call(client.query, collection, filter="", output_fields=["count(*)"])
            count = int(rows[0]["count(*)"]) if rows else 0
        except Exception as exc:  # noqa: BLE001 - a broken collection can still be dropped
            log.info("cannot count %s: %s", collection, exc)
        if not confirm(count):
            return False
        conn.call(client.drop_collection, collection)
        RootsRegistry(conn).drop()
        return True
    finally:
        conn.close()
