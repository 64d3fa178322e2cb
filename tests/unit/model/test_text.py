"""Huge texts are cut before tokenizing, to a prefix that keeps every token CLIP uses."""

from __future__ import annotations

import pytest

from clipvec.model.factory import CONTEXT_LENGTH, build_tokenizer
from clipvec.model.text import MAX_TOKEN_CHARS, clip_prefix


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_a_text_within_the_budget_is_left_alone():
    text = "a  red\tcircle " * 10
    assert clip_prefix(text, CONTEXT_LENGTH) is text
    exact = "x" * (CONTEXT_LENGTH * MAX_TOKEN_CHARS)
    assert clip_prefix(exact, CONTEXT_LENGTH) is exact


def test_a_long_text_keeps_the_first_context_length_words():
    words = [f"word{i}" for i in range(100_000)]
    cut = clip_prefix("\n ".join(words), CONTEXT_LENGTH)
    assert cut == " ".join(words[:CONTEXT_LENGTH])


def test_one_huge_word_is_cut_to_the_character_budget():
    cut = clip_prefix("y" * 10_000_000, CONTEXT_LENGTH)
    assert cut == "y" * (CONTEXT_LENGTH * MAX_TOKEN_CHARS)
    mixed = clip_prefix("short " + "z" * 10_000_000 + " tail", 4)
    assert mixed == "short " + "z" * (4 * MAX_TOKEN_CHARS - len("short"))


@pytest.mark.parametrize(
    "text",
    [
        "a photo of a red circle on a long and winding road " * 400,
        ("supercalifragilistic" * 4 + " ") * 300,
        "é" * 20_000,
        "tab\tseparated\nlines " * 2_000,
    ],
)
def test_the_prefix_tokenizes_to_the_same_first_tokens_as_the_whole_text(tokenizer, text):
    assert len(text) > CONTEXT_LENGTH * MAX_TOKEN_CHARS
    whole = tokenizer(text)["input_ids"][: CONTEXT_LENGTH - 1]
    prefix = tokenizer(clip_prefix(text, CONTEXT_LENGTH))["input_ids"]
    assert len(prefix) > CONTEXT_LENGTH  # still reported as truncated
    assert prefix[: CONTEXT_LENGTH - 1] == whole
