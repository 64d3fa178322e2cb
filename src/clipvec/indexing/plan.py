"""The plan of an import: what the source holds, what the collection holds, what must be read.

A file whose path, size and mtime are already stored is *unchanged* and never read; so is a
file the skip memory already knows (not an image, broken, or a copy of stored bytes, also
one beyond the ``PATHS_KEPT`` names its record lists) while its size and mtime stay. Everything else is read by the stage.

A large collection's records are not held in memory: past ``IN_MEMORY_MAX`` they stream,
``chunk`` at a time, into a :class:`~.plan_index.PlanIndex` on disk, which answers the plan's
and the merge's questions (so a plan of 10 million records needs no more memory for them
than one of 100 thousand).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Container, Iterable, Iterator, MutableMapping
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import islice

from clipvec.indexing.plan_index import CHUNK, Listed, Match, PlanIndex, RecordsByHash, RecordsByPath
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.skip_memory import SkipMemory
from clipvec.sources import FolderSource, FoundFile, Scanned, Source, scan_ahead
from clipvec.store import PATHS_KEPT, ImageRecord, ImageStore

# Up to this many stored records a plan keeps them in dicts (~1.2 KB each: ~120 MB), as fast as
# ever; beyond, on disk (issue 20: a 1M-record plan took 1.3 GB in dicts, 0.5 GB with the index).
IN_MEMORY_MAX = 100_000


@dataclass
class Plan:
    found: list[FoundFile]  # every file the source lists now
    todo: list[FoundFile]  # the files the stage must read
    by_path: MutableMapping[str, ImageRecord]  # stored records by each of their paths
    by_hash: MutableMapping[str, ImageRecord]  # stored records by content hash
    memory: SkipMemory
    seen: Container[str] | None = None  # the listed paths (None: those of ``found``)
    index: PlanIndex | None = None  # where by_path and by_hash live (None: plain dicts)

    def close(self) -> None:
        """Release the index's file (also done when the plan is dropped)."""
        if self.index is not None:
            self.index.close()


def make_plan(
    store: ImageStore,
    source: Source,
    scanned: Future[Scanned] | None,
    report: ImportReport,
    *,
    max_pixels: int,
    max_file_bytes: int,
    remember_skips: bool,
    chunk: int = CHUNK,
    in_memory_max: int = IN_MEMORY_MAX,
) -> Plan:
    """Compare the source with the collection; counts the unchanged and the known skips in ``report``.

    A collection of up to ``in_memory_max`` records is planned in dicts (the fastest way,
    ~1.2 KB a record); a larger one in a :class:`PlanIndex` on disk, to which the records
    stream ``chunk`` at a time. Either way at most ``in_memory_max + 1`` records are held.
    """
    # The scan runs while the collection is read (both are mostly waiting: on the disk, on Milvus).
    scanned = scanned or scan_ahead(source)
    records = store.iter_records()
    head = list(islice(records, in_memory_max + 1))
    if len(head) <= in_memory_max:
        by_path: dict[str, ImageRecord] = {}
        by_hash: dict[str, ImageRecord] = {}
        for record in head:
            by_hash[record.content_hash] = record
            for path in record.paths:
                by_path[path] = record
        del head
        scan = scanned.result()
        todo, memory = _compare(
            _matches(by_path, scan.found),
            lambda h: len(by_hash[h].paths) if h in by_hash else None,
            source,
            scan,
            report,
            max_pixels,
            max_file_bytes,
            remember_skips,
        )
        return Plan(scan.found, todo, by_path, by_hash, memory)
    index = PlanIndex(chunk=chunk)
    try:
        index.add_records(head)
        head.clear()
        index.add_records(records)
        scan = scanned.result()
        index.add_found(scan.found)
        index.finish()
        todo, memory = _compare(
            index.matches(),
            index.path_count,
            source,
            scan,
            report,
            max_pixels,
            max_file_bytes,
            remember_skips,
        )
    except BaseException:
        index.close()
        raise
    return Plan(
        scan.found, todo, RecordsByPath(index), RecordsByHash(index), memory, seen=Listed(index), index=index
    )


def _matches(by_path: dict[str, ImageRecord], found: list[FoundFile]) -> Iterator[Match]:
    """What the index's ``matches`` answers, from dicts."""
    for f in found:
        rec = by_path.get(f.rel_path)
        if rec is None:
            yield Match(None, None, None, None)
        else:
            yield Match(rec.content_hash, rec.size, rec.mtime, bool(rec.paths) and rec.paths[0] == f.rel_path)


def _compare(
    matches: Iterable[Match],
    path_count: Callable[[str], int | None],
    source: Source,
    scan: Scanned,
    report: ImportReport,
    max_pixels: int,
    max_file_bytes: int,
    remember_skips: bool,
) -> tuple[list[FoundFile], SkipMemory]:
    """(the files to read, the skip memory): each listed file against the record at its path."""
    report.skipped_files.extend(FileFailure(e.rel_path, e.reason, e.detail) for e in scan.skipped)
    memory = (
        SkipMemory.load(source.root, max_pixels)
        if remember_skips and isinstance(source, FolderSource)
        else SkipMemory(None, max_pixels)  # an S3 prefix: nothing written into the bucket
    )
    todo: list[FoundFile] = []
    for f, rec in zip(scan.found, matches, strict=True):
        copy_of = memory.copy_of(f)
        if rec.content_hash is not None:
            unchanged = rec.size == f.size and (_same_mtime(rec, f) or copy_of == rec.content_hash)
        else:  # a copy beyond the PATHS_KEPT names its record lists?
            unchanged = copy_of is not None and _lists_all_it_keeps(path_count(copy_of))
        if unchanged:
            report.unchanged += 1
        elif (known := memory.get(f)) is not None:  # not an image / failed, and unchanged
            reason, detail, failed = known
            # A file that failed before fails the run that found it, not every run after it.
            (report.known_broken if failed else report.skipped_files).append(
                FileFailure(f.rel_path, reason, detail)
            )
        elif f.size > max_file_bytes:
            report.skipped_files.append(
                FileFailure(
                    f.rel_path,
                    "too_large",
                    f"{f.size} bytes, over the limit of {max_file_bytes} (CLIPVEC_MAX_FILE_BYTES)",
                )
            )
        else:
            todo.append(f)
    return todo, memory


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a plan builds its ~3 objects per file (and no cycles).

    Otherwise the collector rescans the growing heap again and again: a quarter of the time
    of a 100k-file import with nothing to do (9.8 s -> 7.5 s on Lite).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _lists_all_it_keeps(path_count: int | None) -> bool:
    """Whether a further copy of a record's bytes stays unlisted: it already lists ``PATHS_KEPT`` names."""
    return path_count is not None and path_count >= PATHS_KEPT


def _same_mtime(record: Match, found: FoundFile) -> bool:
    """Only the primary path's mtime is stored (a copy's is in the skip memory, see SkipMemory.copies)."""
    return bool(record.is_primary) and record.mtime is not None and abs(record.mtime - found.mtime) < 1e-3
