"""Which ``path`` a page URL may ask for: a canonical stored path, or an ``s3://`` record path.

A stored path is relative (below the images folder) or absolute (a folder imported from
elsewhere, ``clipvec.sources.roots``): "/" followed by a canonical relative path.

A stored relative path is the importer's text for a file name (``clipvec.sources.paths``):
"/"-separated, any characters a Linux name may hold (spaces, ``#``, ``%``, ``+``, tabs,
newlines, DEL, leading dashes, ``..foo``), a literal backslash written ``\\\\`` and a byte
that is not UTF-8 written ``\\xNN``. ``REL`` must be such a text, exactly as the importer
writes it (the escapes in their one canonical form, no NUL), and canonical as a path: no
``.``/``..``/empty segments, no leading "/". Its percent-decoded forms must not traverse
either (``%2e%2e%2f``, ``..%5c``), so a proxy that decodes again never sees a traversal; the
one cost is that a file literally named like ``%2e%2e`` is not shown. An ``s3://`` path only
needs to be bounded and free of NUL, since it must then equal a stored path exactly.
Anything else is refused before the collection or a disk is asked; what passes must still
be a stored path whose file lies inside the folder (``clipvec.serving.web.files``).
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote

from clipvec.locations import is_s3_uri
from clipvec.sources.paths import escape_path, unescape_path

MAX_PATH_CHARS = 4096
_ANY_SEPARATOR = re.compile(r"[/\\]")


def _traverses(text: str) -> bool:
    """A "/" path that leaves its root or is not one path: absolute, NUL, ``.``/``..``/empty segments."""
    if text.startswith("/") or "\x00" in text:
        return True
    return any(part in ("", ".", "..") for part in text.split("/"))


def _decoded_traverses(text: str) -> bool:
    """A percent-decoded form that would traverse where "/" or "\\" separates (a second decoder)."""
    if text.startswith(("/", "\\")) or "\x00" in text:
        return True
    return any(part in (".", "..") for part in _ANY_SEPARATOR.split(text))


def _canonical_escapes(text: str) -> bool:
    """True if ``text`` is how the importer writes some file name (one text per name)."""
    return escape_path(unescape_path(text)) == text  # also refuses lone surrogates


def canonical_rel_path(raw: str) -> str | None:
    """``raw`` if it is a canonical, harmless stored relative path, else ``None``.

    Percent-decoded forms (up to three rounds, for double encoding) must be harmless too,
    so ``%2e%2e%2f`` or ``%252e%252e`` never reach the file system even as literal names.
    """
    if not raw or len(raw) > MAX_PATH_CHARS or _traverses(raw) or not _canonical_escapes(raw):
        return None
    if posixpath.normpath(raw) != raw:
        return None
    decoded = raw
    for _ in range(3):
        step = unquote(decoded)
        if step == decoded:
            break
        if _decoded_traverses(step):
            return None
        decoded = step
    return raw


def requested_path(raw: str | None) -> str | None:
    """The stored path a page URL asks for, or None when it is refused outright."""
    raw = raw or ""
    if is_s3_uri(raw):
        return _s3_path(raw)
    if raw.startswith("/"):  # a folder outside the images folder: absolute, else as canonical
        return raw if canonical_rel_path(raw[1:]) is not None else None
    return canonical_rel_path(raw)


def _s3_path(raw: str) -> str | None:
    """An ``s3://`` path as it may be stored: bounded, no NUL (an exact match with a record follows)."""
    return None if len(raw) > MAX_PATH_CHARS or "\x00" in raw else raw
