"""Which model family a checkpoint belongs to, read from its config.json's ``model_type``.

The family decides how a checkpoint is loaded and how its text and images are prepared;
getting that wrong does not fail, it silently gives vectors that do not search. So the family
is read from what the checkpoint says it is (``model_type``), never guessed from its name,
and a family clipvec cannot run yet is refused in one line, before any weights are read.

A new family is one more ``Family`` in ``FAMILIES`` (and the code that honours its fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clipvec.errors import UnsupportedModelFamily


@dataclass(frozen=True)
class Family:
    """What a family does differently, as far as clipvec must know it."""

    name: str  # what a collection records ("family" in its description)
    model_types: tuple[str, ...]  # config.json ``model_type`` values of this family
    model_class: str  # the transformers class that loads its checkpoints
    # Text padding its text tower was trained with: "longest" (CLIP: pad to the batch's longest
    # text, masked) or "max_length" (SigLIP: always to its token limit; other lengths change the vector).
    text_padding: Literal["longest", "max_length"]
    text_tokens: int  # its text token limit when neither config.json nor the tokenizer gives a smaller one
    features_normalised: (
        bool  # whether get_*_features already returns unit vectors (clipvec normalises anyway)
    )
    # Where the vector length is in config.json: "projection_dim" (CLIP-like: a projection after
    # each tower) or "vision_hidden_size" (SigLIP: the towers' heads give the hidden size).
    dim_from: Literal["projection_dim", "vision_hidden_size"] = "projection_dim"
    default_dim: int = 512  # what the family's config class fills in when config.json leaves it out
    # Its image processor class, whose defaults apply where preprocessor_config.json is silent
    # (``images/policies.py``).
    image_processor: str = "CLIPImageProcessor"
    # Positions its text tower reserves below the first token (RoBERTa-style towers: padding_idx + 1).
    position_offset: int = 0
    shown: str = ""  # what a person calls it, in the supported-families line

    def vector_dim(self, config: Mapping[str, Any]) -> int:
        """The length of this family's vectors, from a parsed config.json (``TypeError``/``ValueError`` if unreadable)."""
        if self.dim_from == "vision_hidden_size":
            return int((config.get("vision_config") or {}).get("hidden_size", self.default_dim))
        return int(config.get("projection_dim", self.default_dim))


CLIP = Family(
    name="clip",
    model_types=("clip",),
    model_class="CLIPModel",
    text_padding="longest",
    text_tokens=77,
    features_normalised=False,
    shown="CLIP",
)
# SigLIP 2 at a fixed resolution (google/siglip2-*-patch16-224 ...) is the SigLIP architecture:
# its checkpoints say model_type "siglip" and load as SiglipModel (only the tokenizer, Gemma's,
# differs, and the checkpoint brings it). Its text tower pools the LAST position, so texts are
# always padded to its 64 tokens; images are squashed to a square (no crop), mean/std 0.5.
SIGLIP = Family(
    name="siglip",
    model_types=("siglip",),
    model_class="SiglipModel",
    text_padding="max_length",
    text_tokens=64,
    features_normalised=False,
    dim_from="vision_hidden_size",
    default_dim=768,
    image_processor="SiglipImageProcessor",
    shown="SigLIP and SigLIP 2 fixed-resolution",
)
# MetaCLIP 2: CLIP's towers with a multilingual (XLM-V) tokenizer; pools the first EOS.
METACLIP_2 = Family(
    name="metaclip_2",
    model_types=("metaclip_2",),
    model_class="MetaClip2Model",
    text_padding="longest",
    text_tokens=77,
    features_normalised=False,
    shown="MetaCLIP 2",
)
# Chinese-CLIP: a BERT text tower (CLS pooled, masked) and a CLIP vision tower.
CHINESE_CLIP = Family(
    name="chinese_clip",
    model_types=("chinese_clip",),
    model_class="ChineseCLIPModel",
    text_padding="longest",
    text_tokens=52,
    features_normalised=False,
    image_processor="ChineseCLIPImageProcessor",
    shown="Chinese-CLIP",
)
# AltCLIP: an XLM-R text tower (CLS pooled, masked) and a CLIP vision tower.
ALTCLIP = Family(
    name="altclip",
    model_types=("altclip",),
    model_class="AltCLIPModel",
    text_padding="longest",
    text_tokens=77,
    features_normalised=False,
    default_dim=768,
    position_offset=2,
    shown="AltCLIP",
)
FAMILIES: tuple[Family, ...] = (CLIP, SIGLIP, METACLIP_2, CHINESE_CLIP, ALTCLIP)
DEFAULT_FAMILY = CLIP  # what a collection made before families were recorded was made by

# Known model types clipvec refuses on purpose, and why (the refusal says it, in one line).
REFUSED: dict[str, str] = {
    "siglip2": (
        "it is a SigLIP 2 NaFlex checkpoint, which takes each image at its own aspect ratio as a "
        "variable number of patches (with a patch mask and per-image shapes); clipvec prepares every "
        "image as one fixed-size square, so NaFlex is not supported: use a fixed-resolution SigLIP 2 "
        "checkpoint (e.g. google/siglip2-base-patch16-224)"
    ),
}


def supported() -> str:
    """The supported families as a user reads them: ``clip (CLIP: model_type 'clip'), ...``."""
    return ", ".join(
        f"{f.name} ({f.shown}: model_type {', '.join(map(repr, f.model_types))})" for f in FAMILIES
    )


def family_named(name: str) -> Family | None:
    """The family a collection recorded by ``name``, or None if this clipvec does not know it."""
    return next((f for f in FAMILIES if f.name == name), None)


def family_of(config: Mapping[str, Any], where: str) -> Family:
    """The family of the checkpoint whose parsed config.json is ``config``.

    ``UnsupportedModelFamily`` (one line: what ``where`` is, and the supported families) when
    its ``model_type`` is missing, not a string, or not one of a supported family's.
    """
    model_type = config.get("model_type")
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    if isinstance(model_type, str) and model_type in REFUSED:
        raise UnsupportedModelFamily(
            f"the model {where} has model_type {model_type!r} in its config.json: {REFUSED[model_type]}; "
            f"clipvec supports only these model families today: {supported()}"
        )
    if model_type is None:
        said = "has no model_type in its config.json"
    else:
        said = f"has model_type {model_type!r} in its config.json"
    raise UnsupportedModelFamily(
        f"the model {where} {said}; clipvec supports only these model families today: {supported()}"
    )


def shown_checkpoint(folder: Path) -> str:
    """How to name a checkpoint folder in a message: a hub cache snapshot by its hub id."""
    repo = folder.parent.parent.name  # .../models--org--name/snapshots/<commit>
    if folder.parent.name == "snapshots" and repo.startswith("models--"):
        return repo.removeprefix("models--").replace("--", "/")
    return str(folder)
