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
    text_tokens: int  # its text token limit when config.json does not give one
    features_normalised: (
        bool  # whether get_*_features already returns unit vectors (clipvec normalises anyway)
    )


CLIP = Family(
    name="clip",
    model_types=("clip",),
    model_class="CLIPModel",
    text_padding="longest",
    text_tokens=77,
    features_normalised=False,
)
FAMILIES: tuple[Family, ...] = (CLIP,)
DEFAULT_FAMILY = CLIP  # what a collection made before families were recorded was made by


def supported() -> str:
    """The supported families as a user reads them: ``clip (model_type 'clip')``."""
    return ", ".join(f"{f.name} (model_type {', '.join(map(repr, f.model_types))})" for f in FAMILIES)


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
