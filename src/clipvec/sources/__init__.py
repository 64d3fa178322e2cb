"""Where images come from: a local folder or an S3 prefix, behind one small interface.

* :class:`FolderSource` (:mod:`.folder`): a local folder; stored paths are relative to the
  images folder ("a/b.jpg"), or absolute for a folder elsewhere (:mod:`.roots`), escaped
  where a name is not UTF-8 (:mod:`.paths`).
* :class:`S3Source` (:mod:`.s3`): ``s3://bucket/prefix``; stored paths are full URIs.

A source lists its files, opens one by its stored path, keeps uploads and reads indexed
files for the page (:class:`.types.Source`); :func:`open_source` picks the kind from the
location (``clipvec.locations``), so no caller branches on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from clipvec.locations import is_s3_uri
from clipvec.sources.folder import FolderSource, scan_folder
from clipvec.sources.opened import as_read
from clipvec.sources.paths import escape_path, fs_path, is_junk, unescape_path
from clipvec.sources.roots import (
    IMAGES_FOLDER_ROOT,
    absolute_root_of,
    folder_prefix,
    is_absolute_stored,
    root_name,
    root_prefix,
)
from clipvec.sources.s3 import S3Source, bucket_source, s3_filesystem, split_s3_uri, version_stamp
from clipvec.sources.scanning import Scanned, scan_ahead, scan_source
from clipvec.sources.types import FoundFile, IndexedFile, SavedUpload, SkippedEntry, Source, SourceUnavailable

__all__ = [
    "IMAGES_FOLDER_ROOT",
    "FolderSource",
    "FoundFile",
    "IndexedFile",
    "S3Source",
    "SavedUpload",
    "Scanned",
    "SkippedEntry",
    "Source",
    "SourceUnavailable",
    "absolute_root_of",
    "as_read",
    "escape_path",
    "folder_prefix",
    "fs_path",
    "is_absolute_stored",
    "is_junk",
    "open_source",
    "root_name",
    "root_prefix",
    "s3_filesystem",
    "scan_ahead",
    "scan_folder",
    "scan_source",
    "source_of_stored_path",
    "split_s3_uri",
    "unescape_path",
    "version_stamp",
]


def open_source(location: str | Path, images_dir: str | Path | None = None) -> Source:
    """``s3://bucket/prefix`` -> :class:`S3Source`; anything else -> :class:`FolderSource`.

    ``images_dir``: the images folder, which decides how the folder's paths are stored
    (:func:`.roots.folder_prefix`); None: ``location`` is taken as the images folder itself.
    """
    text = str(location)
    if is_s3_uri(text):
        return S3Source.from_uri(text)
    folder = Path(text).resolve()
    return FolderSource(folder, folder_prefix(folder, images_dir))


def source_of_stored_path(path: str, images: Source, roots: Iterable[str] = ()) -> Source | None:
    """The source that can read a stored ``path``, or None when no recorded root holds it.

    Its S3 bucket for an ``s3://`` path; the recorded folder (``roots``, names from the
    collection's registry) for an absolute path; else ``images``, the images folder.
    """
    if is_s3_uri(path):
        return bucket_source(path)
    if is_absolute_stored(path):
        name = absolute_root_of(path, roots)
        return None if name is None else FolderSource(Path(unescape_path(name) or "/"), root_prefix(name))
    return images
