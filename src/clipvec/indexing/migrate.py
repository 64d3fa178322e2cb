"""``clipvec migrate``: upgrade a schema version 1 collection to version 2 in place (issue 17.2).

No model is loaded and no pixel is decoded: every record is read back WITH its stored
vector, its photo's metadata is re-read from the header of the file it was imported from
(the first of its paths whose bytes still hash to the record's content; a file that is gone
or changed keeps the record, with unknown metadata), and it is written into the staged
collection. The count is checked before the swap and after it; the swap itself, and how an
interrupted run resumes, are ``clipvec.store.upgrade``'s. Running it again is always safe:
records already staged are not read again, and a finished upgrade says so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from clipvec.errors import ClipvecError, StoreUnavailable
from clipvec.images import UNKNOWN_META, PhotoMeta, read_photo_meta_of
from clipvec.settings import Settings
from clipvec.sources import Source, open_source, source_of_stored_path
from clipvec.store import ImageRecord, ImageStore
from clipvec.store.upgrade import Recorded, Upgrader, backup_name, staged_name

log = logging.getLogger(__name__)

BATCH = 256  # records re-read and written at a time (a resumed run loses at most one batch's reads)
READERS = 4  # files read at once: reading is I/O (S3 above all), hashing releases the GIL


@dataclass
class Migrated:
    """What a migration did: the records it carried over and what became of their metadata."""

    records: int = 0  # in the collection, checked before and after
    staged_before: int = 0  # already staged by an interrupted run (not read again)
    read: int = 0  # metadata read from the file
    gone: int = 0  # no file under any of the record's paths: unknown metadata
    changed: int = 0  # a file there, but other bytes now: unknown metadata
    unreadable: int = 0  # a file there that may not be read (permissions): unknown metadata
    already: bool = False  # the collection was already version 2: nothing to do


def migrate(settings: Settings, *, on_batch: Callable[[int, int], None] | None = None) -> Migrated:
    """Upgrade ``settings.collection`` to schema version 2; resumes an interrupted upgrade.

    ``on_batch(done, total)`` after each batch written to the staged collection.
    """
    report = Migrated()
    name, staged = settings.collection, staged_name(settings.collection)
    with Upgrader(settings.milvus_uri, name, token=settings.milvus_token) as up:
        state = up.state()
        if state.main is None and state.staged is None:
            raise ClipvecError(f"no collection {name!r} at {settings.milvus_uri}", code="not_found")
        if state.main is not None and state.main.schema_version == 1:
            recorded = state.main
            index_type = _stage(settings, recorded, report, on_batch or (lambda done, total: None))
        else:
            # Version 2 already, or a swap that was interrupted: the staged copy it started
            # from was checked complete, so its count is the one to keep.
            recorded = state.staged or state.main  # type: ignore[assignment]
            report.already = state.staged is None and state.backup is None
            with _store(settings, staged if state.staged else name, recorded, "auto") as store:
                report.records, index_type = store.count(), store.index_type
            if report.already:
                return report
        _swap(settings, up, recorded, index_type, report.records)
    with _store(settings, name, recorded, index_type) as store:
        if store.schema_version != 2:
            raise StoreUnavailable(
                f"collection {name!r} is still version {store.schema_version} after migrating"
            )
        _check(store.count(), report.records, f"collection {name!r} after migrating")
    return report


def _store(settings: Settings, collection: str, recorded: Recorded, index_type: str) -> ImageStore:
    return ImageStore(
        settings.milvus_uri,
        collection=collection,
        token=settings.milvus_token,
        index_type=index_type,
        verify_writes=True,
        **recorded.store_options(),
    )


def _stage(
    settings: Settings, recorded: Recorded, report: Migrated, on_batch: Callable[[int, int], None]
) -> str:
    """Copy every record of the version-1 collection into the staged one, with re-read metadata."""
    name, staged = settings.collection, staged_name(settings.collection)
    with _store(settings, name, recorded, "auto") as old:
        index_type = old.index_type
        report.records = old.count()
        roots = old.roots()
        with _store(settings, staged, recorded, index_type) as new:
            # What an interrupted run staged: kept unless the record changed since (an import
            # between the two runs renamed or added a path), then it is staged again.
            done = {r.content_hash: (r.paths, r.mtime) for r in new.iter_records()}
            report.staged_before = len(done)
            images = open_source(settings.images_dir)
            seen: set[str] = set()
            written = len(done)
            with ThreadPoolExecutor(READERS, thread_name_prefix="clipvec-migrate") as pool:
                for batch in _batches(old.iter_records(with_vectors=True), BATCH):
                    seen.update(r.content_hash for r in batch)
                    todo = [r for r in batch if done.get(r.content_hash) != (r.paths, r.mtime)]
                    if not todo:
                        continue
                    reads = pool.map(lambda r: _reread(r, images, roots, settings.max_file_bytes), todo)
                    records = []
                    for record, (meta, outcome) in zip(todo, reads, strict=True):
                        setattr(report, outcome, getattr(report, outcome) + 1)
                        records.append(replace(record, meta=meta))
                    new.upsert(records)
                    written += sum(r.content_hash not in done for r in records)
                    on_batch(written, report.records)
            _check(old.count(), report.records, f"collection {name!r} changed while it was migrated")
            _check(len(seen), report.records, f"collection {name!r} did not read back whole")
            stored = {r.content_hash for r in new.iter_records()}
            if stored - seen:  # deleted from the collection since an interrupted run staged them
                new.delete(sorted(stored - seen))
            missing = seen - stored
            if missing:
                raise StoreUnavailable(
                    f"{len(missing)} records are not in {staged!r}; run clipvec migrate again"
                )
            _check(new.count(), report.records, f"{staged!r} does not hold every record")
    return index_type


def _swap(settings: Settings, up: Upgrader, recorded: Recorded, index_type: str, expected: int) -> None:
    """Put the checked staged collection in the old one's place (a server renames, Lite copies)."""
    name, staged, backup = (
        settings.collection,
        staged_name(settings.collection),
        backup_name(settings.collection),
    )
    state = up.state()
    if state.staged is not None and (state.main is None or state.main.schema_version == 1):
        if state.main is not None and up.rename(name, backup):
            state = up.state()
        if state.main is None and state.backup is not None and up.rename(staged, name):
            up.drop(backup)
            return
        up.drop(name)  # Lite: the old collection goes only now, its records all staged and checked
    if up.recorded(staged) is not None:
        with (
            _store(settings, staged, recorded, index_type) as source,
            _store(settings, name, recorded, index_type) as target,
        ):
            present = {r.content_hash for r in target.iter_records()}
            for batch in _batches(source.iter_records(with_vectors=True), BATCH):
                todo = [r for r in batch if r.content_hash not in present]
                if todo:
                    target.upsert(todo)
            _check(target.count(), expected, f"{name!r} does not hold every record of {staged!r}")
        up.drop(staged)
    up.drop(backup)


def _reread(record: ImageRecord, images: Source, roots: list[str], max_bytes: int) -> tuple[PhotoMeta, str]:
    """The metadata of the first of ``record``'s files that still holds its bytes, and what happened."""
    outcome = "gone"
    for path in record.paths:
        source = source_of_stored_path(path, images, roots)
        if source is None:
            continue
        try:
            with source.open(path) as f:
                data = f.read(max_bytes + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except PermissionError:
            outcome = "unreadable"
            continue
        except OSError as exc:  # an outage (S3), not a missing file: stop, resumable
            raise StoreUnavailable(
                f"cannot read {path}: {exc.strerror or exc}; run clipvec migrate again to resume"
            ) from exc
        if len(data) > max_bytes or hashlib.sha256(data).hexdigest() != record.content_hash:
            outcome = "changed" if outcome == "gone" else outcome
            continue
        return read_photo_meta_of(data), "read"
    return UNKNOWN_META, outcome


def _batches(records: Iterable[ImageRecord], size: int) -> Iterator[list[ImageRecord]]:
    batch: list[ImageRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(got: int, expected: int, what: str) -> None:
    if got != expected:
        raise StoreUnavailable(
            f"{what}: {got} records, expected {expected}; nothing was lost, run clipvec migrate again"
        )
