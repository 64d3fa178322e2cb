"""The Milvus filter language, written so that Lite 2.5 and a 2.3 server read it alike.

String literals: Lite decodes only ``\\"`` and ``\\\\``; a 2.3 server's ``like`` has no
escape for ``%``/``_``. Path prefixes are therefore filtered with a range
(``path >= p and path < p'``), which is exact for any characters; control characters
cannot be written in a Lite filter at all and are checked on the client.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

LITE_PAGE = 200  # rows per Lite query that returns the paths ARRAY (see reads.Reader.iter_records)
QUERY_IN_CHUNK = 1000  # hashes per ``content_hash in [...]`` query (Lite: LITE_PAGE)


def has_control(text: str) -> bool:
    """True if ``text`` holds a character no portable filter literal can carry."""
    return any(ch < " " or ch == "\x7f" for ch in text)


def first_control(text: str) -> int:
    """The index of the first control character in ``text`` (one must be there)."""
    return next(i for i, ch in enumerate(text) if ch < " " or ch == "\x7f")


def literal(text: str) -> str:
    """A Milvus filter string literal for ``text`` (portable to Lite 2.5 and server 2.3).

    Only ``"`` and ``\\`` are escaped: those are the escapes both parsers decode. Control
    characters cannot be expressed portably, so they are refused (``ValueError``).
    """
    if has_control(text):
        raise ValueError(f"control characters cannot be used in a Milvus filter: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def next_string(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    UTF-8 byte order equals code point order, so ``prefix <= s < next_string(prefix)``
    holds exactly for the strings ``s`` starting with ``prefix``. ``None``: no upper bound.
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded
            code = 0xE000
        if code == 0x7F:  # DEL cannot be written in a filter: the bound after "~" is U+0080
            code = 0x80
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def prefix_filter(field_name: str, prefix: str) -> str:
    """``field`` starts with ``prefix``, as a range: exact for quotes, ``%``, ``_``, ``\\``."""
    upper = next_string(prefix)
    expr = f"{field_name} >= {literal(prefix)}"
    if upper is not None:
        expr += f" and {field_name} < {literal(upper)}"
    return expr


def in_filter(values: Sequence[str]) -> str:
    """``content_hash`` is one of ``values``."""
    return "content_hash in [" + ",".join(literal(v) for v in values) + "]"


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def in_chunk_size(is_lite: bool) -> int:
    """Hashes per ``content_hash in [...]`` query on this backend."""
    return LITE_PAGE if is_lite else QUERY_IN_CHUNK
