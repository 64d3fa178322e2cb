"""Text before tokenizing: cut a huge text to the part CLIP can use, cheaply."""

from __future__ import annotations

import numpy as np

MAX_TOKEN_CHARS = 64  # longer than any token in CLIP's BPE vocabulary


def clip_prefix(text: str, context_length: int) -> str:
    """The start of ``text`` that still holds ``context_length`` tokens, cut before tokenizing.

    A 45 MB text would take a minute to tokenize only for all but 77 tokens to be thrown
    away. Every word gives at least one token and no token covers more than
    ``MAX_TOKEN_CHARS`` characters, so the first ``context_length`` words, at most
    ``context_length * MAX_TOKEN_CHARS`` characters of them, always hold the tokens CLIP
    uses. Words are joined by one space, as CLIP's tokenizer cleans whitespace anyway. The
    token count reported for a cut text is that of the prefix (still over the context, so
    ``truncated`` stays true).
    """
    budget = context_length * MAX_TOKEN_CHARS
    if len(text) <= budget:
        return text
    words: list[str] = []
    used = 0
    for whole in text.split(None, context_length)[:context_length]:
        word = whole[: budget - used]
        words.append(word)
        used += len(word)
        if len(words) >= context_length or used >= budget:
            break
    return " ".join(words)


def clip_token_rows(
    ids_list: list[list[int]], limit: int, eos_id: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray, list[bool], list[int]]:
    """CLIP's token rows: cut to ``limit`` keeping the end token, padded to the longest (not to 77).

    (ids, mask) as int64 arrays, with each text's truncation flag and token count; shared by
    the torch towers and the exported runtimes' tokenizer so both give the same ids.
    """
    truncated = [len(ids) > limit for ids in ids_list]
    counts = [len(ids) for ids in ids_list]
    ids_list = [ids[: limit - 1] + [eos_id] if len(ids) > limit else ids for ids in ids_list]
    width = max(len(ids) for ids in ids_list)
    input_ids = np.full((len(ids_list), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids_list), width), dtype=np.int64)
    for row, ids in enumerate(ids_list):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return input_ids, mask, truncated, counts
