"""``POST /import``: the service imports its own images folder, in the background, with progress.

A Milvus Lite file can be open in one process only, so while the service runs on one,
``clipvec import`` and ``python3 milvus_import.py`` are refused (the lock). The service
already holds the store and the model, so it runs the same incremental import itself: one
run at a time per worker, in a background thread, through the worker's shared store. The
page polls ``POST /import_status`` for progress. With a Milvus server and several workers,
each worker keeps its own status; two runs at once are harmless (records are keyed by
content and every write is verified), only slower.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clipvec.errors import ClipvecError, error_json
from clipvec.indexing.importer import Importer
from clipvec.indexing.pass_loop import PassLoop
from clipvec.indexing.poller import watcher_for
from clipvec.indexing.report import ImportReport
from clipvec.serving.metrics import WatchExport
from clipvec.sources import Scanned
from clipvec.store import ImageStore

if TYPE_CHECKING:
    from clipvec.model.encoder import ClipEncoder
    from clipvec.serving.store_handle import StoreHandle
    from clipvec.settings import Settings
    from clipvec.sources import Source

log = logging.getLogger("clipvec.service")
FAILURES_SHOWN = 20  # failed and skipped files listed in the status; the log has every one


class ImportStopped(Exception):
    """Raised inside a run when the service shuts down: what was written is kept."""


@dataclass
class ImportStatus:
    """What the current or last run is doing; ``as_json`` is the answer's shape."""

    state: str = "idle"  # idle | running | done | failed | stopped
    source: str = ""
    total: int | None = None  # files found by the scan; None until the scan is done
    done: int = 0  # files unchanged or read so far
    started_at: float | None = None
    finished_at: float | None = None
    report: ImportReport | None = None
    error: dict[str, str] | None = None
    runs: int = 0  # runs started by this worker
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            answer: dict[str, Any] = {
                "state": self.state,
                "source": self.source,
                "total": self.total,
                "done": self.done,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "runs": self.runs,
            }
            if self.report is not None:
                answer["result"] = report_json(self.report)
            if self.error is not None:
                answer["error"] = self.error
            return answer


def report_json(report: ImportReport) -> dict[str, Any]:
    """The CLI's summary line as JSON, with the first failed and skipped files."""
    return {
        "imported": report.imported,
        "reused": report.reused,
        "unchanged": report.unchanged,
        "skipped": report.skipped,
        "failed": len(report.failed),
        "pruned": report.pruned,
        "summary": report.summary(),
        "failures": [vars(f) for f in report.failed[:FAILURES_SHOWN]],
        "skipped_files": [vars(f) for f in report.skipped_files[:FAILURES_SHOWN]],
    }


class FolderImports:
    """Starts, reports and stops the background import of one worker's images source."""

    def __init__(self, settings: Settings, encoder: ClipEncoder, store: StoreHandle, source: Source) -> None:
        self.settings = settings
        self.encoder = encoder
        self.store = store
        self.source = source
        self.status = ImportStatus(source=settings.images_dir)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.watcher: PassLoop | None = None  # serve --watch
        self._watch_thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(
        self, prune: bool = False, scanned: Future[Scanned] | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """Start a run unless one is going on; ``(started, status)``. Opens the store first,
        so that a store that cannot be opened is answered now (503/409), not later in the status.

        ``prune`` and ``scanned`` (the folder's scan, already made): for the watcher's passes.
        """
        self.store.get()
        with self.status.lock:
            if self._thread is not None and self._thread.is_alive():
                started = False
            else:
                self.status.state, self.status.total, self.status.done = "running", None, 0
                self.status.started_at, self.status.finished_at = time.time(), None
                self.status.report, self.status.error = None, None
                self.status.runs += 1
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, args=(prune, scanned), name="clipvec-import", daemon=True
                )
                self._thread.start()
                started = True
        return started, self.status.as_json()

    def stop(self, timeout: float = 10.0) -> None:
        """On shutdown: the run stops at its next file; what it wrote is kept (a re-run finishes it)."""
        self._stop.set()
        if self.watcher is not None:
            self.watcher.stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self._watch_thread is not None:
            self._watch_thread.join(timeout)

    # ------------------------------------------------------------------ watch mode (issue 19)
    def start_watching(self) -> None:
        """``serve --watch``: follow the images folder in a thread; its passes are runs like
        ``POST /import``'s (never two at once), with pruning (``clipvec.indexing.watcher``)."""
        self.watcher = watcher_for(
            self.source,
            self.run_and_wait,
            settle=self.settings.watch_settle,
            interval=self.settings.watch_interval,
            on_status=WatchExport(),  # /metrics: the watcher's counters, lag and folder state
        )
        self._watch_thread = threading.Thread(target=self.watcher.run, name="clipvec-watch", daemon=True)
        self._watch_thread.start()

    def run_and_wait(self, prune: bool, scanned: Future[Scanned]) -> ImportReport:
        """One run, waited for; after the one going on, if any (its scan may predate the changes)."""
        while True:
            started, _ = self.start(prune, scanned)
            thread = self._thread
            if thread is not None:
                thread.join()
            if started:
                break
            if self._stop.is_set():
                raise ClipvecError("the service is stopping", code="stopped")
        with self.status.lock:
            report, error = self.status.report, self.status.error
        if report is None:
            error = error or {}
            raise ClipvecError(error.get("detail", "the import failed"), code=error.get("error", "internal"))
        return report

    # ------------------------------------------------------------------ the run
    def _run(self, prune: bool, scanned: Future[Scanned] | None) -> None:
        outcome, report, error = "failed", None, None
        try:
            report = self.store.run(lambda store: self._import(store, prune, scanned))
            outcome = "done"
            log.info("import of %s: %s", self.status.source, report.summary())
        except ImportStopped:
            outcome = "stopped"
            error = error_json("stopped", "the service stopped during the import; run it again to finish")
        except ClipvecError as err:
            log.warning("import of %s failed: %s: %s", self.status.source, err.code, err.detail)
            error = err.to_json()
        except Exception as exc:  # noqa: BLE001 - a thread's last resort: reported in the status, logged whole
            log.exception("import of %s failed", self.status.source)
            error = error_json("internal", f"the import stopped: {type(exc).__name__}: {exc}")
        with self.status.lock:
            self.status.state, self.status.report, self.status.error = outcome, report, error
            self.status.finished_at = time.time()

    def _import(self, store: ImageStore, prune: bool, scanned: Future[Scanned] | None) -> ImportReport:
        settings = self.settings
        importer = Importer.local(
            self.encoder,
            store,
            max_pixels=settings.max_pixels,
            decode_workers=settings.resolved_decode_workers(),
            batch_size=settings.batch_size,
            upsert_batch=settings.upsert_batch,
            max_file_bytes=settings.max_file_bytes,
        )
        return importer.run(
            self.source, prune=prune, progress=self._progress, on_total=self._total, scanned=scanned
        )

    def _progress(self, files: int) -> None:
        if self._stop.is_set():
            raise ImportStopped
        with self.status.lock:
            self.status.done += files

    def _total(self, files: int) -> None:
        with self.status.lock:
            self.status.total = files
