"""Stored paths <-> file names: text for Milvus, the exact bytes for the file system.

Stored paths are text (Milvus keeps UTF-8 strings), but Linux file names are bytes. A name
that is valid UTF-8 and has no backslash is stored as it is. Otherwise each byte that is not
UTF-8 is written ``\\xNN`` and each backslash ``\\\\``; ``fs_path`` turns the stored text back
into the exact name, so the mapping is reversible (``escape_path`` / ``unescape_path``).
"""

from __future__ import annotations

import re
from pathlib import Path

# Files that are never images whatever their bytes say: OS metadata and editor droppings.
JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r"})
_ESCAPE = re.compile(r"\\\\|\\x([0-9a-f]{2})")


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
