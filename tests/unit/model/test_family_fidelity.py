"""Issue 18.2: every family's vectors equal its own transformers processor + model's.

clipvec's fast path (decode with the JPEG draft, numpy preprocessing, its own batching and
padding) against the reference: ``AutoImageProcessor`` / ``AutoTokenizer`` of the checkpoint,
then ``get_image_features`` / ``get_text_features``. Cosine >= 0.9999 in fp32 and >= 0.999 in
bf16, on the held-out photos of the CLIP fidelity test (``test_encoder.photos``) and on edge
shapes (tiny, very wide, very tall, grayscale, alpha). Random-weight checkpoints of each family:
tiny here, the released architecture in the slow test.

And each test can fail: with CLIP's preprocessing in place of the family's (its resize policy,
mean/std, text padding and pooling) the same comparison falls below 0.9999.
"""

from __future__ import annotations

import dataclasses
import functools
import io

import numpy as np
import pytest
import torch
from PIL import Image
from test_encoder import photos

from clipvec.images import prepare_image
from clipvec.images.decode import decode_image
from clipvec.images.preprocess import Preprocessor
from clipvec.model.encoder import ClipEncoder
from clipvec.model.towers import FeatureTowers

FAMILIES = ["siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip"]
# Image preprocessing that is not CLIP's (MetaCLIP 2 and AltCLIP ship CLIP's CLIPImageProcessor).
IMAGE_POLICY_DIFFERS = ["siglip", "siglip2", "chinese_clip"]
# Text preparation that is not CLIP's: SigLIP's padding to 64, Chinese-CLIP's 52-token limit in a
# 512-position tower, AltCLIP's RoBERTa positions (2 reserved) and tokenizer limit.
TEXT_PATH_DIFFERS = ["siglip", "siglip2", "chinese_clip", "altclip"]
TEXTS = [
    "a dog",
    "a photo of a cat sitting on a red sofa",
    "猫坐在红色的沙发上 🐱",
    "crème brûlée " + "cre\u0300me",  # precomposed and combining accents
    # Over every family's token limit (about 300 tokens, under every tower's positions), its tail
    # unlike its head: a cut in the wrong place shows.
    "a dog " * 30 + "猫坐在红色的沙发上 🐱 " * 20,
]


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def edge_shapes() -> list[tuple[str, bytes]]:
    """Tiny, very wide, very tall, grayscale and alpha images (PNG: no JPEG loss in the way)."""
    rng = np.random.default_rng(7)

    def noise(h: int, w: int, c: int = 3) -> np.ndarray:
        return rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)

    rgba = noise(300, 200, 4)
    rgba[..., 3] = np.linspace(0, 255, 200, dtype=np.uint8)[None, :]  # a real alpha gradient
    return [
        ("tiny 5x3", png_bytes(Image.fromarray(noise(3, 5)))),
        ("wide 1600x40", png_bytes(Image.fromarray(noise(40, 1600)))),
        ("tall 30x900", png_bytes(Image.fromarray(noise(900, 30)))),
        ("grayscale", png_bytes(Image.fromarray(noise(320, 480, 1), mode="L"))),
        ("alpha", png_bytes(Image.fromarray(rgba, mode="RGBA"))),
    ]


def samples() -> list[tuple[str, bytes]]:
    return photos() + edge_shapes()


@functools.lru_cache(maxsize=1)  # fp32 and bf16 compare with the same reference: one model in memory
def reference(folder: str, padding: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The family's own processor + model: unit vectors for ``samples()`` (decoded at full size) and ``TEXTS``."""
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    images = [decode_image(d).image for _, d in samples()]  # the same upright RGB clipvec decodes
    texts = TEXTS
    model = AutoModel.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        image_vectors = model.get_image_features(pixel_values=pixels).pooler_output
        tokens = tokenizer(texts, padding=padding, truncation=True, max_length=limit, return_tensors="pt")
        text_vectors = model.get_text_features(**tokens).pooler_output
    normalise = torch.nn.functional.normalize
    return normalise(image_vectors, dim=-1).numpy(), normalise(text_vectors, dim=-1).numpy()


def ours(encoder: ClipEncoder, data: list[bytes]) -> np.ndarray:
    """The importer's path: decode (JPEG draft-downscaled), preprocess, encode."""
    pixels = [prepare_image(d, encoder.preprocessor, max_pixels=10**8).pixels for d in data]
    return encoder.encode_pixels(np.stack(pixels))


def compare(folder, encoder: ClipEncoder) -> tuple[dict[str, float], dict[str, float]]:
    """Per-sample and per-text cosine between clipvec and the reference."""
    named = samples()
    ref_images, ref_texts = reference(str(folder), encoder.family.text_padding, encoder.context_length)
    image_cos = (ours(encoder, [d for _, d in named]) * ref_images).sum(axis=1)
    # One by one, as a query comes: a batch pads each text to the longest one's length.
    one_by_one = np.stack([encoder.encode_texts([text]).vectors[0] for text in TEXTS])
    text_cos = (one_by_one * ref_texts).sum(axis=1)
    return (
        dict(zip([n for n, _ in named], image_cos.tolist(), strict=True)),
        dict(zip(TEXTS, text_cos.tolist(), strict=True)),
    )


def assert_faithful(folder, family: str) -> None:
    encoder = ClipEncoder.load(str(folder), precision="fp32")
    assert encoder.family.name == ("siglip" if family == "siglip2" else family)
    images, texts = compare(folder, encoder)
    assert min(images.values()) >= 0.9999, images
    assert min(texts.values()) >= 0.9999, texts
    batch = encoder.encode_texts(TEXTS)  # as the importer and the API batch them
    one_by_one = np.stack([encoder.encode_texts([text]).vectors[0] for text in TEXTS])
    assert (batch.vectors * one_by_one).sum(axis=1).min() >= 0.9999
    assert batch.truncated == [False] * 4 + [True]

    del encoder  # the full-size AltCLIP is 3.4 GB in fp32
    fast = ClipEncoder.load(str(folder), precision="bf16")
    images, texts = compare(folder, fast)
    assert min(images.values()) >= 0.999, images
    assert min(texts.values()) >= 0.999, texts


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_family_vectors_match_its_reference(family_model_dir, family):
    assert_faithful(family_model_dir(family, "tiny"), family)


@pytest.mark.slow
@pytest.mark.xdist_group("family-full")  # ~4 min of one CPU-bound worker: started early (tests/conftest.py)
@pytest.mark.parametrize("family", FAMILIES)
def test_full_size_family_vectors_match_its_reference(family_model_dir, family):
    """The released architecture (random weights): deeper towers carry small differences further."""
    assert_faithful(family_model_dir(family, "full"), family)


# --------------------------------------------------------------------------- the tests can fail
class ClipTextPreparation(FeatureTowers):
    """CLIP's text preparation on the family's tokenizer and towers: padded to the text's own length
    (CLIP's "longest"), cut at the text tower's positions (CLIP's context_length)."""

    def __init__(self, model, tokenizer, family) -> None:
        super().__init__(model, tokenizer, dataclasses.replace(family, text_padding="longest"))
        self.context_length = int(model.config.text_config.max_position_embeddings)


@pytest.mark.parametrize("family", IMAGE_POLICY_DIFFERS)
def test_clips_image_preprocessing_fails_the_family_fidelity(family_model_dir, family):
    folder = family_model_dir(family, "tiny")
    encoder = ClipEncoder.load(str(folder), precision="fp32")
    assert encoder.preprocessor != Preprocessor()
    encoder.preprocessor = Preprocessor()  # CLIP's: shortest edge 224, centre crop, OpenAI mean/std, bicubic
    images, _ = compare(folder, encoder)
    assert min(images.values()) < 0.9999, images


@pytest.mark.parametrize("family", TEXT_PATH_DIFFERS)
def test_clips_text_path_fails_the_family_fidelity(family_model_dir, family):
    folder = family_model_dir(family, "tiny")
    encoder = ClipEncoder.load(str(folder), precision="fp32")
    encoder._towers = ClipTextPreparation(encoder.model, encoder.tokenizer, encoder.family)
    _, texts = compare(folder, encoder)
    assert min(texts.values()) < 0.9999, texts


def test_metaclip_2_prepares_as_clip_does(family_model_dir):
    """MetaCLIP 2 is CLIP's architecture with a multilingual tokenizer: CLIP's image preprocessing
    and text preparation are its own (77 positions, padded to the longest, pooled at the first
    end token), so a swap cannot fail there; its tokenizer, which the checkpoint brings, differs."""
    folder = family_model_dir("metaclip_2", "tiny")
    encoder = ClipEncoder.load(str(folder), precision="fp32")
    assert encoder.preprocessor == Preprocessor()
    assert type(encoder.tokenizer).__name__ == "XLMRobertaTokenizer"
