"""Where images come from: a local folder or an S3 prefix, behind one small interface.

* :class:`FolderSource` (:mod:`.folder`): a local folder; stored paths are relative to it
  ("a/b.jpg"), escaped where a name is not UTF-8 (:mod:`.paths`).
* :class:`S3Source` (:mod:`.s3`): ``s3://bucket/prefix``; stored paths are full URIs.

A source lists its files, opens one by its stored path, keeps uploads and reads indexed
files for the page (:class:`.types.Source`); :func:`open_source` picks the kind from the
location (``clipvec.locations``), so no caller branches on it.
"""

from __future__ import annotations

from pathlib import Path

from clipvec.locations import is_s3_uri
from clipvec.sources.folder import FolderSource, scan_folder
from clipvec.sources.opened import as_read
from clipvec.sources.paths import escape_path, fs_path, is_junk, unescape_path
from clipvec.sources.s3 import S3Source, bucket_source, s3_filesystem, split_s3_uri, version_stamp
from clipvec.sources.scanning import Scanned, scan_ahead, scan_source
from clipvec.sources.types import FoundFile, IndexedFile, SavedUpload, SkippedEntry, Source, SourceUnavailable

__all__ = [
    "FolderSource",
    "FoundFile",
    "IndexedFile",
    "S3Source",
    "SavedUpload",
    "Scanned",
    "SkippedEntry",
    "Source",
    "SourceUnavailable",
    "as_read",
    "escape_path",
    "fs_path",
    "is_junk",
    "open_source",
    "s3_filesystem",
    "scan_ahead",
    "scan_folder",
    "scan_source",
    "source_of_stored_path",
    "split_s3_uri",
    "unescape_path",
    "version_stamp",
]


def open_source(location: str | Path) -> Source:
    """``s3://bucket/prefix`` -> :class:`S3Source`; anything else -> :class:`FolderSource`."""
    text = str(location)
    if is_s3_uri(text):
        return S3Source.from_uri(text)
    return FolderSource(Path(text).resolve())


def source_of_stored_path(path: str, images: Source) -> Source:
    """The source that can read a stored ``path``: its S3 bucket for an ``s3://`` path, else ``images``.

    A collection may hold records imported from S3 beside the images folder's (issue 12);
    the page serves both.
    """
    return bucket_source(path) if is_s3_uri(path) else images
