"""``clipvec watch [FOLDER | s3://bucket/prefix]``: keep a source's records current (issue 19).

One incremental pass at start (the rules of ``clipvec import --prune``), then the folder's
changes are followed and indexed in batches (``clipvec.indexing.watcher``), or an S3
prefix's listing is compared every ``CLIPVEC_WATCH_INTERVAL`` seconds
(``clipvec.indexing.poller``), until Ctrl-C or SIGTERM. Each pass prints the import's summary line. On a Milvus Lite file the watcher holds
the file like an import does: a service or an import beside it gets the lock error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

from clipvec.cli.import_cmd import import_source, open_local_import, say_what_it_adds_to
from clipvec.indexing.poller import watcher_for
from clipvec.indexing.report import ImportReport
from clipvec.settings import Settings
from clipvec.sources import FolderSource, Scanned


def run_watch(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when stopped by a signal, 2 when it could not start."""
    source = import_source(settings, args)
    if source is None:
        return 2
    store, importer = open_local_import(settings, float(args.wait or 0))
    try:
        say_what_it_adds_to(store, source, settings)

        def run_pass(prune: bool, scanned: Future[Scanned]) -> ImportReport:
            return importer.run(source, prune=prune, scanned=scanned)

        def said(report: ImportReport) -> None:
            print(
                f"{source.display}: {report.summary()}; the collection holds {store.count()} images",
                flush=True,
            )

        watcher = watcher_for(
            source,
            run_pass,
            settle=settings.watch_settle,
            interval=settings.watch_interval,
            on_pass=said,
        )
        polled = (
            "" if isinstance(source, FolderSource) else f", its listing every {settings.watch_interval:g} s"
        )
        print(f"watching {source.display}{polled} (Ctrl-C stops)", file=sys.stderr, flush=True)
        with _stopped_by_signals(watcher.stop):
            watcher.run()
    finally:
        store.close()
    return 0


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM end the watch after the pass going on; a second one stops at once
    (what was written is kept either way: the next start's pass finishes the rest)."""

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("clipvec: stopping after the current pass (again: stop now)", file=sys.stderr, flush=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
