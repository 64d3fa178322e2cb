"""Our preprocessing + encoder against the reference path (transformers CLIPProcessor + CLIPModel)."""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
import torch
from PIL import Image

from clipvec.images import prepare_image
from clipvec.model.encoder import ClipEncoder


def photos() -> list[tuple[str, bytes]]:
    """Real photographs shipped with scikit-image, as JPEG files of several sizes."""
    return list(_photos())


@functools.lru_cache(maxsize=1)  # ~2-4 s to make (a noisy 12 MP JPEG): once per test process
def _photos() -> tuple[tuple[str, bytes], ...]:
    from skimage import data

    out = []
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        pixels = getattr(data, name)()
        image = Image.fromarray(pixels)
        if name == "astronaut":  # a larger photo, so JPEG draft decoding kicks in
            image = image.resize((image.width * 3, image.height * 3), Image.Resampling.LANCZOS)
        if name == "coffee":  # 12 MP with sensor noise, sides not multiples of 8: decoded at 1/8 scale
            big = np.asarray(image.resize((4003, 2997), Image.Resampling.BICUBIC), dtype=np.float32)
            noise = np.random.default_rng(0).normal(0, 5, big.shape)
            image = Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8))
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=92)
        out.append((name, buf.getvalue()))
    return tuple(out)


def reference_image_vectors(model_dir, images: list[Image.Image]) -> np.ndarray:
    from transformers import CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(model_dir).eval()
    processor = CLIPImageProcessor.from_pretrained(model_dir)
    with torch.no_grad():
        feats = model.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
    return torch.nn.functional.normalize(feats, dim=-1).numpy()


@pytest.mark.slow
def test_full_size_vectors_match_reference(base_model_dir):
    """ViT-B/32 (random weights, real architecture): our decode+preprocess+encode vs transformers."""
    samples = photos()
    full = [Image.open(io.BytesIO(data)).convert("RGB") for _, data in samples]
    reference = reference_image_vectors(base_model_dir, full)

    encoder = ClipEncoder.load(str(base_model_dir), precision="fp32")
    ours = np.stack(
        [
            encoder.encode_pixels(prepare_image(data, encoder.preprocessor, max_pixels=10**8).pixels[None])[0]
            for _, data in samples
        ]
    )
    cosines = (ours * reference).sum(axis=1)
    # The target is 0.9999; we hold 0.99999, which a JPEG draft decode whose resize is not
    # aligned to the full image (sides not multiples of 8) fails (0.99998 on "coffee").
    assert cosines.min() >= 0.99999, dict(zip([n for n, _ in samples], cosines.tolist(), strict=True))

    # Reduced precision (bf16 on CPUs that have it) keeps fidelity too.
    fast = ClipEncoder.load(str(base_model_dir), precision="bf16")
    fast_vectors = fast.encode_images(full)
    assert (fast_vectors * reference).sum(axis=1).min() >= 0.999

    from transformers import AutoTokenizer, CLIPModel

    texts = ["a dog", "a photo of a cat sitting on a red sofa", "word " * 100]
    model = CLIPModel.from_pretrained(base_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(base_model_dir)
    with torch.no_grad():
        batch = tok(texts, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
        ref_text = torch.nn.functional.normalize(
            model.get_text_features(**batch).pooler_output, dim=-1
        ).numpy()
    enc_text = encoder.encode_texts(texts)
    assert (enc_text.vectors * ref_text).sum(axis=1).min() >= 0.9999
    assert enc_text.truncated == [False, False, True]


def test_text_padding_does_not_change_vectors(tiny_model_dir):
    encoder = ClipEncoder.load(str(tiny_model_dir), precision="fp32")
    texts = ["dog", "a much longer description of a small brown dog on grass"]
    together = encoder.encode_texts(texts).vectors
    alone = np.stack([encoder.encode_texts([t]).vectors[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    ids, mask, truncated, counts = encoder.tokenize(["dog"])
    assert ids.shape[1] == 3 and counts == [3] and truncated == [False]  # not padded to 77


def test_missing_model_is_a_clear_error(tmp_path):
    from clipvec.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="local folder"):
        ClipEncoder.load("no-such-org/no-such-clip-model")
