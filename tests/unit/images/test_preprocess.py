"""clipvec.images.preprocess: CLIP preprocessing, bit for bit as transformers' CLIPImageProcessor."""

from __future__ import annotations

import json

import numpy as np
from image_corpus import encode, noisy_rgb
from PIL import Image, ImageFilter

from clipvec.images.decode import decode_image
from clipvec.images.preprocess import OPENAI_CLIP_MEAN, Preprocessor


def test_preprocess_matches_clip_image_processor(tiny_model_dir):
    from transformers import CLIPImageProcessor

    processor = CLIPImageProcessor.from_pretrained(tiny_model_dir)
    ours = Preprocessor.from_model_folder(tiny_model_dir, 224)
    rng = np.random.default_rng(1)
    for h, w in [(300, 400), (500, 251), (224, 224), (100, 50), (1000, 999)]:
        image = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        expected = processor(images=image, return_tensors="np")["pixel_values"][0]
        np.testing.assert_allclose(ours.to_pixels(image), expected, atol=1e-5)


def test_model_folder_settings(tmp_path) -> None:
    assert Preprocessor.from_model_folder(tmp_path, 336) == Preprocessor(
        336, 336, 336
    )  # no config: CLIP defaults
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"shortest_edge": 256},
                "crop_size": {"height": 240, "width": 200},
                "image_std": [1, 1, 1],
            }
        )
    )
    read = Preprocessor.from_model_folder(tmp_path, 224)
    assert (read.resize_to, read.crop_height, read.crop_width, read.min_decode_side) == (256, 240, 200, 256)
    assert read.mean == OPENAI_CLIP_MEAN and read.std == (1, 1, 1)
    assert read.to_pixels(Image.new("RGB", (300, 500))).shape == (3, 240, 200)


def test_batch_and_non_rgb_input() -> None:
    ours = Preprocessor()
    grey = Image.new("L", (300, 200), 128)
    batch = ours.batch([grey, grey.convert("RGB")])
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], batch[1])
    assert ours.resized_size(300, 200) == (336, 224) and ours.resized_size(200, 305) == (
        224,
        341,
    )  # 341.6: truncated


def test_a_reduced_jpeg_is_sized_as_the_full_image() -> None:
    """Sizing from the reduced decode (ceil(W/4) x ceil(H/4)) would shift the crop; sizing from the full one does not."""
    detailed = noisy_rgb(1601, 1203).filter(ImageFilter.GaussianBlur(3))
    data = encode(detailed, "JPEG", quality=92)  # sides not multiples of 8: libjpeg rounds up
    ours = Preprocessor()
    full = decode_image(data).image
    reduced = decode_image(data, min_side=ours.min_decode_side).image
    assert reduced.size == (401, 301)
    resized = ours.resize_reduced(reduced, 1601, 1203)
    assert resized.size == ours.resized_size(1601, 1203)
    aligned = np.abs(ours.to_pixels(resized) - ours.to_pixels(full)).mean()
    naive = np.abs(ours.to_pixels(reduced) - ours.to_pixels(full)).mean()
    assert aligned < 0.01 and aligned < naive / 2, (aligned, naive)
    assert ours.resize_reduced(full, 1601, 1203) is full  # not a reduced decode: left alone
