"""One Milvus client on one collection: opening it (Lite file or server), every call, closing it.

Every call goes through ``Connection.call``: the store timeout, a collection that a
restarted server did not reload ("not loaded": load it and retry once), and connection
trouble turned into ``StoreUnavailable`` (503) rather than a request error (which errors
are trouble: :mod:`clipvec.store.outages`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clipvec.store.lite_registry as lite_registry
from clipvec.errors import StoreUnavailable
from clipvec.locations import LITE_SUFFIX, is_lite_uri
from clipvec.store.lite_helper import prompt_starts
from clipvec.store.outages import is_not_loaded, is_unavailable

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

LOAD_TIMEOUT = 60.0  # creating / loading a collection takes ~3 s on an idle 2.3 server

# Said when a Lite file cannot be opened: the usual reasons, and the way out.
LITE_OPEN_HINT = (
    " (a Milvus Lite file can be open in one process only, and its name must match "
    "[A-Za-z0-9._-]+ and be at most 36 characters; use a Milvus server URI for "
    "several processes)"
)


def new_lite_file(uri: str) -> Path:
    """The Lite file ``uri`` names, its folder made; ``StoreUnavailable`` if it cannot be one."""
    if not uri.endswith(LITE_SUFFIX):
        raise StoreUnavailable(
            f"{uri} is neither a server URI (http://host:19530) nor a Milvus Lite file: "
            f"a Lite file's name must end in {LITE_SUFFIX}"
        )
    db = Path(uri).expanduser().absolute()
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the folder for Milvus Lite file {uri}: {exc}") from exc
    # Milvus Lite's helper logs with glog, into the system temp folder by default: two files
    # per start (an "mmap manager has been inited" warning) that pile up in /tmp. Only its
    # errors are logged unless the user asks for more (GLOG_minloglevel, GLOG_log_dir).
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        prompt_starts()  # imports milvus-lite
    except ImportError as exc:
        raise StoreUnavailable(
            f"{uri} is a Milvus Lite file but milvus-lite is not installed "
            "(pip install milvus-lite; not available on Windows: use a server URI)"
        ) from exc
    return db


def existing_lite_file(uri: str) -> Path:
    """The Lite file ``uri`` names, which must exist (nothing is created to be dropped)."""
    db = Path(uri).expanduser().absolute()
    if not db.exists():
        raise StoreUnavailable(f"there is no Milvus Lite file {db}")
    return db


# What pymilvus says when a Lite helper's socket does not exist yet, and the pause between tries.
LITE_NOT_LISTENING = "Fail connecting to server on unix:"
LITE_RETRY_PAUSE = 0.25
# milvus-lite 2.5's helper sets up its scratch folder ($HOME/.cache/milvus, shared by every
# helper on the machine: removed and made again) at its first collection create or load, and
# ignores a failure there; that call and every later one then fail with this, and each new
# create or load tries the set-up again. Another helper removing or making the folder at the
# same moment (two processes opening Lite files) is enough to make it fail.
LITE_SCRATCH_NOT_SET_UP = "Mmap manager has not been init"
LITE_SCRATCH_RETRIES = 5
LITE_SCRATCH_PAUSE = 0.2


def _pause_before_scratch_retry() -> None:
    time.sleep(LITE_SCRATCH_PAUSE)


def _nothing() -> None:
    return None


_scipy_lock = threading.Lock()


def _check_for_scipy_once() -> None:
    """Run pymilvus' lazy check for scipy now, in one thread, not in the first requests.

    pymilvus looks for ``scipy.sparse`` (sparse vectors) at a process's first search or
    insert, importing it by hand, with no lock. Two first requests at once (a fresh service
    given concurrent uploads) can both run that import and fail (``KeyError: 'scipy.sparse'``,
    a 500). It went unseen while transformers' model code had imported scipy first; a model
    started from its trace does not. Where scipy is not installed, this costs nothing.
    """
    with _scipy_lock:
        try:
            from pymilvus.client.utils import SciPyHelper

            SciPyHelper._init()  # idempotent; pymilvus' own entry to the check
        except Exception as exc:  # noqa: BLE001 - another pymilvus: the requests do it, as before
            log.debug("pymilvus' scipy check not run up front: %s", exc)


class Connection:
    """A ``MilvusClient`` for one collection, and the Lite file it holds open in this process.

    ``uri`` is the name used in error messages. ``on_unavailable`` runs when a call finds
    Milvus unreachable, ``on_strong_read`` when a Strong read came back: the read
    consistency policy listens to both.
    """

    def __init__(self, uri: str, collection: str, *, timeout: float, reload_timeout: float) -> None:
        self.uri = uri
        self.collection = collection
        self.is_lite = is_lite_uri(uri)
        self.timeout = timeout
        self.reload_timeout = reload_timeout  # loading a collection a restarted server forgot
        self.client: Any = None
        self.lite_path: str | None = None
        self.on_unavailable: Callable[[], None] = _nothing
        self.on_strong_read: Callable[[], None] = _nothing

    def open(
        self,
        token: str,
        connect_timeout: float,
        *,
        db: Path | None = None,
        lock_wait: float = 0.0,
        hint: str = "",
    ) -> None:
        """Connect to the server at ``uri``, or to the Lite file ``db`` (locked and checked first).

        ``StoreLocked`` / ``StoreDamaged`` for a Lite file held elsewhere or damaged;
        ``StoreUnavailable`` (with ``hint``) for every failure to connect.
        """
        from pymilvus import MilvusClient

        target = self.uri
        if db is not None:
            target = str(db)
            lite_registry.acquire(str(db.resolve()), lock_wait)  # StoreLocked / StoreDamaged
            self.lite_path = str(db.resolve())
        deadline = time.monotonic() + connect_timeout
        try:
            while True:
                try:
                    with lite_registry.helpers_changing() if db is not None else contextlib.nullcontext():
                        self.client = MilvusClient(
                            uri=target, token=token or "", timeout=connect_timeout, dedicated=True
                        )
                    break
                except Exception as exc:
                    # A helper's start waits at most 0.5 s for its socket (lite_helper.py), then
                    # pymilvus connects once; a helper slower to make it (a busy machine) fails at
                    # once. Ask again until the timeout.
                    if db is None or LITE_NOT_LISTENING not in str(exc) or time.monotonic() >= deadline:
                        raise
                    time.sleep(LITE_RETRY_PAUSE)
        except Exception as exc:  # noqa: BLE001 - every failure to connect is "unavailable"
            if self.lite_path:
                lite_registry.release(self.lite_path)
                self.lite_path = None
            raise StoreUnavailable(f"cannot open Milvus at {self.uri}: {exc}{hint}") from exc
        _check_for_scipy_once()

    def call(self, fn: Any, *args: Any, with_timeout: bool = True, **kwargs: Any) -> Any:
        """Run one client call with the store timeout; connection trouble -> StoreUnavailable."""
        if self.client is None:
            raise StoreUnavailable(f"the store for {self.uri} is closed")
        if with_timeout:
            kwargs.setdefault("timeout", self.timeout)
        try:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if self.lite_path is not None and LITE_SCRATCH_NOT_SET_UP in str(exc):
                    result = self._retry_lite_scratch(fn, args, kwargs, exc)
                elif not is_not_loaded(exc):
                    raise
                else:
                    # A restarted server may come back without the collection loaded.
                    log.warning("collection %r at %s is not loaded; loading it", self.collection, self.uri)
                    self.client.load_collection(self.collection, timeout=self.reload_timeout)
                    result = fn(*args, **kwargs)
        except Exception as exc:
            if is_unavailable(exc):
                self.on_unavailable()
                raise StoreUnavailable(f"Milvus at {self.uri} is unavailable: {exc}") from exc
            raise
        if kwargs.get("consistency_level") == "Strong":
            self.on_strong_read()
        return result

    def _retry_lite_scratch(self, fn: Any, args: tuple, kwargs: dict, first: Exception) -> Any:
        """``fn`` again after the helper's scratch folder set-up failed (``LITE_SCRATCH_NOT_SET_UP``).

        Each try runs while no clipvec process starts or stops a helper (the machine-wide lock),
        so only another program's helper can spoil it again. A create or load that failed
        there stopped before writing anything, so trying it again is safe. Still failing:
        ``StoreUnavailable`` that says where, never milvus-lite's raw assertion.
        """
        last = first
        for _ in range(LITE_SCRATCH_RETRIES):
            log.warning("Milvus Lite could not set up its scratch folder; trying again: %s", last)
            _pause_before_scratch_retry()
            with lite_registry.helpers_changing():
                try:
                    return fn(*args, **kwargs)
                except Exception as exc:
                    if LITE_SCRATCH_NOT_SET_UP not in str(exc):
                        raise
                    last = exc
        scratch = Path.home() / ".cache" / "milvus"  # the helper's $HOME, which it inherits
        raise StoreUnavailable(
            f"Milvus Lite could not set up its scratch folder {scratch} for {self.uri} "
            f"(it must be a folder it can create and empty): {last}"
        ) from last

    def create_collection(self, name: str, schema: Any, index_params: Any) -> None:
        """Create collection ``name`` with its index, not waiting for the index of an empty collection.

        pymilvus' ``create_collection(index_params=...)`` asks for the index state only after a
        fixed 0.5 s sleep, for an index over no rows; the load that follows (``load_collection``)
        waits for what it needs. So every new collection (a first import, a test's fresh store,
        a migration's staging) took half a second more than its two calls.
        """
        timeout = max(self.timeout, LOAD_TIMEOUT)
        self.call(
            self.client.create_collection, name, schema=schema, consistency_level="Session", timeout=timeout
        )
        self.call(self.client.create_index, name, index_params, sync=False, timeout=timeout)

    def close(self) -> None:
        """Close the client and let go of the Lite file; closing never fails."""
        client, self.client = self.client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                log.debug("closing the Milvus client failed: %s", exc)
        if self.lite_path is not None:
            path, self.lite_path = self.lite_path, None
            lite_registry.release(path)
