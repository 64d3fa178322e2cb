"""The service's one Milvus collection: opened on first use, bounded waits, reopened after a lost Lite write."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from clipvec.errors import ClipvecError, ModelMismatch, StorageFull
from clipvec.settings import Settings
from clipvec.store import ImageStore

log = logging.getLogger("clipvec.service")
T = TypeVar("T")


class StoreHandle:
    """Shares one ``ImageStore`` between request threads.

    Every call waits at most ``CLIPVEC_STORE_TIMEOUT`` seconds (default 5) for Milvus, so
    requests during an outage get 503 quickly instead of hanging.
    """

    # A collection made by another model stays so until someone drops it or changes the
    # settings: the answer is remembered this long instead of reopening the store per request.
    MISMATCH_RECHECK_SECONDS = 5.0

    def __init__(self, settings: Settings, *, model_name: str, dim: int, **model: Any) -> None:
        """``model``: the rest of the model's identity for ``ImageStore`` (``model_id``, ``recognises``)."""
        self.settings = settings
        self.model_name = model_name
        self.dim = dim
        self._model = model
        self._store: ImageStore | None = None
        self._mismatch: tuple[float, ModelMismatch] | None = None
        self._lock = threading.Lock()

    def get(self) -> ImageStore:
        """The store, opened on first use (and again after a lost Lite write)."""
        with self._lock:
            if self._store is None:
                if self._mismatch and time.monotonic() < self._mismatch[0]:
                    raise self._mismatch[1]
                timeout = self.settings.store_timeout
                try:
                    self._store = ImageStore.from_settings(
                        self.settings,
                        model_name=self.model_name,
                        dim=self.dim,
                        **self._model,
                        timeout=timeout,
                        connect_timeout=timeout,
                        reload_timeout=timeout,
                    )
                except ModelMismatch as err:
                    self._mismatch = (time.monotonic() + self.MISMATCH_RECHECK_SECONDS, err)
                    raise
                self._mismatch = None
            return self._store

    def check_at_start(self) -> None:
        """Open the store once at start and say in the log what will not work, and why."""
        try:
            self.get()
        except ModelMismatch as err:
            log.warning(
                "the collection was made by another model: vectorizing works, but search, "
                "/add_image and /import answer 409 model_mismatch: %s",
                err.detail,
            )
        except ClipvecError as err:
            log.warning(
                "the store cannot be used yet (%s: %s); it is tried again on each request",
                err.code,
                err.detail,
            )

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
        """Whether the store can be opened and read now (``/readyz``).

        A collection made by another model is a setting to change, not an outage: the
        service is ready (vectorizing works) and the store routes answer 409 saying so,
        instead of a service that never becomes ready.
        """
        try:
            self.run(lambda store: store.count())
        except ModelMismatch:
            return True
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
