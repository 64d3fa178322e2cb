"""Where images come from: a local folder or an S3 prefix, behind one small interface.

The importer (local and Ray) asks a source to **list** its files and to **read** one by
the path it stores; the page asks it to read an indexed file. Two kinds:

* :class:`FolderSource`: a local folder; stored paths are relative to it ("a/b.jpg"),
  exactly as before this module existed.
* :class:`S3Source`: ``s3://bucket/prefix`` on any S3-compatible store (AWS, MinIO,
  SeaweedFS) through ``s3fs`` (fsspec), the client Ray Data also takes. Stored paths are
  the full URI (``s3://bucket/prefix/a/b.jpg``), so records from several prefixes or a
  folder can share a collection and each can be found again. Credentials and endpoint
  come from the usual AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, profiles...).

Change detection for S3 objects: listings give the size, ``LastModified`` (whole seconds)
and the ETag. The importer compares size and mtime; an S3 object's "mtime" is its
``LastModified`` second plus a fraction (0.001..0.997) taken from the ETag, so an object
rewritten with the same size within the same second is still seen as changed (unless
the two ETags share that fraction: 1 in 997).

A source is a small frozen dataclass, so it pickles to Ray workers as its spec; each
process makes its own S3 client from it.
"""

from __future__ import annotations

import functools
import logging
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from clipvec.errors import ClipvecError
from clipvec.locations import S3_SCHEME, is_s3_uri
from clipvec.sources.scan import FoundFile, SkippedEntry, fs_path, is_junk, scan_folder
from clipvec.sources.uploads import SavedUpload, remove_upload, save_upload, upload_rel_path

log = logging.getLogger(__name__)


class SourceUnavailable(ClipvecError):
    """The source cannot be listed at all (no bucket, bad credentials, endpoint down)."""

    status, code = 503, "source_unavailable"


class Source(Protocol):
    """What the importer and the page need from a place that holds images."""

    @property
    def display(self) -> str: ...

    def scan(self, skipped: list[SkippedEntry] | None = None) -> Iterator[FoundFile]:
        """Every candidate file, in a stable order; ``rel_path`` is the path to store.

        What is passed over for a reason the user should hear about goes into ``skipped``.
        """
        ...

    def read(self, path: str) -> bytes:
        """The bytes of the file stored as ``path``; ``OSError`` when it cannot be read."""
        ...

    def open(self, path: str) -> BinaryIO:
        """The file stored as ``path``, to read in pieces (sniff first, read the rest if an image)."""
        ...

    def owns(self, path: str) -> bool:
        """True when a stored ``path`` belongs to this source (prune and renames only touch these)."""
        ...


def open_source(location: str | Path) -> Source:
    """``s3://bucket/prefix`` -> :class:`S3Source`; anything else -> :class:`FolderSource`."""
    text = str(location)
    if is_s3_uri(text):
        return S3Source.from_uri(text)
    return FolderSource(Path(text).resolve())


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


# ---------------------------------------------------------------------- local folders
@dataclass(frozen=True)
class FolderSource:
    """A local (or shared network) folder; stored paths are relative to it."""

    root: Path

    @property
    def display(self) -> str:
        return str(self.root)

    def scan(self, skipped: list[SkippedEntry] | None = None) -> Iterator[FoundFile]:
        return scan_folder(self.root, skipped)

    def read(self, path: str) -> bytes:
        return fs_path(self.root, path).read_bytes()

    def open(self, path: str) -> BinaryIO:
        return open(fs_path(self.root, path), "rb")  # noqa: SIM115 - the caller closes it

    def owns(self, path: str) -> bool:
        # Relative paths are the folder's (one collection per folder, as documented).
        return not is_s3_uri(path)


# ---------------------------------------------------------------------- S3
def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ("bucket", "a/b"); refuses anything that is not an S3 URI."""
    if not is_s3_uri(uri):
        raise ClipvecError(f"not an S3 URI: {uri!r}", code="bad_source")
    bucket, _, prefix = uri[len(S3_SCHEME) :].partition("/")
    if not bucket or any(ch in bucket for ch in " \\"):
        raise ClipvecError(f"no bucket in {uri!r} (expected s3://bucket/prefix)", code="bad_source")
    return bucket, prefix.strip("/")


@functools.lru_cache(maxsize=8)
def s3_filesystem(options: tuple[tuple[str, Any], ...] = ()) -> Any:
    """One s3fs filesystem per process and option set (it pools connections)."""
    try:
        import s3fs
    except ImportError as exc:  # pragma: no cover - s3fs is a core dependency
        raise ClipvecError("reading s3:// needs s3fs (pip install s3fs)", code="missing_dependency") from exc
    # No listings cache: an import must see the bucket as it is now, not as first listed.
    return s3fs.S3FileSystem(**{"use_listings_cache": False, **dict(options)})


def version_stamp(last_modified: Any, etag: str) -> float:
    """``LastModified`` in whole seconds plus an ETag fingerprint in [0.001, 0.997]."""
    if isinstance(last_modified, datetime):
        if last_modified.tzinfo is None:
            last_modified = last_modified.replace(tzinfo=timezone.utc)
        seconds = int(last_modified.timestamp())
    else:
        seconds = int(float(last_modified or 0))
    fingerprint = zlib.crc32(etag.strip('"').encode()) % 997 + 1
    return seconds + fingerprint / 1000.0


@dataclass(frozen=True)
class S3Source:
    """``s3://bucket/prefix``: every object below the prefix, listed recursively."""

    bucket: str
    prefix: str = ""
    options: tuple[tuple[str, Any], ...] = ()  # extra s3fs arguments (tests, special endpoints)

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> S3Source:
        bucket, prefix = split_s3_uri(uri)
        return cls(bucket, prefix, tuple(sorted(options.items())))

    @property
    def uri(self) -> str:
        """The URI every stored path of this source starts with (ends with "/")."""
        return f"{S3_SCHEME}{self.bucket}/" + (f"{self.prefix}/" if self.prefix else "")

    @property
    def display(self) -> str:
        return self.uri

    def fs(self) -> Any:
        return s3_filesystem(self.options)

    def scan(self, skipped: list[SkippedEntry] | None = None) -> Iterator[FoundFile]:
        """Objects below the prefix, sorted by key; hidden/junk names skipped, empty objects listed."""
        base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        try:
            listing = self.fs().find(base, detail=True)
        except FileNotFoundError:
            listing = {}
        except Exception as exc:  # noqa: BLE001 - every listing failure is the same answer
            raise SourceUnavailable(f"cannot list {self.uri}: {_describe(exc)}") from exc
        for key in sorted(listing):
            info = listing[key]
            if info.get("type", "file") != "file" or key.endswith("/"):
                continue
            size = int(info.get("size") or info.get("Size") or 0)
            if not key.startswith(base + "/"):  # "bucket/pre" must not list "bucket/prefix-2/..."
                continue
            rel = key[len(base) + 1 :]
            if not rel or any(is_junk(part) for part in rel.split("/")):
                continue
            if size == 0:
                if skipped is not None:
                    skipped.append(SkippedEntry(f"{S3_SCHEME}{key}", "empty_file", "0 bytes"))
                continue
            stamp = version_stamp(info.get("LastModified"), str(info.get("ETag", "")))
            yield FoundFile(f"{S3_SCHEME}{key}", size, stamp)

    def read(self, path: str) -> bytes:
        if not self.owns(path):
            raise FileNotFoundError(f"{path} is not below {self.uri}")
        try:
            return self.fs().cat_file(path)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors become OSError for callers
            raise OSError(_describe(exc)) from exc

    def open(self, path: str) -> BinaryIO:
        if not self.owns(path):
            raise FileNotFoundError(f"{path} is not below {self.uri}")
        try:
            return self.fs().open(path, "rb")
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors become OSError for callers
            raise OSError(_describe(exc)) from exc

    def owns(self, path: str) -> bool:
        return path.startswith(self.uri)


def read_stored_path(path: str) -> bytes:
    """The bytes behind a stored ``s3://`` path (the page streams S3-sourced records with this)."""
    bucket, _ = split_s3_uri(path)
    return S3Source(bucket).read(path)


def save_upload_to(images_dir: str, data: bytes, name: str, image_format: str) -> SavedUpload:
    """``POST /add_image``'s file: under ``images_dir/uploads/``, a local folder or an S3 prefix.

    In S3 the object is written once (named by content) and its path is the full URI; its
    mtime is the same stamp an import of that prefix computes, so a later
    ``clipvec import s3://...`` sees the upload as unchanged.
    """
    if not is_s3_uri(images_dir):
        return save_upload(Path(images_dir), data, name, image_format)
    rel, digest = upload_rel_path(data, name, image_format)
    uri = S3Source.from_uri(images_dir).uri + rel
    fs = s3_filesystem()
    try:
        created = not fs.exists(uri)
        if created:
            fs.pipe_file(uri, data)
        info = fs.info(uri)
    except Exception as exc:  # noqa: BLE001 - the upload was not stored: say so, never "created"
        raise SourceUnavailable(f"cannot write {uri}: {_describe(exc)}") from exc
    stamp = version_stamp(info.get("LastModified"), str(info.get("ETag", "")))
    return SavedUpload(uri, digest, stamp, created)


def remove_upload_from(images_dir: str, saved: SavedUpload) -> None:
    """Undo :func:`save_upload_to` when the store write failed (no orphan file or object)."""
    if not is_s3_uri(images_dir):
        remove_upload(Path(images_dir), saved)
        return
    if not saved.created:
        return
    try:
        s3_filesystem().rm_file(saved.rel_path)
    except Exception as exc:  # noqa: BLE001 - best effort: the object is only an orphan
        log.warning("cannot remove the orphaned upload %s: %s", saved.rel_path, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
