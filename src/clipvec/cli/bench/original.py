"""The reference path, the baseline every row is compared with: the family's own transformers code.

For CLIP it is the seed's code (``CLIPModel`` + the checkpoint's ``CLIPImageProcessor``, which
is what ``CLIPProcessor`` runs on images). For every other family it is the same thing with the
family's own classes: its model class (``SiglipModel``, ``MetaClip2Model`` ...), read from
config.json's ``model_type`` like clipvec does, with ``AutoImageProcessor`` and
``AutoTokenizer`` from the checkpoint. A CLIP-only baseline would not even load another
family's weights, and a fidelity figure against the wrong preprocessing would mean nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from clipvec.model.checkpoint import family_at_hand
from clipvec.model.family import DEFAULT_FAMILY


class OriginalPath:
    """The family's processor + model, one image per call, fp32, autograd on (as the seed ran CLIP)."""

    def __init__(self, model_dir: Path) -> None:
        import transformers

        self.family = family_at_hand(str(model_dir)) or DEFAULT_FAMILY
        model_class = getattr(transformers, self.family.model_class)
        self.model = model_class.from_pretrained(str(model_dir)).eval()
        self.processor = transformers.AutoImageProcessor.from_pretrained(str(model_dir))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
        # The table's label: the family's processor (SiglipImageProcessorPil -> SiglipProcessor).
        self.processor_name = type(self.processor).__name__.split("ImageProcessor")[0] + "Processor"

    def encode_file(self, path: Path) -> np.ndarray:
        from PIL import Image

        image = Image.open(path)
        inputs = self.processor(images=image, return_tensors="pt")
        features = self.model.get_image_features(**inputs)
        features = getattr(features, "pooler_output", features)  # transformers 5: an output object
        vec = features.detach().float().numpy()[0]
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    def reference(self, paths: Sequence[Path], batch: int = 16) -> np.ndarray:
        """The same processor and fp32 model, batched without autograd (same vectors, faster)."""
        import torch
        from PIL import Image

        out = []
        for start in range(0, len(paths), batch):
            images = [Image.open(p) for p in paths[start : start + batch]]
            inputs = self.processor(images=images, return_tensors="pt")
            with torch.inference_mode():
                features = self.model.get_image_features(**inputs)
            out.append(_unit(getattr(features, "pooler_output", features)))
        return np.concatenate(out) if out else np.empty((0, self._dim()), dtype=np.float32)

    def reference_texts(self, texts: Sequence[str], *, padding: str, max_length: int) -> np.ndarray:
        """Each text alone (as a query comes), through the family's tokenizer and fp32 text tower.

        ``padding`` and ``max_length`` are the family's (SigLIP: "max_length" to its 64 tokens;
        the others: "longest", masked), the same ones the family's documentation tells callers to use.
        """
        import torch

        out = []
        for text in texts:
            tokens = self.tokenizer(
                [text], padding=padding, truncation=True, max_length=max_length, return_tensors="pt"
            )
            with torch.inference_mode():
                features = self.model.get_text_features(**tokens)
            out.append(_unit(getattr(features, "pooler_output", features)))
        return np.concatenate(out) if out else np.empty((0, self._dim()), dtype=np.float32)

    def _dim(self) -> int:
        config = self.model.config
        return int(getattr(config, "projection_dim", None) or config.vision_config.hidden_size)


def _unit(features) -> np.ndarray:  # noqa: ANN001 - a torch tensor (torch is imported lazily)
    features = features.float()
    return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).numpy()
