"""Find the image files under a folder: recursive, junk skipped, images picked by content."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Files that are never images whatever their bytes say: OS metadata and editor droppings.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r"})


@dataclass(frozen=True)
class FoundFile:
    rel_path: str  # relative to the scanned root, always with "/" separators
    abs_path: Path
    size: int
    mtime: float


def is_junk(name: str) -> bool:
    """Hidden files and folders (".x", AppleDouble "._x") and known metadata files."""
    return name.startswith(".") or name in JUNK_NAMES


def scan_folder(root: Path) -> Iterator[FoundFile]:
    """Every regular, non-empty, non-hidden file below ``root``, in a stable (sorted) order.

    Symlinked files are followed; symlinked folders are not (no loops, no escaping the root).
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if is_junk(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=True):
                    continue
                st = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            if st.st_size == 0:
                continue
            rel = Path(entry.path).relative_to(root).as_posix()
            yield FoundFile(rel, Path(entry.path), st.st_size, st.st_mtime)
        stack.extend(reversed(subfolders))
