"""The filter language: literals both Milvus parsers read alike, exact prefix ranges, key chunks."""

from __future__ import annotations

import random

import pytest

from clipvec.store.filters import (
    LITE_PAGE,
    QUERY_IN_CHUNK,
    chunks,
    first_control,
    has_control,
    in_chunk_size,
    in_filter,
    literal,
    next_string,
    prefix_filter,
)


def test_literal_and_prefix_filter_escape():
    assert literal('a"b\\c') == '"a\\"b\\\\c"'
    assert literal("a'b%_") == '"a\'b%_"'
    with pytest.raises(ValueError):
        literal("a\nb")
    assert prefix_filter("path", "ab") == 'path >= "ab" and path < "ac"'
    assert prefix_filter("path", "a\U0010ffff") == 'path >= "a\U0010ffff" and path < "b"'
    assert prefix_filter("path", "\U0010ffff") == 'path >= "\U0010ffff"'
    assert prefix_filter("path", "a\ud7ff") == 'path >= "a\ud7ff" and path < "a\ue000"'


@pytest.mark.parametrize("text", ["a\x00b", "tab\there", "line\n", "\r", "del\x7f", "\x1f"])
def test_control_characters_are_refused_in_literals(text):
    assert has_control(text)
    with pytest.raises(ValueError, match="control characters"):
        literal(text)


@pytest.mark.parametrize("text", ["", "plain", "ä ö 😀", " ", "~", "\x80", "a%_'\"\\"])
def test_printable_text_has_no_control_characters(text):
    assert not has_control(text)
    assert literal(text).startswith('"') and literal(text).endswith('"')


def test_first_control_finds_the_first_one():
    assert first_control("ab\ncd\x00") == 2
    assert first_control("\x7f") == 0


def test_the_bound_after_tilde_skips_del():
    # DEL cannot be written in a filter, so the bound after "~" is U+0080 (the search checks
    # "...~" prefixes on the client, since the range also holds "~\x7f...").
    assert next_string("a~") == "a\x80"
    assert prefix_filter("path", "a~") == 'path >= "a~" and path < "a\x80"'


def test_next_string_bounds_exactly_the_strings_with_the_prefix():
    """``p <= s < next_string(p)`` iff ``s`` starts with ``p``, in code point (= UTF-8 byte) order."""
    rng = random.Random(7)
    alphabet = ["a", "b", "~", "\x80", "ä", "\ud7ff", "\ue000", "😀", "\U0010ffff", "/"]
    for _ in range(3000):
        prefix = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5)))
        if rng.random() < 0.3:
            text = prefix + text
        upper = next_string(prefix)
        inside = prefix <= text and (upper is None or text < upper)
        assert inside == text.startswith(prefix), (prefix, text, upper)
        assert text.encode() >= prefix.encode() or not inside  # byte order agrees


def test_in_filter_quotes_every_key():
    assert in_filter(["a", 'b"c']) == 'content_hash in ["a","b\\"c"]'
    assert in_filter([]) == "content_hash in []"


def test_chunks_cover_everything_in_order():
    seq = list(range(2501))
    parts = list(chunks(seq, 1000))
    assert [len(p) for p in parts] == [1000, 1000, 501]
    assert [x for p in parts for x in p] == seq
    assert list(chunks([], 5)) == []


def test_in_chunk_size_is_small_on_lite():
    assert in_chunk_size(True) == LITE_PAGE == 200
    assert in_chunk_size(False) == QUERY_IN_CHUNK == 1000
