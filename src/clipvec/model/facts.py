"""What a checkpoint is, from its config.json alone: no weights, no download.

A collection records the model's name and vector size; the image pipeline needs the model's
input size and preprocessing. All of that is in the checkpoint's small JSON files, so the
importer can find out that there is nothing to do, and a Ray driver can open the collection,
without loading 600 MB of weights (seconds) or asking the hub.

Two ways to ask, for two kinds of caller:

* ``facts_at_hand(model)``: the facts, or None when config.json is not on this machine (a hub
  id not cached yet) or cannot be read. For callers that then load the model the usual way,
  which downloads it or fails with the full reason.
* ``require_facts(model)``: the facts, cached per process, or ``ModelLoadError`` with the
  model help text. For callers that cannot go on without them (a Ray import's driver and
  tasks, which never load the weights themselves).

Both raise ``UnsupportedModelFamily`` (one line) for a checkpoint of a family clipvec cannot
run (``model/family.py``), before any weights are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from clipvec.errors import ModelLoadError
from clipvec.images.preprocess import Preprocessor
from clipvec.model.advice import model_help
from clipvec.model.checkpoint import UnusableConfig, local_folder, looks_like_path, read_model_config
from clipvec.model.family import DEFAULT_FAMILY, family_named, family_of
from clipvec.model.identity import content_id

# What transformers' vision configs fill in when config.json leaves it out, so that the facts
# match the model that loads (the vector length's default is the family's: Family.default_dim).
DEFAULT_IMAGE_SIZE = 224


def recorded_model_name(model: str) -> str:
    """The name a collection records for ``model``: a hub id as given, a local folder as an absolute path.

    So ``models/clip`` from one folder and ``/srv/x/models/clip`` from another are the same
    model, and the service (whose relative paths are made absolute) matches the CLI.
    """
    folder = Path(model).expanduser()
    return str(folder.resolve()) if folder.is_dir() else model


@dataclass(frozen=True)
class ModelFacts:
    """A checkpoint as a collection and the image pipeline see it."""

    name: str  # what a collection records (``recorded_model_name``)
    dim: int  # length of its vectors (projection_dim)
    image_size: int  # side of the square the vision tower takes
    folder: Path  # where its files are (absolute): the local folder, or its copy in the hub cache
    family: str = DEFAULT_FAMILY.name  # its family's name (``model/family.py``), from config.json

    @classmethod
    def from_folder(cls, folder: Path, name: str) -> ModelFacts:
        """Read the facts from ``folder``'s config.json; ``UnusableConfig`` says why they cannot be."""
        config = read_model_config(folder)  # UnsupportedModelFamily: another family's
        vision = config.get("vision_config") or {}
        family = family_of(config, name)
        try:
            dim = family.vector_dim(config)  # projection_dim, or SigLIP's hidden size
            image_size = int(vision.get("image_size", DEFAULT_IMAGE_SIZE))
        except (TypeError, ValueError, AttributeError) as exc:
            raise UnusableConfig(f"config.json cannot be read: {exc}") from exc
        return cls(name=name, dim=dim, image_size=image_size, folder=folder, family=family.name)

    def preprocessor(self) -> Preprocessor:
        """Its image preprocessing: preprocessor_config.json over its family's processor defaults."""
        family = family_named(self.family) or DEFAULT_FAMILY
        return Preprocessor.from_model_folder(self.folder, self.image_size, family.image_processor)

    def identity(self) -> ModelIdentity:
        """Who this model is to a collection: its name, dimension and content (reads the weights once)."""
        return ModelIdentity(self.name, self.dim, content_id(self.folder), self.family)


@dataclass(frozen=True)
class ModelIdentity:
    """What a collection is checked against: same family, same content (any folder, any name), same dimension."""

    name: str
    dim: int
    content_id: str | None  # None: the weights are not readable here; the name decides
    family: str = DEFAULT_FAMILY.name

    def recognises(self, stored_name: str) -> bool:
        """Whether a collection that recorded only ``stored_name`` (made before content ids) is this model:
        the folder or cached hub id it names holds the same content."""
        if self.content_id is None:
            return False
        try:
            other = facts_at_hand(stored_name)
        except ModelLoadError:  # it names another family's checkpoint now: not this model
            return False
        return other is not None and content_id(other.folder) == self.content_id

    def store_options(self) -> dict[str, Any]:
        """The ``ImageStore`` arguments that name this model."""
        return {
            "model_name": self.name,
            "dim": self.dim,
            "model_id": self.content_id,
            "family": self.family,
            "recognises": self.recognises,
        }


def _read(model: str) -> ModelFacts | str:
    """The facts of ``model``, or the reason (in ``model_help``'s words) they are not at hand."""
    folder = local_folder(model)
    if folder is None:
        local = Path(model).expanduser()
        if local.exists() or looks_like_path(model):
            return f"there is no folder {local}"
        return "it is not a local folder and it is not in the Hugging Face cache"
    try:
        return ModelFacts.from_folder(folder.resolve(), recorded_model_name(model))
    except UnusableConfig as exc:
        return f"the folder {folder} is not a usable CLIP checkpoint: {exc}"


def facts_at_hand(model: str) -> ModelFacts | None:
    """The facts of ``model`` read now, or None when its config.json is not here or unreadable."""
    facts = _read(model)
    return facts if isinstance(facts, ModelFacts) else None


def require_facts(model: str) -> ModelFacts:
    """The facts of ``model``, read once per process; ``ModelLoadError`` (with the ways out) if not at hand.

    Only found facts are kept, so a model downloaded meanwhile is found on the next call.
    """
    return _facts_of(recorded_model_name(model))


@lru_cache(maxsize=8)
def _facts_of(name: str) -> ModelFacts:
    facts = _read(name)
    if isinstance(facts, str):
        raise ModelLoadError(model_help(name, facts))
    return facts
