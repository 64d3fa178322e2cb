"""Who in this process uses which Milvus Lite file, so its helper process and lock go with the last.

Milvus Lite runs one helper process per db file and pymilvus never stops it; we do, when
the last user (an ImageStore, or a drop) on that file closes (tests open hundreds of small
dbs). The first user of a file in this process also takes the file's ``LiteLock`` and
checks the file (``check_lite_file``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from clipvec.store.lite_file import LiteLock, check_lite_file

log = logging.getLogger("clipvec.store")  # one logger name for the package, as logs always showed it

_lite_users: dict[str, int] = {}
_lite_locks: dict[str, LiteLock] = {}
_lite_lock = threading.Lock()


# milvus-lite's helper creates $HOME/.cache/milvus when it starts and removes it when it stops,
# whatever other helpers run: one starting while another stops fails ("Mmap manager has not
# been init" on the first request). clipvec processes start and stop their helpers one at a time.
HELPERS_LOCK = Path.home() / ".cache" / "clipvec" / "milvus-lite-helpers.lock"


@contextlib.contextmanager
def helpers_changing() -> Iterator[None]:
    """Hold the machine-wide lock while a Milvus Lite helper starts or stops (none taken if impossible)."""
    try:
        HELPERS_LOCK.parent.mkdir(parents=True, exist_ok=True)
        lock = open(HELPERS_LOCK, "a")  # noqa: SIM115 - closed below
    except OSError as exc:  # a read-only home: run unguarded, as milvus-lite itself does
        log.debug("no lock for Milvus Lite helpers (%s): %s", HELPERS_LOCK, exc)
        yield
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        lock.close()


def acquire(path: str, wait: float) -> None:
    """Count one more user of ``path``; the first one locks and checks the file, then opens it.

    ``StoreLocked`` if another process holds the file past ``wait`` seconds, ``StoreDamaged``
    if the file is damaged.
    """
    with _lite_lock:
        if _lite_users.get(path, 0) == 0:
            lock = LiteLock(Path(path))
            lock.acquire(wait)
            try:
                check_lite_file(Path(path))
            except BaseException:
                lock.release()
                raise
            _lite_locks[path] = lock
        _lite_users[path] = _lite_users.get(path, 0) + 1


def release(path: str) -> None:
    """One user fewer; the last one stops milvus-lite's helper for ``path`` and unlocks the file."""
    with _lite_lock:
        left = _lite_users.get(path, 0) - 1
        if left > 0:
            _lite_users[path] = left
            return
        _lite_users.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            with helpers_changing():
                server_manager_instance.release_server(path)
        except Exception as exc:  # noqa: BLE001 - best effort at close
            log.debug("could not stop milvus-lite for %s: %s", path, exc)
        lock = _lite_locks.pop(path, None)
        if lock is not None:
            lock.release()


def users(path: str) -> int:
    """How many users ``path`` has in this process now (0: not open here)."""
    with _lite_lock:
        return _lite_users.get(path, 0)


@atexit.register
def release_all() -> None:
    """At exit (Ctrl-C, SIGTERM handled by the server), leave no lock files behind."""
    for path in list(_lite_users):
        _lite_users[path] = 1
        release(path)
