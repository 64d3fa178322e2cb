"""Per-family image policies: preprocessor_config.json read over its processor class's defaults.

A checkpoint's preprocessor_config.json often leaves keys out (google/siglip-* has no
``do_center_crop``); transformers then uses its image processor class's defaults, and so must
we, or SigLIP would be centre-cropped like CLIP and search silently worse. The class is the one
the file names (``image_processor_type``, or the legacy ``feature_extractor_type``), else the
model family's (``model/family.py``). The defaults below are those of transformers 5's classes
(``models/<family>/image_processing_*.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL import Image

from clipvec.images.preprocess import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, Preprocessor

IMAGENET_STANDARD_MEAN = (0.5, 0.5, 0.5)
IMAGENET_STANDARD_STD = (0.5, 0.5, 0.5)

_CLIP_LIKE: dict[str, Any] = {
    "resample": int(Image.Resampling.BICUBIC),
    "size": {"shortest_edge": None},  # None: the model's image_size
    "crop_size": None,
    "do_center_crop": True,
    "image_mean": OPENAI_CLIP_MEAN,
    "image_std": OPENAI_CLIP_STD,
}
PROCESSOR_DEFAULTS: dict[str, dict[str, Any]] = {
    "CLIPImageProcessor": _CLIP_LIKE,
    "ChineseCLIPImageProcessor": _CLIP_LIKE,
    "SiglipImageProcessor": {
        "resample": int(Image.Resampling.BICUBIC),
        "size": {"height": None, "width": None},
        "crop_size": None,
        "do_center_crop": False,
        "image_mean": IMAGENET_STANDARD_MEAN,
        "image_std": IMAGENET_STANDARD_STD,
    },
}


def processor_type(cfg: Mapping[str, Any], fallback: str) -> str:
    """The image processor class a preprocessor_config.json names, as a key of ``PROCESSOR_DEFAULTS``."""
    named = cfg.get("image_processor_type") or str(cfg.get("feature_extractor_type") or "").replace(
        "FeatureExtractor", "ImageProcessor"
    )
    named = str(named).removesuffix("Fast").removesuffix("Pil")
    return named if named in PROCESSOR_DEFAULTS else fallback


def preprocessor_from_config(cfg: Mapping[str, Any], image_size: int, fallback: str) -> Preprocessor:
    """The ``Preprocessor`` a transformers image processor built from ``cfg`` would equal.

    ``ValueError`` for a combination it cannot reproduce (a size that is neither a shortest
    edge nor a height and width, or a squash followed by a different crop).
    """
    kind = processor_type(cfg, fallback)
    merged = {**PROCESSOR_DEFAULTS[kind], **{k: v for k, v in cfg.items() if v is not None}}
    size = merged["size"]
    if (
        isinstance(size, (int, float))
        and kind == "ChineseCLIPImageProcessor"
        and not merged["do_center_crop"]
    ):
        # OFA-Sys/chinese-clip-*: "size": 224 without a crop. Chinese-CLIP resizes to the square
        # (its authors' code, and the later {"height", "width"} form of the same file); transformers 5
        # would read a shortest edge and give the model a non-square input it was not trained on.
        size = {"height": int(size), "width": int(size)}
    elif isinstance(size, (int, float)):  # legacy: an int is the shortest edge (default_to_square=False)
        size = {"shortest_edge": int(size)}
    crop = merged["crop_size"]
    if isinstance(crop, (int, float)):
        crop = {"height": int(crop), "width": int(crop)}
    do_crop = bool(merged["do_center_crop"])
    if "height" in size and "width" in size:
        height, width = int(size["height"] or image_size), int(size["width"] or image_size)
        if do_crop and crop and (int(crop["height"]), int(crop["width"])) != (height, width):
            raise ValueError(f"a resize to {width}x{height} then a crop to {crop} is not supported")
        resize_to, squash = min(height, width), True
    elif "shortest_edge" in size:
        resize_to = int(size["shortest_edge"] or image_size)
        crop = crop or {"height": resize_to, "width": resize_to}
        height, width, squash = int(crop["height"]), int(crop["width"]), False
        if not do_crop:
            raise ValueError("a shortest-edge resize without a centre crop gives no fixed input size")
    else:
        raise ValueError(f"an image size of {size} is not supported")
    rescale = float(merged.get("rescale_factor", 1 / 255)) if merged.get("do_rescale", True) else 1.0
    mean, std = tuple(merged["image_mean"]), tuple(merged["image_std"])
    if not merged.get("do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return Preprocessor(
        resize_to=resize_to,
        crop_height=height,
        crop_width=width,
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        squash=squash,
        resample=int(merged["resample"]),
        rescale_factor=rescale,
    )
