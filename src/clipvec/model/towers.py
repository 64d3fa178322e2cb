"""Each family's two towers as clipvec calls them: pixels -> features, texts -> tokens -> features.

The families differ in ways that do not fail but silently give vectors that do not search:
where the vector comes from (CLIP's pooled output + projection, SigLIP's attention-pooling
head, Chinese-CLIP's and AltCLIP's CLS token), how texts are padded (SigLIP's text tower pools
the LAST position, so it must always see its 64 tokens; CLIP's, masked, any length) and how
many tokens a text may have. So every family but CLIP is run through exactly what its reference
runs, ``get_image_features`` / ``get_text_features``, on tokens padded as its processor pads
them. CLIP keeps its own path (padding to the batch's longest text, cut keeping the EOS), the
one its collections were built with.

Features come back unnormalised (clipvec normalises them all, whether or not the family did).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from clipvec.model.family import CLIP, Family
from clipvec.model.text import clip_prefix, clip_token_rows

Tokens = tuple[torch.Tensor, torch.Tensor, list[bool], list[int]]  # ids, mask, truncated, counts

HUGE_LIMIT = 1 << 20  # a tokenizer's model_max_length this large means "not set"


class ClipTowers:
    """CLIP: the vision tower's pooled output + visual projection; texts padded to the longest."""

    def __init__(self, model: torch.nn.Module, tokenizer, family: Family) -> None:
        self.model = model
        self.tokenizer = tokenizer
        cfg = model.config
        self.dim: int = int(cfg.projection_dim)
        self.context_length: int = int(cfg.text_config.max_position_embeddings)
        self._eos_id: int = int(tokenizer.eos_token_id)
        self._pad_id: int = int(
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._eos_id
        )

    def pixel_dtype(self) -> torch.dtype:
        """What pixels are cast to: the model's float type (fp16 on GPU; fp32 when only matmuls are bf16)."""
        return self.model.vision_model.embeddings.class_embedding.dtype

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.model.vision_model(pixel_values=pixels).pooler_output
        return self.model.visual_projection(features)

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """Token ids padded to the longest text (not to 77), cut to CLIP's context length."""
        limit = self.context_length
        texts = [clip_prefix(text, limit) for text in texts]
        ids_list = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        input_ids, mask, truncated, counts = clip_token_rows(ids_list, limit, self._eos_id, self._pad_id)
        return torch.from_numpy(input_ids), torch.from_numpy(mask), truncated, counts

    def text_features(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        features = self.model.text_model(input_ids=input_ids, attention_mask=mask).pooler_output
        return self.model.text_projection(features)


class FeatureTowers:
    """Any other family: its own ``get_*_features``, texts tokenised as its processor does."""

    def __init__(self, model: torch.nn.Module, tokenizer, family: Family) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.family = family
        self.dim: int = family.vector_dim(model.config.to_dict())
        self.context_length: int = text_limit(model, tokenizer, family)
        # Whether its processor hands the model an attention mask (SigLIP's pooled last position
        # sees the padding differently with and without one): mirror it.
        self._masked = "attention_mask" in getattr(tokenizer, "model_input_names", ["attention_mask"])

    def pixel_dtype(self) -> torch.dtype:
        """The vision tower's position embeddings' type: fp16 on GPU, fp32 on CPU (bf16 only in matmuls)."""
        return self.model.vision_model.embeddings.position_embedding.weight.dtype

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_features(pixel_values=pixels).pooler_output

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """Token ids padded as the family's processor pads them, cut to its token limit (keeping its end token)."""
        limit = self.context_length
        texts = [clip_prefix(text, limit) for text in texts]
        counts = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=True)["input_ids"]]
        batch = self.tokenizer(
            texts, padding=self.family.text_padding, truncation=True, max_length=limit, return_tensors="pt"
        )
        input_ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        if mask is None or not self._masked:  # all ones: the same as no mask
            mask = torch.ones_like(input_ids)
        return input_ids, mask, [n > limit for n in counts], counts

    def text_features(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model.get_text_features(input_ids=input_ids, attention_mask=mask).pooler_output


Towers = ClipTowers | FeatureTowers


def towers_for(model: torch.nn.Module, tokenizer, family: Family) -> Towers:
    """The towers of ``model`` as its family runs them."""
    return (ClipTowers if family is CLIP else FeatureTowers)(model, tokenizer, family)


def text_limit(model: torch.nn.Module, tokenizer, family: Family) -> int:
    """The most tokens a text may have: the text tower's positions, or less where the tokenizer says so.

    Where neither the checkpoint's tokenizer nor its config give a limit below the positions,
    the family's (Chinese-CLIP's BERT has 512 positions but was trained on 52 tokens).
    """
    positions = int(model.config.text_config.max_position_embeddings) - family.position_offset
    said = int(getattr(tokenizer, "model_max_length", HUGE_LIMIT) or HUGE_LIMIT)
    if said >= HUGE_LIMIT:
        said = family.text_tokens
    return min(positions, said)


def normalised(vectors: torch.Tensor) -> np.ndarray:
    """Features -> float32 unit rows, as every torch path gives them (computed in torch, in fp32)."""
    v = vectors.float()
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return v.cpu().numpy()
