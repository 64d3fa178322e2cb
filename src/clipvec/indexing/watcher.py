"""Watch mode (issue 19): keep a folder's records current while it changes, with the importer.

There is no second import engine here. The watcher follows the folder with ``watchfiles``
(inotify on Linux, the platform's native API elsewhere), notes what changed, waits until it
has settled, then runs one incremental pass of the import over the folder (``run_pass``:
unchanged files are never read, renames reuse stored vectors, vanished paths are pruned).
Settling is per file: a changed file is ready when it has had no event and kept its size
and mtime for ``settle`` seconds (a file still being copied is not read half-written). A
pass runs as soon as one file is ready; the files still changing are held back from it
(left out of its scan, and nothing is pruned while any is held, so a file rewritten in
place keeps its record), so a steady trickle of new photos is indexed file by file instead
of waiting for the folder to fall quiet. A burst of thousands of files is still a few
batched runs, not thousands of writes: a pass takes a while, and what settles meanwhile
makes the next one.

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
from pathlib import Path
from typing import Any, NamedTuple

import watchfiles

from clipvec.indexing.pass_loop import PassLoop, PassRunner
from clipvec.indexing.report import ImportReport
from clipvec.indexing.watch_status import WatchCounts
from clipvec.sources import FolderSource, is_junk

log = logging.getLogger(__name__)

WatchFunction = Callable[..., Iterator[set[tuple[Any, str]]]]
TRACKED_MAX = 20_000  # changed paths whose size and mtime are compared; past it, quiet time alone
WATCH_LIMIT_HINT = "fs.inotify.max_user_watches"


def is_ignored(root: Path, path: str) -> bool:
    """Events the import never looks at: hidden and junk names below ``root`` (its own sidecar too)."""
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return True
    return any(is_junk(part) for part in rel.parts)


class FolderWatcher(PassLoop):
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
        super().__init__(source, run_pass, interval=interval, stop=stop, on_pass=on_pass, on_status=on_status)
        self.source: FolderSource = source
        self.root = Path(source.root)
        self.where = str(self.root)
        self.settle = settle
        self._watch = watch

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
        pending: dict[str, Change] = {}  # changed paths not passed over yet
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
                    if path in pending or len(pending) < TRACKED_MAX:
                        pending[path] = Change(_signature(path), now)
                    else:
                        overflow = True
                self.status.saw_changes(len(batch), len(pending))
            self._publish()
            if self._identity() != identity:
                return
            if not dirty or now < self._retry_at:
                continue
            if overflow:  # too many to follow one by one: the whole folder must fall quiet
                if now - last_event < self.settle:
                    continue
                ready, held = list(pending), []
            else:
                ready, held = _settled(pending, now, self.settle)
                if pending and not ready:
                    continue
                if not pending and now - last_event < self.settle:
                    continue  # events for paths not followed (a folder moved away): wait for quiet
            if self._try_pass(self._relative(held)):
                for path in ready:
                    del pending[path]
                dirty = bool(pending)
                overflow = False
                if held:
                    self.status.still_queued(len(pending))
                self._set("watching", str(self.root))
            else:
                self._retry_at = time.monotonic() + self._retry_delay()

    def _poll(self) -> None:
        """The fall-back without a watch: an incremental pass every ``interval`` seconds."""
        self._poll_every("the watch limit is reached", until=lambda: self._identity() is None)

    def _not_ready(self) -> str | None:
        if self._identity() is None:
            return f"{self.root} is not a folder (deleted or unmounted?)"
        if _is_empty(self.root):
            return f"{self.root} is empty (an unmounted disk?)"
        return None

    def _relative(self, paths: list[str]) -> frozenset[str]:
        """``paths`` (the watch's, absolute) as the scan names them: relative, with "/"."""
        rel = set()
        for path in paths:
            try:
                rel.add(Path(path).relative_to(self.root).as_posix())
            except ValueError:
                continue
        return frozenset(rel)

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


class Change(NamedTuple):
    """A changed path: its size and mtime when last looked at, and when they last moved."""

    signature: tuple[int, int] | None
    at: float


def _settled(pending: dict[str, Change], now: float, settle: float) -> tuple[list[str], list[str]]:
    """(ready, held): paths unchanged for ``settle`` seconds, and those still being written.

    Looks at each path's size and mtime again (updating ``pending``): a file that grew
    without an event (a copy between two events) is still being written.
    """
    ready, held = [], []
    for path, change in pending.items():
        signature = _signature(path)
        if signature != change.signature:
            pending[path] = change = Change(signature, now)
        (ready if now - change.at >= settle else held).append(path)
    return ready, held


def _is_empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False  # a folder that cannot be listed: the pass's scan says so


def _is_watch_limit(exc: OSError) -> bool:
    text = str(exc).lower()
    return "limit" in text and "watch" in text
