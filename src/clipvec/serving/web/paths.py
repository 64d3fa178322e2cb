"""Which ``path`` a page URL may ask for: a canonical relative path, or an ``s3://`` record path.

``REL`` must be a canonical relative path ("/"-separated, no ``.``/``..``/empty segments, no
backslash, NUL or control characters, no percent-encoded traversal); an ``s3://`` path only
needs to be bounded and free of control characters, since it must then equal a stored path
exactly. Anything else is refused before the collection or a disk is asked.
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

from clipvec.locations import is_s3_uri

MAX_PATH_CHARS = 4096


def _bad_chars(text: str) -> bool:
    return "\\" in text or any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _traverses(text: str) -> bool:
    if text.startswith("/") or _bad_chars(text):
        return True
    return any(part in ("", ".", "..") for part in text.split("/"))


def canonical_rel_path(raw: str) -> str | None:
    """``raw`` if it is a canonical, harmless relative path, else ``None``.

    Percent-decoded forms (up to three rounds, for double encoding) must be harmless too,
    so ``%2e%2e%2f`` or ``%252e%252e`` never reach the file system even as literal names.
    """
    if not raw or len(raw) > MAX_PATH_CHARS or _traverses(raw):
        return None
    if posixpath.normpath(raw) != raw:
        return None
    decoded = raw
    for _ in range(3):
        step = unquote(decoded)
        if step == decoded:
            break
        if _traverses(step):
            return None
        decoded = step
    return raw


def requested_path(raw: str | None) -> str | None:
    """The stored path a page URL asks for, or None when it is refused outright."""
    raw = raw or ""
    return _s3_path(raw) if is_s3_uri(raw) else canonical_rel_path(raw)


def _s3_path(raw: str) -> str | None:
    """An ``s3://`` path as it may be stored: bounded, no control characters (exact match follows)."""
    return None if len(raw) > MAX_PATH_CHARS or _bad_chars(raw) else raw
