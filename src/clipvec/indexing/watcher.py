"""Watch mode (issue 19): keep a folder's records current while it changes, with the importer.

There is no second import engine here. The watcher follows the folder with ``watchfiles``
(inotify on Linux, the platform's native API elsewhere), notes what changed, waits until it
has settled (no new event and the changed files' size and mtime unchanged for ``settle``
seconds: a file still being copied is not read half-written), then runs one incremental
pass of the import over the folder (``run_pass``: unchanged files are never read, renames
reuse stored vectors, vanished paths are pruned). A burst of thousands of files is thus one
batched run, not thousands of writes, and changes made during a pass are buffered by the
watch and make the next pass.

Trust first: a pass prunes only what it has seen to be gone. When the folder is missing,
not a folder or empty (an unmounted disk), no pass runs and the collection is kept; when a
folder below it cannot be listed, the pass imports but does not prune. A pass that fails
(Milvus down) is retried with a back-off; since every pass compares the whole folder with
the collection, nothing is lost, and a watcher killed at any moment catches up with its
start-up pass. When the system's watch limit is reached (inotify ``max_user_watches``), the
watcher says so and falls back to a pass every ``interval`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import watchfiles

from clipvec.errors import ClipvecError
from clipvec.indexing.report import ImportReport
from clipvec.indexing.watch_status import WatchCounts, WatchStatus
from clipvec.sources import FolderSource, Scanned, is_junk, scan_ahead

log = logging.getLogger(__name__)

PassRunner = Callable[[bool, "Future[Scanned]"], ImportReport]  # (prune, the folder's scan) -> report
WatchFunction = Callable[..., Iterator[set[tuple[Any, str]]]]
TRACKED_MAX = 20_000  # changed paths whose size and mtime are compared; past it, quiet time alone
RETRY_MAX = 30.0  # seconds between tries of a failing pass, at most
WATCH_LIMIT_HINT = "fs.inotify.max_user_watches"


def unlisted_folders(scan: Scanned) -> list[str]:
    """Folders the scan could not list: their files are unknown, so a prune would drop them."""
    return [
        e.rel_path for e in scan.skipped if e.reason == "unreadable" and e.detail.startswith("cannot list")
    ]


def is_ignored(root: Path, path: str) -> bool:
    """Events the import never looks at: hidden and junk names below ``root`` (its own sidecar too)."""
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return True
    return any(is_junk(part) for part in rel.parts)


class FolderWatcher:
    """Follows one folder and runs ``run_pass`` when its changes have settled; ``run`` blocks until ``stop``."""

    def __init__(
        self,
        source: FolderSource,
        run_pass: PassRunner,
        *,
        settle: float = 2.0,
        interval: float = 60.0,
        stop: threading.Event | None = None,
        watch: WatchFunction = watchfiles.watch,
        on_pass: Callable[[ImportReport], None] | None = None,
        on_status: Callable[[WatchCounts], None] | None = None,
    ) -> None:
        self.source = source
        self.root = Path(source.root)
        self.run_pass = run_pass
        self.settle = settle
        self.interval = interval
        self.stop = stop or threading.Event()
        self._watch = watch
        self.on_pass = on_pass
        self.on_status = on_status  # every tick and change of state: metrics follow the lag
        self.status = WatchStatus()
        self._retry_at = 0.0
        self._failures = 0  # passes failed in a row (the back-off)

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        """Follow the folder until ``stop`` is set; every (re)start of the watch begins with a pass."""
        try:
            while not self.stop.is_set():
                identity = self._identity()
                if identity is None:  # missing: keep the collection, look again soon
                    self._unavailable(f"{self.root} is not a folder (deleted or unmounted?)")
                    self.stop.wait(min(self.interval, 2.0))
                    continue
                try:
                    self._follow(identity)
                except OSError as exc:
                    if not _is_watch_limit(exc):
                        if self._identity() is None:
                            continue  # the folder went while the watch started
                        raise
                    log.warning(
                        "cannot watch %s: the system's limit of watched folders is reached (%s); "
                        "raise %s, meanwhile every %.0f s an incremental pass catches up",
                        self.root,
                        exc,
                        WATCH_LIMIT_HINT,
                        self.interval,
                    )
                    self.status.set_polling(True)
                    try:
                        self._poll()
                    finally:
                        self.status.set_polling(False)
        finally:
            self._set("stopped", "")

    def _follow(self, identity: tuple[int, int]) -> None:
        """Watch until the folder is gone or replaced (or ``stop``); pass after changes settle.

        The watch starts before the first pass (which catches up with what changed while no
        one watched): a change made during any pass is an event for the next one.
        """
        tick_ms = int(max(100, min(1000, self.settle * 250)))
        pending: dict[str, tuple[int, int] | None] = {}
        overflow = False
        dirty = True  # the catch-up pass, at the first tick
        last_event = time.monotonic() - self.settle
        self._set("watching", str(self.root))
        changes: Iterable[set[tuple[Any, str]]] = self._watch(
            self.root,
            watch_filter=lambda _change, path: not is_ignored(self.root, path),
            stop_event=self.stop,
            rust_timeout=tick_ms,
            yield_on_timeout=True,
            debounce=1600,
            step=50,
        )
        for batch in changes:
            now = time.monotonic()
            if batch:
                dirty, last_event = True, now
                for _change, path in batch:
                    if len(pending) < TRACKED_MAX:
                        pending[path] = _signature(path)
                    else:
                        overflow = True
                self.status.saw_changes(len(batch), len(pending))
            self._publish()
            if self._identity() != identity:
                return
            if not dirty or now - last_event < self.settle or now < self._retry_at:
                continue
            if not overflow and _moved(pending):  # still being written: wait another settle time
                last_event = now
                continue
            if self._try_pass():
                pending.clear()
                dirty = overflow = False
                self._set("watching", str(self.root))
            else:
                self._retry_at = time.monotonic() + self._retry_delay()

    def _poll(self) -> None:
        """The fall-back without a watch: an incremental pass every ``interval`` seconds."""
        while not self.stop.is_set():
            if self._identity() is None:
                return
            if self._try_pass():
                self._set("polling", f"every {self.interval:.0f} s (the watch limit is reached)")
            self.stop.wait(self.interval)

    # ------------------------------------------------------------------ one pass
    def _try_pass(self) -> bool:
        """One incremental pass; False when it did not run or failed (to be tried again)."""
        if self._identity() is None:
            self._unavailable(f"{self.root} is not a folder (deleted or unmounted?)")
            return False
        if _is_empty(self.root):
            self._unavailable(f"{self.root} is empty (an unmounted disk?)")
            return False
        self._set("indexing", str(self.root))
        scanned = scan_ahead(self.source)
        try:
            unlisted = unlisted_folders(scanned.result())
            if unlisted:
                log.warning(
                    "%s: %d folders could not be listed (%s...): importing without pruning this time",
                    self.root,
                    len(unlisted),
                    unlisted[0],
                )
            report = self.run_pass(not unlisted, scanned)
        except ClipvecError as err:
            self._failed(f"{err.code}: {err.detail}")
            return False
        except Exception as exc:  # noqa: BLE001 - a watcher outlives a failed pass; the next one retries
            log.exception("watch pass over %s failed", self.root)
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        self.status.pass_done(report)
        self._failures = 0
        log.info("%s: %s", self.root, report.summary())
        if self.on_pass is not None:
            self.on_pass(report)
        return True

    def _failed(self, detail: str) -> None:
        self._failures += 1
        self.status.pass_failed()
        log.warning(
            "watch pass over %s failed (%s); tried again in %.0f s", self.root, detail, self._retry_delay()
        )
        self._set("retrying", detail)

    def _retry_delay(self) -> float:
        return min(RETRY_MAX, 2.0 ** max(0, self._failures - 1))

    def _unavailable(self, detail: str) -> None:
        if self.status.state != "unavailable":
            log.warning("%s; the collection is kept as it is, watching for the folder to return", detail)
        self._set("unavailable", detail)

    def _set(self, state: str, detail: str) -> None:
        self.status.set_state(state, detail)
        self._publish()

    def _publish(self) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self.status.snapshot())
            except Exception:  # noqa: BLE001 - metrics must never stop the watcher
                log.exception("watch status listener failed")

    def _identity(self) -> tuple[int, int] | None:
        """The folder's (device, inode), None when it is not a folder: a new one needs a new watch."""
        try:
            st = os.stat(self.root)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if os.path.isdir(self.root) else None


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _moved(pending: dict[str, tuple[int, int] | None]) -> bool:
    """Whether any changed file's size or mtime moved since its last event (updates ``pending``)."""
    moved = False
    for path, seen in pending.items():
        now = _signature(path)
        if now != seen:
            pending[path] = now
            moved = True
    return moved


def _is_empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False  # a folder that cannot be listed: the pass's scan says so


def _is_watch_limit(exc: OSError) -> bool:
    text = str(exc).lower()
    return "limit" in text and "watch" in text
