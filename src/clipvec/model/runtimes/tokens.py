"""Texts -> token ids for an exported model, without importing transformers (issue 20.1's start-up).

The checkpoint's tokenizer is transformers' wrapper around a ``tokenizers`` Tokenizer: the
export saves that inner Tokenizer (tokenizer.json) and the few facts of how clipvec calls it
(``token_facts``), so a runtime process tokenizes with the ``tokenizers`` library alone. The
ids are the ones ``model/towers.py`` gives (CLIP: ``clip_token_rows``, cut keeping the end
token, padded to the longest; the other families: cut to the limit keeping their special
tokens, padded as their processor pads) -- tests/unit/model/test_runtime_tokens.py checks
that on many texts, multilingual and over-long ones, for every family.

A tokenizer with no ``tokenizers`` core (SigLIP's sentencepiece ``SiglipTokenizer``) is
exported without tokenizer.json: the runtime then loads it with transformers and calls it
as the towers do (correct, only slower to start).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.model.text import clip_prefix, clip_token_rows

Tokens = tuple[np.ndarray, np.ndarray, list[bool], list[int]]  # ids, mask, truncated, counts
TOKENIZER_FILE = "tokenizer.json"


def token_facts(towers: Any, family_name: str) -> dict[str, Any]:
    """How clipvec calls the tokenizer of ``towers`` (``model/towers.py``), as JSON for the manifest."""
    tokenizer = towers.tokenizer
    facts: dict[str, Any] = {
        "style": "clip" if family_name == "clip" else "feature",
        "limit": int(towers.context_length),
        "padding": getattr(getattr(towers, "family", None), "text_padding", "longest"),
        "masked": bool(getattr(towers, "_masked", True)),
        "padding_side": str(getattr(tokenizer, "padding_side", "right")),
        "truncation_side": str(getattr(tokenizer, "truncation_side", "right")),
        "pad_token": tokenizer.pad_token,
        "pad_id": tokenizer.pad_token_id,
    }
    if facts["style"] == "clip":
        facts["eos_id"] = int(towers._eos_id)
        facts["pad_id"] = int(towers._pad_id)
    return facts


def save_fast_tokenizer(tokenizer: Any, folder: Path) -> bool:
    """Write the ``tokenizers`` core of a transformers tokenizer to ``folder``; False when it has none."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(backend.to_str())  # a copy: the loaded tokenizer keeps its settings
    plain.no_truncation()
    plain.no_padding()
    plain.save(str(folder / TOKENIZER_FILE))
    return True


class FastTokens:
    """The exported tokenizer.json, called as ``model/towers.py`` calls the checkpoint's tokenizer."""

    def __init__(self, path: Path, facts: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.facts = facts
        self.limit: int = int(facts["limit"])
        self._plain = Tokenizer.from_file(str(path))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._cut = None
        if facts["style"] != "clip":  # truncation and padding as the family's processor asks for them
            self._cut = Tokenizer.from_file(str(path))
            self._cut.enable_truncation(self.limit, direction=facts["truncation_side"])
            padding = {"direction": facts["padding_side"], "pad_token": facts["pad_token"] or "[PAD]"}
            if facts["pad_id"] is not None:
                padding["pad_id"] = int(facts["pad_id"])
            if facts["padding"] == "max_length":
                padding["length"] = self.limit
            self._cut.enable_padding(**padding)

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        texts = [clip_prefix(text, self.limit) for text in texts]
        ids_list = [e.ids for e in self._plain.encode_batch(texts, add_special_tokens=True)]
        if self._cut is None:
            return clip_token_rows(ids_list, self.limit, int(self.facts["eos_id"]), int(self.facts["pad_id"]))
        counts = [len(ids) for ids in ids_list]
        encodings = self._cut.encode_batch(texts, add_special_tokens=True)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        if self.facts["masked"]:
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        else:  # its processor gives no mask: all ones, the same as none
            mask = np.ones_like(input_ids)
        return input_ids, mask, [n > self.limit for n in counts], counts


class TransformersTokens:
    """A tokenizer with no ``tokenizers`` core, loaded with transformers and called as the towers call it."""

    def __init__(self, folder: Path, facts: dict[str, Any]) -> None:
        from clipvec.model.chatter import before_transformers

        before_transformers()
        from transformers import AutoTokenizer

        self.facts = facts
        self.limit: int = int(facts["limit"])
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self._tokenizer.model_max_length = 1 << 30

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        texts = [clip_prefix(text, self.limit) for text in texts]
        ids_list = self._tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        if self.facts["style"] == "clip":
            return clip_token_rows(ids_list, self.limit, int(self.facts["eos_id"]), int(self.facts["pad_id"]))
        counts = [len(ids) for ids in ids_list]
        batch = self._tokenizer(
            list(texts),
            padding=self.facts["padding"],
            truncation=True,
            max_length=self.limit,
            return_tensors="np",
        )
        input_ids = np.asarray(batch["input_ids"], dtype=np.int64)
        mask = batch.get("attention_mask")
        if mask is None or not self.facts["masked"]:
            mask = np.ones_like(input_ids)
        return input_ids, np.asarray(mask, dtype=np.int64), [n > self.limit for n in counts], counts


def load_tokens(export_dir: Path, checkpoint: Path, facts: dict[str, Any]) -> FastTokens | TransformersTokens:
    """The exported tokenizer when there is one, else the checkpoint's through transformers."""
    path = export_dir / TOKENIZER_FILE
    if path.is_file():
        return FastTokens(path, facts)
    return TransformersTokens(checkpoint, facts)
