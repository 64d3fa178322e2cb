"""Folder -> Milvus: incremental, resumable import with per-file error isolation.

Stages (clip-retrieval's reader / mapper / writer split, each timed):

* **plan**: scan the folder and compare with what the collection holds. A file whose
  path, size and mtime are already stored is *unchanged* and never read.
* **read + decode** (threads, bounded look-ahead): read the bytes once, hash them
  (sha256 is the primary key), and decode + preprocess only contents the collection
  does not have. A renamed or copied file is found by its hash and reuses its vector.
* **encode** in batches while the next files decode, then **write** batched upserts.

Everything lives in Milvus keyed by content hash, so a run killed at any moment is
repaired by running again: what was written is skipped, the rest is done, nothing is
duplicated. A file that cannot be read or decoded is reported and skipped.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipvec.errors import ClipvecError, UnsupportedImageFormat
from clipvec.images.decode import SUPPORTED_FORMATS, decode_image, sniff_format
from clipvec.images.prepare import PreparedImage, prepare_decoded
from clipvec.indexing.skip_memory import SkipMemory
from clipvec.locations import is_s3_uri
from clipvec.model.facts import facts_at_hand
from clipvec.settings import Settings
from clipvec.sources import FolderSource, FoundFile, Scanned, Source, open_source, scan_ahead
from clipvec.store import ImageRecord, ImageStore

if TYPE_CHECKING:
    from clipvec.model.encoder import ClipEncoder

SNIFF_BYTES = 4096  # enough for every magic number sniff_format knows
DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024

log = logging.getLogger(__name__)


@dataclass
class FileFailure:
    path: str
    reason: str
    detail: str


@dataclass
class ImportReport:
    """What one run did; ``failed`` decides the exit code."""

    imported: int = 0  # newly encoded contents
    reused: int = 0  # new paths whose content was already stored (renames, copies)
    unchanged: int = 0
    failed: list[FileFailure] = field(default_factory=list)
    # not imported, with the reason: not images (by content), too large, empty, FIFOs, links
    skipped_files: list[FileFailure] = field(default_factory=list)
    pruned: int = 0
    model_loaded: bool = False
    files_read: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: Counter())

    @property
    def skipped(self) -> int:
        return len(self.skipped_files)

    def summary(self) -> str:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        reasons = Counter(f.reason for f in self.skipped_files)
        why = " (" + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) + ")" if reasons else ""
        return (
            f"imported {self.imported}, reused {self.reused}, unchanged {self.unchanged}, "
            f"skipped {self.skipped}{why}, failed {len(self.failed)}, pruned {self.pruned}"
            + (f" ({stages})" if stages else "")
        )


@dataclass
class _Work:
    """One file that needs reading: decoded result or failure filled in by a worker."""

    found: FoundFile
    content_hash: str = ""
    prepared: PreparedImage | None = None
    error: ClipvecError | None = None
    skip: FileFailure | None = None  # not an image, or too large
    vector: np.ndarray | None = None
    decode_seconds: float = 0.0
    written: bool = False  # already upserted by a Ray worker (clipvec.indexing.ray_stage)


class Importer:
    """Imports folders into one store with one encoder."""

    def __init__(
        self,
        encoder: ClipEncoder | Callable[[], ClipEncoder],
        store: ImageStore,
        *,
        max_pixels: int = 100_000_000,
        decode_workers: int = 2,
        batch_size: int = 32,
        upsert_batch: int = 256,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        remember_skips: bool = True,
    ) -> None:
        """``encoder`` may be a loader: then the model is loaded only if a file needs it."""
        if hasattr(encoder, "encode_pixels"):
            self._encoder: ClipEncoder | None = encoder  # type: ignore[assignment]
            self._load_encoder: Callable[[], ClipEncoder] | None = None
        else:
            self._encoder, self._load_encoder = None, encoder  # type: ignore[assignment]
        self._encoder_lock = threading.Lock()
        self.store = store
        self.max_pixels = max_pixels
        self.decode_workers = max(1, decode_workers)
        self.batch_size = batch_size
        self.upsert_batch = upsert_batch
        self.max_file_bytes = max_file_bytes
        self.remember_skips = remember_skips
        self.source: Source = FolderSource(Path("."))  # set by run()

    @property
    def encoder(self) -> ClipEncoder:
        with self._encoder_lock:
            if self._encoder is None:
                assert self._load_encoder is not None
                self._encoder = self._load_encoder()
            return self._encoder

    @property
    def encoder_loaded(self) -> bool:
        return self._encoder is not None

    # ------------------------------------------------------------------ plan
    def run(
        self,
        root: Path | str | Source,
        *,
        prune: bool = False,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        scanned: Future[Scanned] | None = None,
    ) -> ImportReport:
        """Import ``root``; ``scanned``: its scan, already started by ``scan_ahead``."""
        report = ImportReport()
        t0 = time.perf_counter()
        # A folder or an s3:// prefix (clipvec.sources); paths of other sources are left alone.
        self.source = root if hasattr(root, "owns") else open_source(root)  # type: ignore[arg-type]
        with gc_paused():
            found, todo, by_path, by_hash, memory = self._plan(scanned, report)
        report.seconds["plan"] = time.perf_counter() - t0
        if on_total is not None:
            on_total(len(found))
        if progress is not None and report.unchanged:
            progress(report.unchanged)

        seen = {f.rel_path for f in found}
        pending: dict[str, ImageRecord] = {}  # hash -> record to upsert (paths merged)
        for work in self._read_ahead(todo, by_hash, report):
            report.files_read += 1
            if progress is not None:
                progress(1)
            path = work.found.rel_path
            if work.skip is not None:
                report.skipped_files.append(work.skip)
                memory.remember(work.found, work.skip.reason, work.skip.detail, failed=False)
                continue
            if work.error is not None:
                # reported once, by the caller (CLI: stderr and --errors-file), not logged here too
                report.failed.append(FileFailure(path, work.error.code, work.error.detail))
                if work.error.code != "unreadable":  # a permission fix should be retried
                    memory.remember(work.found, work.error.code, work.error.detail, failed=True)
                continue
            old = by_path.get(path)
            if old is not None and old.content_hash != work.content_hash:
                self._drop_path(old, path, pending, by_hash)  # the file changed content
            known = pending.get(work.content_hash) or by_hash.get(work.content_hash)
            if known is not None:  # known content: a rename, a copy or a touched file
                record = _with_path(known, path, work.found, seen, self.source.owns)
                if path in record.paths[1:]:  # a copy: not read again while it stays as it is
                    memory.remember_copy(work.found, work.content_hash)
                if (record.paths, record.mtime) == (known.paths, known.mtime):
                    report.unchanged += 1
                    continue
                report.reused += int(path not in known.paths)
                report.unchanged += int(path in known.paths)
                if record.vector is None:
                    record.vector = self._stored_vector(record.content_hash)
            else:
                assert work.prepared is not None
                record = ImageRecord(
                    content_hash=work.content_hash,
                    paths=[path],
                    size=work.found.size,
                    mtime=work.found.mtime,
                    width=work.prepared.width,
                    height=work.prepared.height,
                    format=work.prepared.format,
                    vector=work.vector,
                )
                report.imported += 1
            # A Ray worker may have stored exactly this new record already; merged ones are ours.
            if not (work.written and known is None):
                pending[work.content_hash] = record
            by_hash[work.content_hash] = record
            by_path[path] = record
            if len(pending) >= self.upsert_batch:
                self._flush(pending, report)
        self._flush(pending, report)
        self.store.confirm_writes()  # nothing is reported imported that is not stored
        memory.save(seen)
        if prune:
            report.pruned = self._prune(seen, by_hash, report)
        report.model_loaded = self.encoder_loaded
        report.seconds["total"] = time.perf_counter() - t0
        return report

    def _plan(
        self, scanned: Future[Scanned] | None, report: ImportReport
    ) -> tuple[list[FoundFile], list[FoundFile], dict[str, ImageRecord], dict[str, ImageRecord], SkipMemory]:
        """(found, to read, stored by path, stored by hash, skip memory); counts the unchanged."""
        # The scan runs while the collection is read (both are mostly waiting: on the disk, on Milvus).
        scanned = scanned or scan_ahead(self.source)
        by_path: dict[str, ImageRecord] = {}
        by_hash: dict[str, ImageRecord] = {}
        for record in self.store.iter_records():
            by_hash[record.content_hash] = record
            for path in record.paths:
                by_path[path] = record
        scan = scanned.result()
        found = scan.found
        report.skipped_files.extend(FileFailure(e.rel_path, e.reason, e.detail) for e in scan.skipped)
        memory = (
            SkipMemory.load(self.source.root, self.max_pixels)
            if self.remember_skips and isinstance(self.source, FolderSource)
            else SkipMemory(None, self.max_pixels)  # an S3 prefix: nothing written into the bucket
        )
        todo: list[FoundFile] = []
        for f in found:
            rec = by_path.get(f.rel_path)
            if (
                rec is not None
                and rec.size == f.size
                and (_same_mtime(rec, f) or memory.copy_of(f) == rec.content_hash)
            ):
                report.unchanged += 1
            elif (known := memory.get(f)) is not None:  # not an image / failed, and unchanged
                reason, detail, failed = known
                (report.failed if failed else report.skipped_files).append(
                    FileFailure(f.rel_path, reason, detail)
                )
            elif f.size > self.max_file_bytes:
                report.skipped_files.append(
                    FileFailure(
                        f.rel_path,
                        "too_large",
                        f"{f.size} bytes, over the limit of {self.max_file_bytes} (CLIPVEC_MAX_FILE_BYTES)",
                    )
                )
            else:
                todo.append(f)
        return found, todo, by_path, by_hash, memory

    # ------------------------------------------------------------------ read, decode, encode
    def _read_ahead(
        self, todo: list[FoundFile], by_hash: dict[str, ImageRecord], report: ImportReport
    ) -> Iterator[_Work]:
        """Yield finished work in order; decoding runs ahead in threads, encoding in batches."""
        window = max(2 * self.batch_size, 4 * self.decode_workers)
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="clipvec-read") as pool:
            files = iter(todo)
            inflight: deque[Future[_Work]] = deque()

            def top_up() -> None:
                while len(inflight) < window:
                    nxt = next(files, None)
                    if nxt is None:
                        return
                    inflight.append(pool.submit(self._read_one, nxt, by_hash))

            top_up()
            batch: list[_Work] = []
            while inflight:
                work = inflight.popleft().result()
                top_up()
                batch.append(work)
                if sum(w.prepared is not None for w in batch) >= self.batch_size:
                    yield from self._encode(batch, report)
                    batch = []
            yield from self._encode(batch, report)

    def _read_one(self, found: FoundFile, by_hash: dict[str, ImageRecord]) -> _Work:
        t0 = time.perf_counter()
        work = _Work(found)
        try:
            # The first bytes decide: a non-image is never read further (a 2 GB video costs 4 KB).
            with self.source.open(found.rel_path) as f:
                head = f.read(SNIFF_BYTES)
                kind = sniff_format(head)
                if kind not in SUPPORTED_FORMATS:
                    work.skip = FileFailure(
                        found.rel_path, "not_image", f"content is {kind or 'not an image'}"
                    )
                    return work
                data = head + f.read(self.max_file_bytes + 1 - len(head))
        except OSError as exc:
            work.error = ClipvecError(f"cannot read: {exc.strerror or exc}", code="unreadable")
            return work
        if len(data) > self.max_file_bytes:  # it grew since the scan
            work.skip = FileFailure(
                found.rel_path,
                "too_large",
                f"over the limit of {self.max_file_bytes} bytes (CLIPVEC_MAX_FILE_BYTES)",
            )
            return work
        work.content_hash = hashlib.sha256(data).hexdigest()
        if work.content_hash in by_hash:
            return work  # known content: its stored vector is reused
        try:
            encoder = self.encoder
            decoded = decode_image(
                data, max_pixels=self.max_pixels, min_side=encoder.preprocessor.min_decode_side
            )
            work.prepared = prepare_decoded(decoded, encoder.preprocessor)
        except UnsupportedImageFormat as err:
            work.skip = FileFailure(found.rel_path, "not_image", err.detail)
        except ClipvecError as err:
            work.error = err
        work.decode_seconds = time.perf_counter() - t0
        return work

    def _encode(self, batch: list[_Work], report: ImportReport) -> Iterator[_Work]:
        ready = [w for w in batch if w.prepared is not None]
        if ready:
            t0 = time.perf_counter()
            vectors = self.encoder.encode_pixels(np.stack([w.prepared.pixels for w in ready]))  # type: ignore[union-attr]
            report.seconds["encode"] += time.perf_counter() - t0
            for w, v in zip(ready, vectors, strict=True):
                w.vector = v
        report.seconds["decode"] += sum(w.decode_seconds for w in batch) / self.decode_workers
        yield from batch

    # ------------------------------------------------------------------ write
    def _stored_vector(self, content_hash: str) -> np.ndarray:
        stored = self.store.get([content_hash], with_vectors=True)[content_hash]
        assert stored.vector is not None
        return stored.vector

    def _drop_path(
        self, record: ImageRecord, path: str, pending: dict[str, ImageRecord], by_hash: dict[str, ImageRecord]
    ) -> None:
        remaining = [p for p in record.paths if p != path]
        if remaining:
            updated = _replace(record, paths=remaining)
            if updated.vector is None:
                updated.vector = self._stored_vector(record.content_hash)
            pending[record.content_hash] = updated
            by_hash[record.content_hash] = updated
        else:
            pending.pop(record.content_hash, None)
            by_hash.pop(record.content_hash, None)
            self.store.delete([record.content_hash])

    def _flush(self, pending: dict[str, ImageRecord], report: ImportReport) -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        self.store.upsert(list(pending.values()), defer_check=True)
        log.info("wrote %d records", len(pending))
        pending.clear()
        report.seconds["write"] += time.perf_counter() - t0

    def _prune(self, seen: set[str], by_hash: dict[str, ImageRecord], report: ImportReport) -> int:
        """Forget paths that no longer exist; delete contents left with no path."""
        t0 = time.perf_counter()
        gone = 0
        doomed: list[str] = []
        updates: list[ImageRecord] = []
        for record in self.store.iter_records():
            alive = [p for p in record.paths if p in seen or not self.source.owns(p)]
            if len(alive) == len(record.paths):
                continue
            gone += len(record.paths) - len(alive)
            if alive:
                updated = _replace(record, paths=alive)
                updated.vector = self._stored_vector(record.content_hash)
                updates.append(updated)
            else:
                doomed.append(record.content_hash)
        if updates:
            self.store.upsert(updates)
        if doomed:
            self.store.delete(doomed)
        report.seconds["prune"] += time.perf_counter() - t0
        return gone


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


def _same_mtime(record: ImageRecord, found: FoundFile) -> bool:
    """Only the primary path's mtime is stored (a copy's is in the skip memory, see SkipMemory.copies)."""
    return record.paths[0] == found.rel_path and abs(record.mtime - found.mtime) < 1e-3


def _replace(record: ImageRecord, **changes: object) -> ImageRecord:
    from dataclasses import replace

    return replace(record, **changes)


def _with_path(
    record: ImageRecord, path: str, found: FoundFile, seen: set[str], owns: Callable[[str], bool]
) -> ImageRecord:
    """The record with ``path`` added; paths that vanished from the source are dropped (a rename)."""
    paths = [p for p in record.paths if p in seen or p == path or not owns(p)]
    if path not in paths:
        paths.append(path)
    primary_mtime = found.mtime if paths[0] == path else record.mtime
    return _replace(record, paths=paths, mtime=primary_mtime)


# ---------------------------------------------------------------------- CLI
SKIPPED_SHOWN = 20  # skipped files listed on stderr; --errors-file has them all


def model_identity(model: str) -> tuple[str, int] | None:
    """(name, dim) of a CLIP checkpoint from its config.json alone, or None if not at hand.

    Lets the import open the collection and find out that there is nothing to do without
    loading the model (seconds) at all. New code: ``clipvec.model.facts.facts_at_hand``.
    """
    return (facts.name, facts.dim) if (facts := facts_at_hand(model)) else None


def import_source(settings: Settings, args) -> Source | None:
    """The folder or ``s3://`` prefix to import (argument, else CLIPVEC_IMAGES_DIR); None: said why."""
    location = str(args.folder or settings.images_dir)
    if not is_s3_uri(location) and not Path(location).is_dir():
        print(
            f"clipvec: {location} is not a folder (set CLIPVEC_IMAGES_DIR or pass a folder)", file=sys.stderr
        )
        return None
    return open_source(location)


def run_import_cli(settings: Settings, args) -> int:
    """``clipvec import DIR|s3://bucket/prefix``: exit 0 all good, 1 some files failed, 2 could not run.

    torch and the model are loaded only when a file needs encoding: a re-import with
    nothing to do takes the time of the scan and of reading the collection.
    """
    source = import_source(settings, args)
    if source is None:
        return 2
    scanned = scan_ahead(source)  # while the store opens
    identity = model_identity(settings.model)
    loaded: ClipEncoder | None = None
    if identity is None:
        from clipvec.model.encoder import ClipEncoder

        loaded = ClipEncoder.from_settings(settings)
        identity = (loaded.name, loaded.dim)

    def load_encoder() -> ClipEncoder:
        from clipvec.model.encoder import ClipEncoder

        encoder = loaded or ClipEncoder.from_settings(settings)
        if (encoder.name, encoder.dim) != identity:
            raise ClipvecError(
                f"model {encoder.name} has dim {encoder.dim}, its config.json said {identity[1]}"
            )
        return encoder

    with gc_paused():  # the scan runs meanwhile
        store = ImageStore.from_settings(
            settings, model_name=identity[0], dim=identity[1], lock_wait=float(getattr(args, "wait", 0) or 0)
        )
    workers = settings.decode_workers or max(2, settings.resolved_threads())
    importer = Importer(
        load_encoder,
        store,
        max_pixels=settings.max_pixels,
        decode_workers=workers,
        batch_size=settings.batch_size,
        upsert_batch=settings.upsert_batch,
        max_file_bytes=settings.max_file_bytes,
    )
    bar = _progress_bar(disabled=getattr(args, "no_progress", False))
    try:
        report = importer.run(
            source, prune=args.prune, progress=bar.update, on_total=bar.set_total, scanned=scanned
        )
        total = store.count()
    finally:
        bar.close()
        store.close()
    for failure in report.failed:
        print(f"failed: {failure.path}: {failure.detail}", file=sys.stderr)
    for skip in report.skipped_files[:SKIPPED_SHOWN]:
        print(f"skipped: {skip.path}: {skip.reason}: {skip.detail}", file=sys.stderr)
    if report.skipped > SKIPPED_SHOWN:
        print(
            f"skipped: ... and {report.skipped - SKIPPED_SHOWN} more (--errors-file lists all)",
            file=sys.stderr,
        )
    if args.errors_file:
        _write_errors(args.errors_file, report.failed, report.skipped_files)
    print(f"{source.display}: {report.summary()}; the collection holds {total} images")
    return 1 if report.failed else 0


def _write_errors(path: Path, failures: Iterable[FileFailure], skipped: Iterable[FileFailure] = ()) -> None:
    """JSON lines: ``{"path", "error", "detail", "status": "failed" | "skipped"}``."""
    with open(path, "w", encoding="utf-8") as f:
        for status, items in (("failed", failures), ("skipped", skipped)):
            for item in items:
                line = {"path": item.path, "error": item.reason, "detail": item.detail, "status": status}
                f.write(json.dumps(line) + "\n")


class _progress_bar:
    """tqdm with files/s and ETA, or nothing when disabled or not on a terminal."""

    def __init__(self, disabled: bool) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="file", disable=disabled or None, dynamic_ncols=True, smoothing=0.1)

    def set_total(self, total: int) -> None:
        self._bar.total = total
        self._bar.refresh()

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()
