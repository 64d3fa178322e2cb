"""What a folder watcher is doing and has done: one record for logs, ``/import_status`` and metrics.

The watcher (``clipvec.indexing.watcher``) writes it; readers take a ``WatchCounts``
snapshot, which is consistent (taken under the lock) and carries the lag computed at the
time it is taken. Counts only grow, so an exporter turns them into Prometheus counters by
adding the difference since its last snapshot (``clipvec.serving.watch_metrics``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from clipvec.indexing.report import ImportReport


@dataclass(frozen=True)
class WatchCounts:
    """A snapshot of ``WatchStatus``; ``as_json`` is the ``watch`` object of ``/import_status``."""

    state: str = "starting"
    detail: str = ""
    events: int = 0  # relevant file events seen
    queued: int = 0  # changed paths waiting for a pass (the page's "indexing N files")
    indexed: int = 0  # files written by passes: newly encoded, or new paths of stored contents
    failed_files: int = 0  # files passes could not index (each pass's new failures)
    passes: int = 0  # passes run to the end
    failed: int = 0  # passes that failed (retried)
    pending: bool = False  # changes seen and not indexed yet
    lag_seconds: float = 0.0  # from the oldest change not indexed yet to now; 0 when idle
    folder_present: bool = True  # False while the folder is missing, not a folder, or empty
    polling: bool = False  # the watch limit is reached: periodic passes instead of events

    def as_json(self) -> dict[str, Any]:
        answer = asdict(self)
        answer["lag_seconds"] = round(self.lag_seconds, 3)
        return answer


@dataclass
class WatchStatus:
    """The watcher's live record; every change goes through a method (under ``lock``)."""

    state: str = "starting"  # starting | watching | indexing | polling | unavailable | retrying | stopped
    detail: str = ""
    events: int = 0
    queued: int = 0
    indexed: int = 0
    failed_files: int = 0
    passes: int = 0
    failed: int = 0
    pending: bool = False
    oldest_change: float | None = None  # time.monotonic() of the oldest change not indexed yet
    folder_present: bool = True
    polling: bool = False
    last_report: ImportReport | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def set_state(self, state: str, detail: str) -> None:
        with self.lock:
            self.state, self.detail = state, detail
            if state == "unavailable":
                self.folder_present = False
            elif state != "stopped":
                self.folder_present = True

    def set_polling(self, polling: bool) -> None:
        with self.lock:
            self.polling = polling

    def saw_changes(self, events: int, queued: int) -> None:
        """``events`` new file events; ``queued`` changed paths now waiting."""
        with self.lock:
            self.events += events
            self.queued = queued
            self.pending = True
            if self.oldest_change is None:
                self.oldest_change = self.clock()

    def pass_done(self, report: ImportReport) -> None:
        """A pass ran to the end: what was queued before it is indexed."""
        with self.lock:
            self.passes += 1
            self.indexed += report.imported + report.reused
            self.failed_files += len(report.failed)
            self.last_report = report
            self.pending, self.queued, self.oldest_change = False, 0, None

    def still_queued(self, queued: int) -> None:
        """After a pass that held back ``queued`` paths still being written: they still wait."""
        with self.lock:
            self.pending, self.queued = True, queued
            self.oldest_change = self.clock()

    def pass_failed(self) -> None:
        with self.lock:
            self.failed += 1

    def snapshot(self) -> WatchCounts:
        with self.lock:
            lag = 0.0 if self.oldest_change is None else max(0.0, self.clock() - self.oldest_change)
            return WatchCounts(
                state=self.state,
                detail=self.detail,
                events=self.events,
                queued=self.queued,
                indexed=self.indexed,
                failed_files=self.failed_files,
                passes=self.passes,
                failed=self.failed,
                pending=self.pending,
                lag_seconds=lag,
                folder_present=self.folder_present,
                polling=self.polling,
            )

    def as_json(self) -> dict[str, Any]:
        return self.snapshot().as_json()
