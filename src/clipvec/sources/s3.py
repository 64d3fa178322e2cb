"""``s3://bucket/prefix`` as a source, on any S3-compatible store (AWS, MinIO, SeaweedFS).

Objects are listed and read through ``s3fs`` (fsspec), the client Ray Data also takes.
Stored paths are the full URI (``s3://bucket/prefix/a/b.jpg``), so records from several
prefixes or a folder can share a collection and each can be found again. Credentials and
endpoint come from the usual AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
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

import contextlib
import functools
import logging
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO

from clipvec.errors import ClipvecError
from clipvec.locations import S3_SCHEME, is_s3_uri
from clipvec.sources.paths import is_junk
from clipvec.sources.types import FoundFile, IndexedFile, SavedUpload, SkippedEntry, SourceUnavailable
from clipvec.sources.uploads import upload_rel_path

log = logging.getLogger(__name__)
PAGE_BLOCK = 1 << 20  # bytes s3fs fetches at once for the page's downloads


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
    def stored_prefix(self) -> str:
        """What every stored path of this source starts with: its URI (issue 22's roots)."""
        return self.uri

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
        return self._open(path)

    def _open(self, path: str, **options: Any) -> BinaryIO:
        if not self.owns(path):
            raise FileNotFoundError(f"{path} is not below {self.uri}")
        try:
            return self.fs().open(path, "rb", **options)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors become OSError for callers
            raise OSError(_describe(exc)) from exc

    def owns(self, path: str) -> bool:
        return path.startswith(self.uri)

    def legacy_path(self, path: str) -> str | None:
        return None  # S3 paths were always full URIs

    def below(self, path: str) -> str:
        return path  # the full URI: the report names the bucket

    def save_upload(self, data: bytes, name: str, image_format: str) -> SavedUpload:
        """``POST /add_image``'s object, under ``prefix/uploads/`` (named by content, written once).

        Its path is the full URI and its mtime the same stamp an import of this prefix
        computes, so a later ``clipvec import s3://...`` sees the upload as unchanged.
        """
        rel, digest = upload_rel_path(data, name, image_format)
        uri = self.uri + rel
        fs = self.fs()
        try:
            created = not fs.exists(uri)
            if created:
                fs.pipe_file(uri, data)
            info = fs.info(uri)
        except Exception as exc:  # noqa: BLE001 - the upload was not stored: say so, never "created"
            raise SourceUnavailable(f"cannot write {uri}: {_describe(exc)}") from exc
        stamp = version_stamp(info.get("LastModified"), str(info.get("ETag", "")))
        return SavedUpload(uri, digest, stamp, created)

    def remove_upload(self, saved: SavedUpload) -> None:
        """Undo :meth:`save_upload` when the store write failed (no orphan object)."""
        if not saved.created:
            return
        try:
            self.fs().rm_file(saved.rel_path)
        except Exception as exc:  # noqa: BLE001 - best effort: the object is only an orphan
            log.warning("cannot remove the orphaned upload %s: %s", saved.rel_path, _describe(exc))

    def serves(self, path: str) -> bool:
        return self.owns(path)

    def open_indexed(self, path: str) -> IndexedFile | None:
        """The object stored as ``path`` (an exact key of a record: the page checked that)."""
        try:
            # 1 MiB blocks: s3fs reads ahead a block (50 MiB by default) for every open file.
            return S3File(self._open(path, block_size=PAGE_BLOCK))
        except (OSError, ClipvecError) as exc:
            log.info("cannot open %s: %s", path, exc)
            return None


class S3File(IndexedFile):
    """An S3 object opened with s3fs: ranged reads (s3fs fetches blocks, never the whole object)."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._lock = threading.Lock()
        self.size = int(file.size)

    def read_at(self, offset: int, length: int) -> bytes:
        try:
            with self._lock:
                self._file.seek(offset)
                return bytes(self._file.read(length))
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors become OSError for callers
            raise OSError(_describe(exc)) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):  # noqa: BLE001 - closing a read-only handle: nothing to lose
            self._file.close()


def bucket_source(path: str) -> S3Source:
    """The whole bucket of a stored ``s3://`` path (the page reads S3-sourced records with it)."""
    bucket, _ = split_s3_uri(path)
    return S3Source(bucket)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
