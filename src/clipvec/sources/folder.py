"""A local (or shared network) folder as a source: scan it, read its files, keep uploads.

``scan_folder`` finds the image candidates: recursive, junk and hidden files skipped,
images picked later by content. A stored path is the folder's prefix plus the file's path
below it ("a/b.jpg"), escaped where a name is not UTF-8 (``clipvec.sources.paths``). The
prefix says where the folder is (``clipvec.sources.roots``): none for the images folder
(the seed's ``image1.jpg``), its path below it for a sub-folder ("trips/"), its absolute
path for any other folder ("/home/me/Pictures/"). So records of several folders share a
collection and each file can be found again (issue 22).

Files opened for the page (``open_indexed``) must be regular files whose real path (symlinks
resolved) lies inside the folder's real path; the file is opened with ``O_NOFOLLOW`` on that
resolved path, so a symlink swapped in after the check is not followed either.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from clipvec.locations import is_s3_uri
from clipvec.sources.paths import escape_path, fs_path, is_junk, unescape_path
from clipvec.sources.roots import is_absolute_stored
from clipvec.sources.types import FoundFile, IndexedFile, SavedUpload, SkippedEntry
from clipvec.sources.uploads import remove_upload, save_upload

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def scan_folder(
    root: Path, skipped: list[SkippedEntry] | None = None, prefix: str = ""
) -> Iterator[FoundFile]:
    """Every regular, non-empty, non-hidden file below ``root``, in a stable (sorted) order.

    Symlinked files are followed; symlinked folders are not (no loops, no escaping the root).
    What is passed over for a reason the user should hear about (empty files, FIFOs and
    devices, dangling or looping symlinks, unreadable folders) is appended to ``skipped``.
    Every path is ``prefix`` + the escaped path below ``root``.
    """

    # Plain strings, not Path objects: 100k files take a second less (a no-op import is this scan).
    base = os.fspath(root)

    def rel_of(path: str) -> str:
        return path[len(base) :].lstrip(os.sep).replace(os.sep, "/") if path != base else "."

    def skip(path: str, reason: str, detail: str) -> None:
        if skipped is not None:
            skipped.append(SkippedEntry(prefix + escape_path(rel_of(path)), reason, detail))

    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skip(folder, "unreadable", f"cannot list the folder: {exc.strerror or exc}")
            continue
        subfolders = []
        for entry in entries:
            if is_junk(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    skip(entry.path, "symlink_loop", "symbolic link loop")
                elif exc.errno == errno.ENOENT and entry.is_symlink():
                    skip(entry.path, "dangling_symlink", "symbolic link to a missing file")
                else:
                    skip(entry.path, "unreadable", f"cannot stat: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(st.st_mode):
                skip(entry.path, "not_a_file", "symbolic link to a folder (not followed)")
                continue
            if not stat.S_ISREG(st.st_mode):
                kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "socket or device"
                skip(entry.path, "not_a_file", f"{kind}, not a regular file")
                continue
            if st.st_size == 0:
                skip(entry.path, "empty_file", "0 bytes")
                continue
            yield FoundFile(prefix + escape_path(rel_of(entry.path)), st.st_size, st.st_mtime)
        stack.extend(reversed(subfolders))


@dataclass(frozen=True)
class FolderSource:
    """A local (or shared network) folder; its stored paths are ``stored_prefix`` + the path below it."""

    root: Path
    stored_prefix: str = ""  # "" (the images folder), "sub/" (below it) or "/abs/folder/" (elsewhere)

    @property
    def display(self) -> str:
        return str(self.root)

    def scan(self, skipped: list[SkippedEntry] | None = None) -> Iterator[FoundFile]:
        return scan_folder(self.root, skipped, self.stored_prefix)

    def below(self, path: str) -> str:
        """A stored ``path`` of this folder as the path below it (what the user's report shows)."""
        return (
            path[len(self.stored_prefix) :]
            if self.stored_prefix and path.startswith(self.stored_prefix)
            else path
        )

    def read(self, path: str) -> bytes:
        return fs_path(self.root, self.below(path)).read_bytes()

    def open(self, path: str) -> BinaryIO:
        """The file to read; ``OSError`` if it is no longer a regular file (never waits on a FIFO)."""
        fd = os.open(fs_path(self.root, self.below(path)), os.O_RDONLY | _CLOEXEC | _NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def owns(self, path: str) -> bool:
        """Prune and renames touch only these: the folder's own paths, never another folder's."""
        if self.stored_prefix:
            return path.startswith(self.stored_prefix)
        return not (is_s3_uri(path) or is_absolute_stored(path))  # the images folder: relative paths

    def legacy_path(self, path: str) -> str | None:
        """The path an older clipvec stored for this file (relative to the folder), if it differs."""
        return self.below(path) if self.stored_prefix else None

    def save_upload(self, data: bytes, name: str, image_format: str) -> SavedUpload:
        """``POST /add_image``'s file, under ``root/uploads/`` (see :mod:`clipvec.sources.uploads`)."""
        saved = save_upload(self.root, data, name, image_format)
        return replace(saved, rel_path=self.stored_prefix + saved.rel_path) if self.stored_prefix else saved

    def remove_upload(self, saved: SavedUpload) -> None:
        remove_upload(self.root, replace(saved, rel_path=self.below(saved.rel_path)))

    def serves(self, path: str) -> bool:
        return self._locate(path) is not None

    def open_indexed(self, path: str) -> IndexedFile | None:
        """The regular file stored as ``path``, if it really lies inside the folder."""
        real = self._locate(path)
        return None if real is None else open_regular_file(real)

    def _locate(self, path: str) -> Path | None:
        """The real path of a stored ``path`` when it is this folder's and lies inside its real path."""
        if not self.owns(path):
            return None
        return resolve_inside(Path(os.path.realpath(self.root)), unescape_path(self.below(path)))


def resolve_inside(root: Path, rel: str) -> Path | None:
    """The real path of ``root/rel`` if it is a regular file inside ``root`` (itself real)."""
    full = os.path.realpath(os.path.join(root, rel))
    root_s = str(root)
    if full == root_s or os.path.commonpath([full, root_s]) != root_s:
        return None
    return Path(full)


def open_regular_file(path: Path) -> OpenedFile | None:
    """``path`` opened without following a final symlink; ``None`` if not a regular file."""
    try:
        # O_NONBLOCK: opening a FIFO planted under an indexed name must not wait for a writer
        # (it did: the thread hung for good); it has no effect on reading a regular file.
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)  # the file we hold, not whatever the name points to by now
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return OpenedFile(fd, st)


class OpenedFile(IndexedFile):
    """A regular file held by its descriptor: read at offsets, size and version from ``fstat``.

    A file renamed over or deleted meanwhile is still this one (the descriptor keeps it);
    one truncated or rewritten in place shows in :meth:`changed` and in short reads.
    """

    def __init__(self, fd: int, st: os.stat_result) -> None:
        self._fd = fd
        self._mtime_ns = st.st_mtime_ns
        self.size = st.st_size
        self.version = f"f{st.st_size:x}-{st.st_mtime_ns:x}"
        self.modified = st.st_mtime

    def read_at(self, offset: int, length: int) -> bytes:
        pieces: list[bytes] = []
        while length > 0:
            piece = os.pread(self._fd, length, offset)
            if not piece:
                break
            pieces.append(piece)
            offset += len(piece)
            length -= len(piece)
        return b"".join(pieces)

    def changed(self) -> bool:
        st = os.fstat(self._fd)
        return st.st_size != self.size or st.st_mtime_ns != self._mtime_ns

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:  # a handler cancelled before it handed the file on
        self.close()
