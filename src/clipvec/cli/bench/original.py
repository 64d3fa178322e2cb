"""The seed's code path, the baseline every row is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class OriginalPath:
    """The seed's code: CLIPProcessor + CLIPModel, one image per call, fp32, autograd on."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import CLIPModel, CLIPProcessor

        self.model = CLIPModel.from_pretrained(str(model_dir))
        self.processor = CLIPProcessor.from_pretrained(str(model_dir))

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
            features = getattr(features, "pooler_output", features).float()
            out.append((features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).numpy())
        return np.concatenate(out) if out else np.empty((0, 512), dtype=np.float32)
