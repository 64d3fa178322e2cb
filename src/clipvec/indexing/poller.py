"""Watching an S3 prefix (issue 19.6): S3 has no portable change feed, so its listing is polled.

Every ``interval`` seconds (``CLIPVEC_WATCH_INTERVAL``) one incremental pass of the import
compares the prefix's listing (paginated by s3fs, one LIST request per 1,000 objects) with
the collection: new and changed objects are read, unchanged ones are not, vanished ones are
pruned. A listing with no object at all gets no pass (a wrong prefix or an emptied bucket
must not empty the collection), and a listing that fails is retried with a back-off.
"""

from __future__ import annotations

from collections.abc import Callable

from clipvec.indexing.pass_loop import PassLoop, PassRunner
from clipvec.indexing.report import ImportReport
from clipvec.indexing.watch_status import WatchCounts
from clipvec.indexing.watcher import FolderWatcher
from clipvec.sources import FolderSource, Scanned, Source


class PrefixPoller(PassLoop):
    """A pass over ``source`` every ``interval`` seconds until ``stop``; ``run`` blocks."""

    def run(self) -> None:
        self.status.set_polling(True)
        try:
            self._poll_every("S3 has no change feed", until=lambda: False)
        finally:
            self._set("stopped", "")

    def _nothing_listed(self, scan: Scanned) -> str | None:
        if not scan.found and not scan.skipped:
            return f"{self.where} lists no object (a wrong prefix, or an emptied bucket?)"
        return None


def watcher_for(
    source: Source,
    run_pass: PassRunner,
    *,
    settle: float,
    interval: float,
    on_pass: Callable[[ImportReport], None] | None = None,
    on_status: Callable[[WatchCounts], None] | None = None,
) -> PassLoop:
    """The watcher of ``source``: a folder's file events, or an S3 prefix's polled listing."""
    if isinstance(source, FolderSource):
        return FolderWatcher(
            source, run_pass, settle=settle, interval=interval, on_pass=on_pass, on_status=on_status
        )
    return PrefixPoller(source, run_pass, interval=interval, on_pass=on_pass, on_status=on_status)
