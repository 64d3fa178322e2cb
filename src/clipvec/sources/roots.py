"""Where a folder's records live in a collection: the prefix of its stored paths (issue 22).

One collection may hold several folders. A stored path is what finds the file again:

* the images folder (``CLIPVEC_IMAGES_DIR``, the folder the service shows and uploads into):
  paths relative to it, ``image1.jpg``, as the seed printed them;
* a folder below it: its path below the images folder, ``trips/2024/a.jpg``;
* any other folder: its absolute path, ``/home/me/Pictures/a.jpg``;
* an S3 prefix: the full URI, ``s3://photos/2024/a.jpg`` (``clipvec.sources.s3``).

The collection's roots registry (``clipvec.store.roots``) records each imported root, so the
page serves a file only from inside a folder that was imported (and then only a stored path).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from clipvec.sources.paths import escape_path

IMAGES_FOLDER_ROOT = "."  # how the registry names the images folder (its paths have no prefix)


def folder_prefix(folder: Path, images_dir: Path | str | None) -> str:
    """The prefix of ``folder``'s stored paths; ``images_dir`` None: the folder is the images folder."""
    folder = Path(folder).resolve()
    if images_dir is None:
        return ""
    home = Path(images_dir).resolve()
    if folder == home:
        return ""
    if folder.is_relative_to(home):
        return escape_path(folder.relative_to(home).as_posix()) + "/"
    return escape_path(str(folder)).rstrip("/") + "/"


def root_name(prefix: str) -> str:
    """The registry's name for a root: its prefix without the final "/", "." for the images folder."""
    return prefix.rstrip("/") or (IMAGES_FOLDER_ROOT if not prefix else "/")


def root_prefix(name: str) -> str:
    """The inverse of :func:`root_name`."""
    if name == IMAGES_FOLDER_ROOT:
        return ""
    return name if name.endswith("/") else name + "/"


def is_absolute_stored(path: str) -> bool:
    """A stored path of a folder outside the images folder."""
    return path.startswith("/")


def absolute_root_of(path: str, roots: Iterable[str]) -> str | None:
    """The recorded absolute root (a name) that holds the stored ``path``: the longest one."""
    best: str | None = None
    for name in roots:
        prefix = root_prefix(name)
        if prefix.startswith("/") and path.startswith(prefix) and (best is None or len(name) > len(best)):
            best = name
    return best


def shown_root(name: str, images_dir: Path | str) -> str:
    """A root as the user knows it: the images folder and folders below it by their path."""
    if name == IMAGES_FOLDER_ROOT:
        return os.fspath(images_dir)
    return name if name.startswith(("/", "s3://")) else os.path.join(os.fspath(images_dir), name)
