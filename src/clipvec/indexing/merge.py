"""What one finished file means for the collection: a new record, a new path, or nothing.

Contents are keyed by their hash, so a renamed, copied or touched file keeps its record and
vector: only the record's paths (and the primary path's mtime) change. A file whose content
changed leaves its old record (which loses the path, or goes when it had no other). A
record lists at most ``PATHS_KEPT`` paths: a further copy is remembered in the skip memory
(so it is not read again) instead of being written into a record that cannot keep it.
A path stored by a clipvec before issue 22 (relative to a folder other than the images
folder) is replaced by the file's path now, in its place, once its content is seen again.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import replace

from clipvec.indexing.plan import Plan
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.stage import Work
from clipvec.indexing.writer import RecordWriter
from clipvec.sources import FoundFile
from clipvec.store import PATHS_KEPT, ImageRecord


class Merger:
    """Applies each :class:`Work` to the plan's view of the collection and queues the writes."""

    def __init__(
        self,
        plan: Plan,
        writer: RecordWriter,
        report: ImportReport,
        owns: Callable[[str], bool],
        legacy_path: Callable[[str], str | None] = lambda path: None,
    ) -> None:
        self.by_path = plan.by_path
        self.by_hash = plan.by_hash
        self.index = plan.index
        self.memory = plan.memory
        self.seen = plan.seen if plan.seen is not None else {f.rel_path for f in plan.found}
        self.writer = writer
        self.report = report
        self.owns = owns
        self.legacy_path = legacy_path

    def add(self, work: Work) -> None:
        report, path = self.report, work.found.rel_path
        if work.skip is not None:
            report.skipped_files.append(work.skip)
            self.memory.remember(work.found, work.skip.reason, work.skip.detail, failed=False)
            return
        if work.error is not None:
            # reported once, by the caller (CLI: stderr and --errors-file), not logged here too
            report.failed.append(FileFailure(path, work.error.code, work.error.detail))
            if work.error.code != "unreadable":  # a permission fix should be retried
                self.memory.remember(work.found, work.error.code, work.error.detail, failed=True)
            return
        old = self.by_path.get(path)
        if old is not None and old.content_hash != work.content_hash:
            self._drop_path(old, path)  # the file changed content
        known = self.writer.pending.get(work.content_hash) or self.by_hash.get(work.content_hash)
        if known is not None:  # known content: a rename, a copy or a touched file
            record = _with_path(self._relocated(known, path), path, work.found, self.seen, self.owns)
            if path not in record.paths[:1]:  # a copy: not read again while it stays as it is
                self.memory.remember_copy(work.found, work.content_hash)
            if path not in record.paths:  # a copy beyond the PATHS_KEPT names a record lists
                report.reused += 1
                return
            if (record.paths, record.mtime) == (known.paths, known.mtime):
                report.unchanged += 1
                return
            report.reused += int(path not in known.paths)
            report.unchanged += int(path in known.paths)
        else:
            record = ImageRecord(
                content_hash=work.content_hash,
                paths=[path],
                size=work.found.size,
                mtime=work.found.mtime,
                width=work.width,
                height=work.height,
                format=work.format,
                vector=work.vector,
                meta=work.meta,
            )
            report.imported += 1
        self.by_hash[work.content_hash] = record
        self.by_path[path] = record
        # The stage may have stored exactly this new record already; merged ones are ours.
        if not (work.stored and known is None):
            self.writer.put(record)

    def _relocated(self, record: ImageRecord, path: str) -> ImageRecord:
        """``record`` with its pre-issue-22 name for ``path`` (if it lists one) replaced by ``path``."""
        old = self.legacy_path(path)
        if old is None or old not in record.paths or path in record.paths:
            return record
        self.report.relocated += 1
        self.by_path.pop(old, None)
        return replace(record, paths=[path if p == old else p for p in record.paths])

    def gone(self) -> int:
        """Paths of this source still in the collection whose files no longer exist (``--prune``'s work)."""
        if self.index is not None:  # asked of the index on disk: one query, not a lookup per path
            return sum(1 for p in self.index.unlisted_paths() if self.owns(p))
        return sum(
            1 for record in self.by_hash.values() for p in record.paths if p not in self.seen and self.owns(p)
        )

    def _drop_path(self, record: ImageRecord, path: str) -> None:
        remaining = [p for p in record.paths if p != path]
        if remaining:
            updated = replace(record, paths=remaining)
            self.by_hash[record.content_hash] = updated
            self.writer.put(updated)
        else:
            self.by_hash.pop(record.content_hash, None)
            self.writer.delete(record.content_hash)


def _with_path(
    record: ImageRecord, path: str, found: FoundFile, seen: Container[str], owns: Callable[[str], bool]
) -> ImageRecord:
    """The record with ``path`` added (if it lists fewer than ``PATHS_KEPT``); paths that vanished
    from the source are dropped (a rename)."""
    paths = [p for p in record.paths if p in seen or p == path or not owns(p)]
    if path not in paths and len(paths) < PATHS_KEPT:
        paths.append(path)
    primary_mtime = found.mtime if paths[0] == path else record.mtime
    return replace(record, paths=paths, mtime=primary_mtime)
