"""Opening the configured collection to read it (search, facets, duplicates).

A reader never creates anything: a mistyped ``--collection`` used to leave an empty
collection behind (made with this model, which a later import with another model then
refused). A missing or empty collection is one message and exit 1, the same for every reader.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from clipvec.errors import CollectionMissing
from clipvec.settings import Settings

if TYPE_CHECKING:
    from clipvec.store import ImageStore


def say_empty(settings: Settings, where: str) -> None:
    """The one line for a collection with nothing to read, ``where`` naming its place."""
    print(
        f"clipvec: the collection {settings.collection!r} {where} is empty; import images first (clipvec import DIR)",
        file=sys.stderr,
    )


def open_to_read(settings: Settings, **store_options: Any) -> ImageStore | None:
    """The configured store, open; None (said on stderr) when its collection is missing or empty."""
    from clipvec.store import ImageStore  # here: asking a service (search --service) needs no pymilvus

    try:
        store = ImageStore.from_settings(settings, create_missing=False, **store_options)
    except CollectionMissing:
        say_empty(settings, f"at {settings.milvus_uri}")
        return None
    try:
        if store.count() == 0:
            say_empty(settings, f"at {settings.milvus_uri}")
            store.close()
            return None
    except BaseException:
        store.close()
        raise
    return store
