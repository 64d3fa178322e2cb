"""Decoded image -> model pixel tensor, exactly as the model family's transformers processor prepares it.

CLIP-like (``CLIPImageProcessor``): shortest side resized (bicubic, PIL) to the model's input
size, centre crop. SigLIP-like (``squash``): resized straight to the input square, aspect
ratio not kept, no crop. Then scale to [0, 1] and normalise with the model's mean/std. Done
in PIL + numpy (no torchvision): the result matches the transformers (PIL backend) processor
bit for bit on the resize/crop and to float32 rounding on the normalisation, so vectors agree
with the reference path. Which policy a checkpoint uses is read from its
preprocessor_config.json over its processor class's defaults (``images/policies.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Preprocessor:
    """CLIP image preprocessing for one model: sizes and normalisation constants."""

    resize_to: int = 224  # shortest edge after resize
    crop_height: int = 224
    crop_width: int = 224
    mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    std: tuple[float, float, float] = OPENAI_CLIP_STD
    # SigLIP-like: resize straight to crop_width x crop_height (no aspect ratio, no crop).
    squash: bool = False
    resample: int = int(Image.Resampling.BICUBIC)  # PIL filter, as preprocessor_config.json's "resample"
    rescale_factor: float = 1 / 255

    @classmethod
    def from_model_folder(
        cls, folder: str | Path, image_size: int, processor: str = "CLIPImageProcessor"
    ) -> Preprocessor:
        """Read ``preprocessor_config.json`` over the defaults of its image processor class.

        ``processor``: the class whose defaults apply when the folder has no such file or the
        file names none (the model family's, ``model/family.py``).
        """
        from clipvec.images.policies import preprocessor_from_config

        path = Path(folder) / "preprocessor_config.json"
        cfg = json.loads(path.read_text()) if path.is_file() else {}
        return preprocessor_from_config(cfg, image_size, processor)

    @property
    def min_decode_side(self) -> int:
        """Smallest shortest side a decoder may downscale to (JPEG draft) without losing detail.

        A squash scales each side on its own, so the shortest side must cover the longer target
        side, and twice over: a squash's last step from a JPEG decoded just above the target
        (e.g. 250 -> 224 px of a 999x1776 photo at 1/4 scale) left libjpeg's DCT scaling and the
        resize disagreeing (pixel cosine 0.9986, SigLIP vectors 0.99975 against a full decode);
        from at least twice the target they agree to 0.9999 (tests/unit/images/test_policies.py).
        """
        return 2 * max(self.crop_height, self.crop_width) if self.squash else self.resize_to

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the resize, truncating like transformers does."""
        if self.squash:
            return self.crop_width, self.crop_height
        if width <= height:
            return self.resize_to, int(self.resize_to * height / width)
        return int(self.resize_to * width / height), self.resize_to

    def resize_reduced(self, image: Image.Image, full_width: int, full_height: int) -> Image.Image:
        """Resize a JPEG decoded at 1/2, 1/4 or 1/8 scale as if it were the full image.

        libjpeg's reduced decode is ceil(W/s) x ceil(H/s) pixels; sizing from that would
        shift the resize and crop by up to a pixel. Here the target size comes from the full
        size and ``box`` maps exactly the full image's extent, so vectors stay within
        cosine 0.9999 of decoding at full resolution.
        """
        w, h = image.size
        scale = next((k for k in (2, 4, 8) if -(-full_width // k) == w and -(-full_height // k) == h), None)
        if scale is None:
            return image
        return image.resize(
            self.resized_size(full_width, full_height),
            self.resample,
            box=(0, 0, full_width / scale, full_height / scale),
        )

    def to_pixels(self, image: Image.Image) -> np.ndarray:
        """RGB PIL image -> float32 array (3, crop_h, crop_w), normalised."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        new_w, new_h = self.resized_size(*image.size)
        if (new_w, new_h) != image.size:
            image = image.resize((new_w, new_h), self.resample)
        arr = np.asarray(image)
        arr = _center_crop(arr, self.crop_height, self.crop_width)
        if self.rescale_factor == 1 / 255:  # CLIP's arithmetic, kept bit for bit
            scale = np.asarray([1.0 / (255.0 * s) for s in self.std], dtype=np.float32)
        else:
            scale = np.asarray([self.rescale_factor / s for s in self.std], dtype=np.float32)
        offset = np.asarray([m / s for m, s in zip(self.mean, self.std, strict=True)], dtype=np.float32)
        out = arr.astype(np.float32) * scale - offset  # (H, W, 3), one pass
        return np.ascontiguousarray(out.transpose(2, 0, 1))

    def batch(self, images: list[Image.Image]) -> np.ndarray:
        """Several images -> (N, 3, H, W) float32."""
        out = np.empty((len(images), 3, self.crop_height, self.crop_width), dtype=np.float32)
        for i, image in enumerate(images):
            out[i] = self.to_pixels(image)
        return out


def _center_crop(arr: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    """Centre crop (H, W, C), zero-padding when the image is smaller, as transformers does."""
    h, w = arr.shape[:2]
    if h < crop_h or w < crop_w:
        padded = np.zeros((max(h, crop_h), max(w, crop_w), arr.shape[2]), dtype=arr.dtype)
        top, left = (padded.shape[0] - h) // 2, (padded.shape[1] - w) // 2
        padded[top : top + h, left : left + w] = arr
        arr, h, w = padded, padded.shape[0], padded.shape[1]
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return arr[top : top + crop_h, left : left + crop_w]
