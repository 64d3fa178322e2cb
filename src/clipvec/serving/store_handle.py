"""The service's one Milvus collection: opened on first use, bounded waits, reopened after a lost Lite write."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from clipvec.errors import ClipvecError, StorageFull
from clipvec.settings import Settings
from clipvec.store import ImageStore

log = logging.getLogger("clipvec.service")
T = TypeVar("T")


class StoreHandle:
    """Shares one ``ImageStore`` between request threads.

    Every call waits at most ``CLIPVEC_STORE_TIMEOUT`` seconds (default 5) for Milvus, so
    requests during an outage get 503 quickly instead of hanging.
    """

    def __init__(self, settings: Settings, *, model_name: str, dim: int) -> None:
        self.settings = settings
        self.model_name = model_name
        self.dim = dim
        self._store: ImageStore | None = None
        self._lock = threading.Lock()

    def get(self) -> ImageStore:
        """The store, opened on first use (and again after a lost Lite write)."""
        with self._lock:
            if self._store is None:
                timeout = self.settings.store_timeout
                self._store = ImageStore.from_settings(
                    self.settings,
                    model_name=self.model_name,
                    dim=self.dim,
                    timeout=timeout,
                    connect_timeout=timeout,
                    reload_timeout=timeout,
                )
            return self._store

    def run(self, action: Callable[[ImageStore], T]) -> T:
        """Run ``action`` on the shared store.

        An outage does not close the store: other threads are using its client, and the
        client reconnects by itself once Milvus is back. Only a Lite store that lost a write
        is replaced, since its memory then shows rows its file does not have.
        """
        store = self.get()
        try:
            return action(store)
        except StorageFull:
            if store.is_lite and store.write_failed:
                with self._lock:
                    if self._store is store:
                        self._store = None
                with contextlib.suppress(Exception):
                    store.close()
            raise

    def is_ready(self) -> bool:
        """Whether the store can be opened and read now (``/readyz``)."""
        try:
            self.run(lambda store: store.count())
        except ClipvecError as err:
            log.warning("not ready: %s: %s", err.code, err.detail)
            return False
        return True

    def close(self) -> None:
        """Stop Milvus Lite and release its lock files (none left behind)."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()
