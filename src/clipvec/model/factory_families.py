"""Random-weight checkpoints of the families other than CLIP, built locally (``clipvec make-model --family``).

``full`` is the released model's architecture (its speed and memory, not its meaning):

* siglip: google/siglip-base-patch16-224 (``SiglipConfig()`` defaults, 203M parameters);
* siglip2: google/siglip2-base-patch16-224 (the SigLIP architecture with Gemma's 256k vocabulary,
  375M parameters; bilinear resize, as its preprocessor_config.json);
* metaclip_2: facebook/metaclip-2-worldwide-s16, the smallest worldwide release (ViT-S/16 towers,
  the 901,629-piece XLM-V vocabulary);
* chinese_clip: OFA-Sys/chinese-clip-vit-base-patch16 (BERT-base text, ViT-B/16, 21,128 pieces);
* altclip: BAAI/AltCLIP (XLM-R large text, ViT-L/14 vision).

``tiny`` keeps each family's input size and policies with 2-layer, 32-wide towers, for fast tests.
The tokenizers are small ones of the family's kind (``model/local_tokenizers.py``); the folders
load through clipvec and through transformers' Auto classes like hub checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clipvec.model import local_tokenizers
from clipvec.model.chatter import before_transformers
from clipvec.model.family import family_of

# Tiny towers get 10x the usual initial weights: at 0.02 two 32-wide layers map every text to
# nearly the same vector, and a wrong cut or padding could not show.
TINY_TOWER = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "initializer_range": 0.2,
}
BASE_TOWER = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
}
LARGE_TOWER = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
}
SMALL_TOWER = {
    "hidden_size": 384,
    "intermediate_size": 1536,
    "num_hidden_layers": 12,
    "num_attention_heads": 6,
}
FAMILY_NAMES = ("clip", "siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip")


def _vocab(tokenizer, full_size: int, size: str) -> int:
    """The text tower's vocabulary: the released size (full), else just what the tokenizer uses."""
    return full_size if size == "full" else len(tokenizer)


def _siglip(size: str, gemma: bool) -> tuple[Any, Any, Any]:
    from transformers import SiglipConfig, SiglipImageProcessor

    tokenizer = (local_tokenizers.gemma_tokenizer if gemma else local_tokenizers.siglip_tokenizer)(64)
    towers = BASE_TOWER if size == "full" else TINY_TOWER
    config = SiglipConfig(
        text_config={
            **towers,
            "vocab_size": _vocab(tokenizer, 256000 if gemma else 32000, size),
            "max_position_embeddings": 64,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": tokenizer.bos_token_id
            if tokenizer.bos_token_id is not None
            else tokenizer.eos_token_id,
        },
        vision_config={**towers, "image_size": 224, "patch_size": 16},
    )
    resample = 2 if gemma else 3  # SigLIP 2 checkpoints resize bilinear, SigLIP's bicubic
    processor = SiglipImageProcessor(size={"height": 224, "width": 224}, resample=resample)
    return config, tokenizer, processor


def _metaclip_2(size: str) -> tuple[Any, Any, Any]:
    from transformers import CLIPImageProcessor, MetaClip2Config

    tokenizer = local_tokenizers.xlm_roberta_tokenizer(77)
    towers = SMALL_TOWER if size == "full" else TINY_TOWER
    config = MetaClip2Config(
        text_config={
            **towers,
            "vocab_size": _vocab(tokenizer, 901629, size),
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "pad_token_id": 1,
            "eos_token_id": 2,  # pooled at the first </s>
        },
        vision_config={**towers, "image_size": 224, "patch_size": 16 if size == "full" else 32},
        projection_dim=384 if size == "full" else 512,
    )
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    return config, tokenizer, processor


def _chinese_clip(size: str) -> tuple[Any, Any, Any]:
    from transformers import ChineseCLIPConfig, ChineseCLIPImageProcessor

    tokenizer = local_tokenizers.bert_chinese_tokenizer(52)
    towers = BASE_TOWER if size == "full" else TINY_TOWER
    config = ChineseCLIPConfig(
        text_config={**towers, "vocab_size": _vocab(tokenizer, 21128, size), "max_position_embeddings": 512},
        vision_config={**towers, "image_size": 224, "patch_size": 16 if size == "full" else 32},
        projection_dim=512,
    )
    # As OFA-Sys/chinese-clip-*: squashed to the square, no centre crop, CLIP's mean/std.
    processor = ChineseCLIPImageProcessor(size={"height": 224, "width": 224}, do_center_crop=False)
    return config, tokenizer, processor


def _altclip(size: str) -> tuple[Any, Any, Any]:
    from transformers import AltCLIPConfig, CLIPImageProcessor

    tokenizer = local_tokenizers.xlm_roberta_tokenizer(77)
    text = LARGE_TOWER if size == "full" else TINY_TOWER
    vision = LARGE_TOWER if size == "full" else TINY_TOWER
    config = AltCLIPConfig(
        text_config={
            **text,
            "vocab_size": _vocab(tokenizer, 250002, size),
            "max_position_embeddings": 514,
            "pad_token_id": 1,
            "bos_token_id": 0,
            "eos_token_id": 2,
            "project_dim": 768,
        },
        vision_config={**vision, "image_size": 224, "patch_size": 14 if size == "full" else 32},
        projection_dim=768,
    )
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    return config, tokenizer, processor


def write_family_model(out: Path, family: str, size: str) -> None:
    """Write a random ``family`` checkpoint of ``size`` ("tiny" or "full") into ``out`` (seeded by the caller)."""
    before_transformers()
    import transformers

    builders = {
        "siglip": lambda: _siglip(size, gemma=False),
        "siglip2": lambda: _siglip(size, gemma=True),
        "metaclip_2": lambda: _metaclip_2(size),
        "chinese_clip": lambda: _chinese_clip(size),
        "altclip": lambda: _altclip(size),
    }
    if family not in builders:
        raise ValueError(f"unknown family {family!r}; one of: {', '.join(FAMILY_NAMES)}")
    if size not in ("tiny", "full"):
        raise ValueError(f"unknown size {size!r}")
    config, tokenizer, processor = builders[family]()
    model_class = family_of({"model_type": config.model_type}, family).model_class
    model = getattr(transformers, model_class)(config).eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    processor.save_pretrained(out)
