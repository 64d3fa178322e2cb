"""Build CLIP model folders locally, without the Hugging Face hub.

Used by the tests, the benchmark and people trying clipvec offline: a random-weight
ViT-B/32 has the real model's architecture and speed (not its meaning), and the
tokenizer is the real OpenAI BPE vocabulary shipped in ``assets/`` (MIT, from
OpenCLIP). The folders have the same layout as a hub checkpoint, so they load
through the production path (``CLIPVEC_MODEL=/path``).
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from clipvec.model.chatter import before_transformers

CONTEXT_LENGTH = 77
_VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-printable-character table (the base alphabet of the BPE)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


@lru_cache(maxsize=1)
def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    raw = resources.files("clipvec.assets").joinpath(_VOCAB_FILE).read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    alphabet = list(_bytes_to_unicode().values())
    words = alphabet + [a + "</w>" for a in alphabet] + ["".join(m) for m in merges]
    words += ["<|startoftext|>", "<|endoftext|>"]
    return {w: i for i, w in enumerate(words)}, merges  # type: ignore[return-value]


def build_tokenizer():  # -> transformers.CLIPTokenizer
    """OpenAI's CLIP tokenizer from the bundled vocabulary ("a photo of a cat" -> 49406 320 ...)."""
    before_transformers()
    from transformers import CLIPTokenizer

    vocab, merges = _vocab_and_merges()
    # transformers 5 needs the vocab as a dict and merges as tuples; file paths give wrong ids.
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=CONTEXT_LENGTH)


def make_random_model(
    out_dir: str | Path,
    size: Literal["base", "full", "tiny"] = "base",
    seed: int = 0,
    dtype: str = "float32",
    family: str = "clip",
) -> Path:
    """Write a random-weight checkpoint folder (weights, config, tokenizer, preprocessor).

    CLIP: ``base`` (or ``full``) is exactly ViT-B/32 (``CLIPConfig()`` defaults, 151M
    parameters); ``tiny`` keeps the 224px input and the 512-d output but has tiny towers, for
    fast tests. Another ``family`` (siglip, siglip2, metaclip_2, chinese_clip, altclip): its
    released architecture (``full``/``base``) or a tiny one (``model/factory_families.py``).
    """
    import torch

    before_transformers()
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if family != "clip":
        from clipvec.model.factory_families import write_family_model

        if size not in ("base", "full", "tiny"):
            raise ValueError(f"unknown size {size!r}")
        write_family_model(out, family, "tiny" if size == "tiny" else "full")
        _readable_like_any_checkpoint(out)
        return out
    if size in ("base", "full"):
        config = CLIPConfig()
    elif size == "tiny":
        config = CLIPConfig(
            text_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
            },
            vision_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": 224,
                "patch_size": 32,
            },
            projection_dim=512,
        )
    else:
        raise ValueError(f"unknown size {size!r}")
    model = CLIPModel(config).eval()
    model.to(getattr(torch, dtype)).save_pretrained(out)
    build_tokenizer().save_pretrained(out)
    CLIPImageProcessor(
        size={"shortest_edge": config.vision_config.image_size},
        crop_size={"height": config.vision_config.image_size, "width": config.vision_config.image_size},
    ).save_pretrained(out)
    _readable_like_any_checkpoint(out)
    return out


def _readable_like_any_checkpoint(folder: Path) -> None:
    """Give the files the mode the umask allows (0644 usually): safetensors writes them 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)
