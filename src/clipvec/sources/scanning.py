"""Listing a source, possibly in a background thread while the caller waits on Milvus."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass

from clipvec.sources.types import FoundFile, SkippedEntry, Source


@dataclass(frozen=True)
class Scanned:
    found: list[FoundFile]
    skipped: list[SkippedEntry]


def scan_source(source: Source) -> Scanned:
    skipped: list[SkippedEntry] = []
    found = list(source.scan(skipped))
    return Scanned(found, skipped)


def scan_ahead(source: Source) -> Future[Scanned]:
    """Scan in a background thread while the caller waits on something else.

    Opening a store is mostly waiting (Milvus Lite loads the collection into memory: ~4 s at
    100k images), and a scan of 100k files takes ~1.5 s, so a re-import with nothing to do
    overlaps them. A daemon thread: a run that fails to open its store exits at once.
    """
    future: Future[Scanned] = Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(scan_source(source))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=work, name="clipvec-scan", daemon=True).start()
    return future
