"""What the folder watcher and the S3 poller share: one incremental pass at a time, its status, its retries.

A pass is the import's (``run_pass``: the rules of ``clipvec import --prune``). It runs only
when the source is there (``_not_ready``: a missing or empty folder) and lists something
(``_nothing_listed``: an S3 prefix with no object), because a pruning pass over nothing
would drop every record. It imports without pruning when a folder below could not be
listed or files are held back. A failed pass is retried with a back-off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from clipvec.errors import ClipvecError
from clipvec.indexing.report import ImportReport
from clipvec.indexing.watch_status import WatchCounts, WatchStatus
from clipvec.sources import Scanned, Source, scan_ahead

log = logging.getLogger("clipvec.indexing.watcher")  # the watcher's logger, as its logs always said

PassRunner = Callable[[bool, "Future[Scanned]"], ImportReport]  # (prune, the source's scan) -> report
RETRY_MAX = 30.0  # seconds between tries of a failing pass, at most


def unlisted_folders(scan: Scanned) -> list[str]:
    """Folders the scan could not list: their files are unknown, so a prune would drop them."""
    return [
        e.rel_path for e in scan.skipped if e.reason == "unreadable" and e.detail.startswith("cannot list")
    ]


class PassLoop:
    """Runs ``run_pass`` over ``source`` when asked, keeps ``status``; ``stop`` ends the loops."""

    def __init__(
        self,
        source: Source,
        run_pass: PassRunner,
        *,
        interval: float = 60.0,
        stop: threading.Event | None = None,
        on_pass: Callable[[ImportReport], None] | None = None,
        on_status: Callable[[WatchCounts], None] | None = None,
    ) -> None:
        self.source = source
        self.where = source.display  # what the logs and the status name
        self.run_pass = run_pass
        self.interval = interval
        self.stop = stop or threading.Event()
        self.on_pass = on_pass
        self.on_status = on_status  # every tick and change of state: metrics follow the lag
        self.status = WatchStatus()
        self._retry_at = 0.0
        self._failures = 0  # passes failed in a row (the back-off)

    def run(self) -> None:
        """Keep the source's records current until ``stop`` is set (blocks)."""
        raise NotImplementedError

    def _not_ready(self) -> str | None:
        """Why no pass may run now (None: it may)."""
        return None

    def _nothing_listed(self, scan: Scanned) -> str | None:
        """Why this scan must not be passed over (None: it may)."""
        return None

    def _poll_every(self, why: str, until: Callable[[], bool]) -> None:
        """A pass every ``interval`` seconds (``why`` there is no watch) until ``until()`` or ``stop``."""
        while not self.stop.is_set():
            if until():
                return
            if self._try_pass():
                self._set("polling", f"every {self.interval:.0f} s ({why})")
            self.stop.wait(self.interval if self._failures == 0 else min(self.interval, self._retry_delay()))

    def _try_pass(self, held: frozenset[str] = frozenset()) -> bool:
        """One incremental pass without the files ``held`` back (relative paths, still being
        written); False when it did not run or failed (to be tried again)."""
        reason = self._not_ready()
        if reason is not None:
            self._unavailable(reason)
            return False
        self._set("indexing", self.where)
        scanned = scan_ahead(self.source)
        try:
            scan = scanned.result()
            reason = self._nothing_listed(scan)
            if reason is not None:
                self._unavailable(reason)
                return False
            unlisted = unlisted_folders(scan)
            if unlisted:
                log.warning(
                    "%s: %d folders could not be listed (%s...): importing without pruning this time",
                    self.where,
                    len(unlisted),
                    unlisted[0],
                )
            if held:
                log.debug(
                    "%s: %d files still being written are left for the next pass", self.where, len(held)
                )
                scanned = _done(Scanned([f for f in scan.found if f.rel_path not in held], scan.skipped))
            report = self.run_pass(not unlisted and not held, scanned)
        except ClipvecError as err:
            self._failed(f"{err.code}: {err.detail}")
            return False
        except Exception as exc:  # noqa: BLE001 - a watcher outlives a failed pass; the next one retries
            log.exception("watch pass over %s failed", self.where)
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        self.status.pass_done(report)
        self._failures = 0
        log.info("%s: %s", self.where, report.summary())
        if self.on_pass is not None:
            self.on_pass(report)
        return True

    def _failed(self, detail: str) -> None:
        self._failures += 1
        self.status.pass_failed()
        log.warning(
            "watch pass over %s failed (%s); tried again in %.0f s", self.where, detail, self._retry_delay()
        )
        self._set("retrying", detail)

    def _retry_delay(self) -> float:
        return min(RETRY_MAX, 2.0 ** max(0, self._failures - 1))

    def _unavailable(self, detail: str) -> None:
        if self.status.state != "unavailable":
            log.warning("%s; the collection is kept as it is, until it is back", detail)
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


def _done(scan: Scanned) -> Future[Scanned]:
    future: Future[Scanned] = Future()
    future.set_result(scan)
    return future
