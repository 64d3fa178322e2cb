"""Issue 18.2: each family's image policy, read from preprocessor_config.json over its class's defaults,
equals that class's transformers (PIL) processor, including for the JPEG draft decode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from image_corpus import encode, noisy_rgb
from PIL import Image, ImageFilter

from clipvec.images.decode import decode_image
from clipvec.images.policies import IMAGENET_STANDARD_MEAN, preprocessor_from_config, processor_type
from clipvec.images.preprocess import OPENAI_CLIP_MEAN, Preprocessor

SIGLIP_HUB = {  # google/siglip-base-patch16-224's file: no do_center_crop, no crop_size
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "SiglipImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "SiglipProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}
CHINESE_CLIP_HUB = {  # OFA-Sys/chinese-clip-vit-base-patch16's file: a legacy int size, no crop
    "do_center_crop": False,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ChineseCLIPFeatureExtractor",
    "image_mean": list(OPENAI_CLIP_MEAN),
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}


def test_siglip_squashes_to_the_square_without_a_crop():
    pre = preprocessor_from_config(SIGLIP_HUB, 224, "CLIPImageProcessor")  # the file names its class
    assert pre.squash and (pre.crop_width, pre.crop_height) == (224, 224)
    assert pre.mean == IMAGENET_STANDARD_MEAN and pre.resample == 3
    assert pre.resized_size(1000, 100) == (224, 224)  # aspect ratio not kept
    assert pre.to_pixels(Image.new("RGB", (1000, 100))).shape == (3, 224, 224)
    # A squash scales each side on its own: a draft decode keeps twice the longer target side.
    assert pre.min_decode_side == 448
    assert (
        preprocessor_from_config({}, 384, "SiglipImageProcessor").crop_height == 384
    )  # no file: the class's


def test_chinese_clips_legacy_file_is_a_square_squash():
    pre = preprocessor_from_config(CHINESE_CLIP_HUB, 224, "CLIPImageProcessor")
    assert processor_type(CHINESE_CLIP_HUB, "x") == "ChineseCLIPImageProcessor"
    assert pre.squash and (pre.crop_width, pre.crop_height) == (224, 224) and pre.mean == OPENAI_CLIP_MEAN


def test_clip_files_read_as_before():
    legacy = {
        "crop_size": 224,
        "do_center_crop": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "size": 224,
    }
    assert preprocessor_from_config(legacy, 224, "SiglipImageProcessor") == Preprocessor()
    assert preprocessor_from_config({}, 336, "CLIPImageProcessor") == Preprocessor(336, 336, 336)
    bilinear = preprocessor_from_config({"resample": 2}, 224, "CLIPImageProcessor")
    assert bilinear.resample == 2 and not bilinear.squash


@pytest.mark.parametrize(
    ("cfg", "said"),
    [
        ({"size": {"longest_edge": 512}}, "not supported"),
        ({"size": {"shortest_edge": 224}, "do_center_crop": False}, "no fixed input size"),
        ({"size": {"height": 224, "width": 224}, "do_center_crop": True, "crop_size": 200}, "not supported"),
    ],
)
def test_what_cannot_be_reproduced_is_refused(cfg, said):
    with pytest.raises(ValueError, match=said):
        preprocessor_from_config(cfg, 224, "CLIPImageProcessor")


@pytest.mark.parametrize(
    ("processor_class", "kwargs"),
    [
        ("SiglipImageProcessor", {"size": {"height": 224, "width": 224}}),  # bicubic
        (
            "SiglipImageProcessor",
            {"size": {"height": 256, "width": 256}, "resample": 2},
        ),  # SigLIP 2: bilinear
        ("ChineseCLIPImageProcessor", {"size": {"height": 224, "width": 224}, "do_center_crop": False}),
        ("CLIPImageProcessor", {"size": {"shortest_edge": 224}, "resample": 2}),
    ],
)
def test_matches_the_transformers_processor(tmp_path, processor_class, kwargs):
    import transformers

    processor = getattr(transformers, processor_class)(**kwargs)
    processor.save_pretrained(tmp_path)
    ours = Preprocessor.from_model_folder(tmp_path, 224, "CLIPImageProcessor")
    rng = np.random.default_rng(1)
    for h, w in [(300, 400), (500, 251), (224, 224), (3, 5), (40, 1600), (1000, 999)]:
        image = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        expected = processor(images=image, return_tensors="np")["pixel_values"][0]
        np.testing.assert_allclose(ours.to_pixels(image), expected, atol=1e-5)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert processor_type(saved, "x") == processor_class


def test_a_reduced_jpeg_is_squashed_as_the_full_image():
    detailed = noisy_rgb(1601, 1203).filter(ImageFilter.GaussianBlur(3))
    data = encode(detailed, "JPEG", quality=92)
    ours = preprocessor_from_config(SIGLIP_HUB, 224, "SiglipImageProcessor")
    full = decode_image(data).image
    reduced = decode_image(data, min_side=ours.min_decode_side).image
    assert reduced.size == (801, 602)  # 1/2 scale: twice 224 on both sides
    resized = ours.resize_reduced(reduced, 1601, 1203)
    assert resized.size == (224, 224)
    aligned = np.abs(ours.to_pixels(resized) - ours.to_pixels(full)).mean()
    assert aligned < 0.01, aligned


def test_a_reduced_photo_gives_the_full_decodes_pixels_for_a_squash(tmp_path):
    """A 999x1776 photo at 1/4 scale (250 px short side) gave pixel cosine 0.9986: SigLIP's
    vectors fell to 0.99975 of a full decode (issue 18.2 asks 0.9999)."""
    from clipvec.cli.bench.inputs import build_photos

    ours = preprocessor_from_config(SIGLIP_HUB, 224, "SiglipImageProcessor")
    for path in build_photos(tmp_path, 4, seed=3, megapixels=(1.7, 2.4), quiet=True):
        data = path.read_bytes()
        full = ours.to_pixels(decode_image(data).image).ravel()
        decoded = decode_image(data, min_side=ours.min_decode_side)
        assert decoded.image.size != (decoded.width, decoded.height)  # a reduced decode was taken
        reduced = ours.to_pixels(ours.resize_reduced(decoded.image, decoded.width, decoded.height)).ravel()
        cosine = float(full @ reduced / np.linalg.norm(full) / np.linalg.norm(reduced))
        assert cosine >= 0.9999, (path.name, cosine)
