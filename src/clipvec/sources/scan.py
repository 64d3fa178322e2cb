"""Find the image files under a folder: recursive, junk skipped, images picked by content.

Stored paths are text (Milvus keeps UTF-8 strings), but Linux file names are bytes. A name
that is valid UTF-8 and has no backslash is stored as it is. Otherwise each byte that is not
UTF-8 is written ``\\xNN`` and each backslash ``\\\\``; ``fs_path`` turns the stored text back
into the exact name, so the mapping is reversible (``escape_path`` / ``unescape_path``).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Files that are never images whatever their bytes say: OS metadata and editor droppings.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r"})
_ESCAPE = re.compile(r"\\\\|\\x([0-9a-f]{2})")


@dataclass(frozen=True)
class FoundFile:
    rel_path: str  # relative to the scanned root, "/" separators, escaped (see escape_path)
    size: int
    mtime: float


@dataclass(frozen=True)
class SkippedEntry:
    """Something in the folder that is not imported, and why (shown to the user)."""

    rel_path: str
    reason: str  # empty_file, not_a_file, dangling_symlink, symlink_loop, unreadable
    detail: str


def is_junk(name: str) -> bool:
    """Hidden files and folders (".x", AppleDouble "._x") and known metadata files."""
    return name.startswith(".") or name in JUNK_NAMES


def escape_path(name: str) -> str:
    """Storable text for a path from ``os.fsdecode`` (undecodable bytes as surrogates)."""
    if "\\" not in name:
        try:
            name.encode("utf-8")
            return name
        except UnicodeEncodeError:
            pass
    out = []
    for ch in name:
        if ch == "\\":
            out.append("\\\\")
        elif "\udc80" <= ch <= "\udcff":  # surrogateescape: one byte that was not UTF-8
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def unescape_path(text: str) -> str:
    """The inverse of ``escape_path``: an ``os.fsdecode``-style name usable with ``open``."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) is None else chr(0xDC00 + int(m.group(1), 16)), text)


def fs_path(root: Path, stored: str) -> Path:
    """The file for a stored (escaped, "/" separated) path below ``root``."""
    return root / unescape_path(stored)


def scan_folder(root: Path, skipped: list[SkippedEntry] | None = None) -> Iterator[FoundFile]:
    """Every regular, non-empty, non-hidden file below ``root``, in a stable (sorted) order.

    Symlinked files are followed; symlinked folders are not (no loops, no escaping the root).
    What is passed over for a reason the user should hear about (empty files, FIFOs and
    devices, dangling or looping symlinks, unreadable folders) is appended to ``skipped``.
    """

    # Plain strings, not Path objects: 100k files take a second less (a no-op import is this scan).
    base = os.fspath(root)

    def rel_of(path: str) -> str:
        return path[len(base) :].lstrip(os.sep).replace(os.sep, "/") if path != base else "."

    def skip(path: str, reason: str, detail: str) -> None:
        if skipped is not None:
            skipped.append(SkippedEntry(escape_path(rel_of(path)), reason, detail))

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
            yield FoundFile(escape_path(rel_of(entry.path)), st.st_size, st.st_mtime)
        stack.extend(reversed(subfolders))
