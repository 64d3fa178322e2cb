"""clipvec.images.pillow_decode: orientation, transparency, depth and JPEG draft on the Pillow path."""

from __future__ import annotations

import io

import numpy as np
import pytest
from image_corpus import (
    H,
    W,
    decoded_pixels,
    encode,
    format_cases,
    hostile_cases,
    is_red,
    jpeg_with_orientation,
    large_jpeg,
    reference_rgb,
)
from PIL import Image, ImageFile

from clipvec.errors import TruncatedImage
from clipvec.images.budget import PixelBudget
from clipvec.images.decode import decode_image
from clipvec.images.pillow_decode import decode_pillow

BY_NAME = {s.name: s for s in format_cases()}


# --------------------------------------------------------------------------------------
# Orientation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(orientation: int) -> None:
    w, h = (H, W) if orientation >= 5 else (W, H)
    decoded = decode_image(jpeg_with_orientation(orientation, w, h))
    assert (decoded.width, decoded.height) == (w, h) == decoded.image.size
    assert np.abs(decoded_pixels(decoded) - reference_rgb(w, h)).mean() < 3


def test_exif_orientation_6_stored_landscape_decodes_portrait() -> None:
    data = BY_NAME["jpeg_exif_orientation_6"].data
    assert Image.open(io.BytesIO(data)).size == (64, 48)  # as stored
    decoded = decode_image(data)
    assert decoded.image.size == (48, 64) and (decoded.width, decoded.height) == (48, 64)
    assert is_red(decoded_pixels(decoded)[4, 4])


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_does_not_lose_the_image() -> None:
    data = encode(Image.fromarray(reference_rgb()), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*garbage!")
    decoded = decode_image(data)
    assert decoded.image.size == (W, H) and is_red(decoded_pixels(decoded)[3, 3])


# --------------------------------------------------------------------------------------
# Transparency and depth
# --------------------------------------------------------------------------------------

TRANSPARENT_QUARTER = ["png_rgba", "png_la", "webp_alpha", "tiff_rgba", "tga_rgba", "tga_rgba_rle"]


@pytest.mark.parametrize("name", TRANSPARENT_QUARTER)
def test_transparent_pixels_become_white(name: str) -> None:
    got = decoded_pixels(decode_image(BY_NAME[name].data))
    assert (got[:, : W // 4] == 255).all(), "hidden colour shows through fully transparent pixels"
    assert tuple(got[1, 1]) == (255, 255, 255)
    # black at alpha 128 over white: half grey, not black and not white
    assert np.abs(got[:, W // 4 : W // 2] - 127).max() <= 2


@pytest.mark.parametrize("name", ["png_palette_transparency", "gif_transparent", "png_rgb_colour_key"])
def test_keyed_transparency_becomes_white(name: str) -> None:
    got = decoded_pixels(decode_image(BY_NAME[name].data))
    assert tuple(got[H // 2, W // 2]) == (255, 255, 255)
    assert is_red(got[2, 2])


def test_tga_with_all_zero_alpha_is_opaque() -> None:
    raw = Image.open(io.BytesIO(BY_NAME["tga_zero_alpha"].data))
    assert raw.mode == "RGBA" and raw.getchannel("A").getextrema() == (0, 0)
    got = decoded_pixels(decode_image(BY_NAME["tga_zero_alpha"].data))
    assert np.array_equal(got, reference_rgb())


def test_fully_transparent_png_is_white_not_hidden_colour() -> None:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 1] = 200  # hidden green, alpha 0 everywhere
    got = decoded_pixels(decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert (got == 255).all()


@pytest.mark.parametrize("name", ["png_grey16", "tiff_grey16"])
def test_16bit_grey_mid_grey_stays_mid_grey(name: str) -> None:
    got = decoded_pixels(decode_image(BY_NAME[name].data))
    assert abs(int(got[H // 4, W // 2, 0]) - 128) <= 1  # 32896/65535, not clipped to white
    ramp = got[H - 1, :, 0]
    assert ramp[0] <= 1 and ramp[-1] >= 254 and (np.diff(ramp) >= 0).all()


def test_truncation_flag_is_left_off() -> None:
    decode_image(BY_NAME["png_rgb"].data)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(TruncatedImage):
        decode_image({s.name: s for s in hostile_cases()}["truncated_jpeg"].data)


# --------------------------------------------------------------------------------------
# JPEG draft (reduced-scale decoding)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("orientation", "size"), [(1, (1600, 1200)), (6, (1200, 1600))])
def test_draft_keeps_original_size_and_min_side(orientation: int, size: tuple[int, int]) -> None:
    data = large_jpeg(*size, orientation=orientation)
    full = decode_image(data)
    assert full.image.size == size and (full.width, full.height) == size
    drafted = decode_image(data, min_side=224)
    assert (drafted.width, drafted.height) == size  # the original, not the drafted size
    assert min(drafted.image.size) >= 224
    assert drafted.image.size == (size[0] // 4, size[1] // 4)  # 1/4 keeps >= 224, 1/8 would not
    reference = np.asarray(Image.fromarray(reference_rgb(*size)).resize(drafted.image.size, Image.BOX))
    assert np.abs(decoded_pixels(drafted) - reference).mean() < 4
    assert is_red(decoded_pixels(drafted)[10, 10])


def test_draft_never_goes_below_min_side() -> None:
    data = large_jpeg(640, 480)
    for min_side, expected in [(100, (160, 120)), (240, (320, 240)), (241, (640, 480)), (5000, (640, 480))]:
        decoded = decode_image(data, min_side=min_side)
        assert decoded.image.size == expected, min_side
        assert (decoded.width, decoded.height) == (640, 480)


def test_min_side_is_ignored_for_other_formats() -> None:
    decoded = decode_image(BY_NAME["png_rgb"].data, min_side=8)
    assert decoded.image.size == (W, H)


def test_the_budget_is_charged_the_drafted_size() -> None:
    """The reservation holds what libjpeg really decodes (after draft), not the full size."""
    budget = PixelBudget(10**9)
    with budget.reservation() as held:
        decoded = decode_pillow(large_jpeg(640, 480), "JPEG", 10**8, 100, held)
        assert decoded.image.size == (160, 120)
        assert held.weight == budget.used == 160 * 120
    assert budget.used == 0
