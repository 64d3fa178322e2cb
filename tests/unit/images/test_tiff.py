"""clipvec.images.tiff: the tifffile fallback for TIFFs Pillow cannot read."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from image_corpus import H, W, decoded_pixels, format_cases, is_blue, is_red, reference_rgb

from clipvec.errors import ImageTooLarge, UnsupportedImageFormat
from clipvec.images.decode import decode_image
from clipvec.images.tiff import decode_tiff_fallback

BY_NAME = {s.name: s for s in format_cases()}


def tiff(array: np.ndarray, **params: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **params)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name", ["tiff_float_grey", "tiff_float_depth", "tiff_float_rgb", "tiff_float_rgb_planar"]
)
def test_float_tiff_is_not_black(name: str) -> None:
    got = decoded_pixels(decode_image(BY_NAME[name].data))
    assert got.mean() > 60 and got.max() >= 220


# --------------------------------------------------------------------------- issue 8: codecs via imagecodecs
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("compression", ["zlib", "lzw"])
def test_tiff_with_the_floating_point_predictor_decodes(dtype, compression):
    """Predictor 3 (scientific and HDR tools) needs imagecodecs; it was 400 undecodable_image."""
    pixels = np.linspace(0, 1, 40 * 30 * 3, dtype=np.float32).reshape(30, 40, 3).astype(dtype)
    buf = io.BytesIO()
    tifffile.imwrite(buf, pixels, photometric="rgb", predictor=3, compression=compression)
    decoded = decode_image(buf.getvalue())
    assert (decoded.format, decoded.width, decoded.height) == ("TIFF", 40, 30)
    expected = (pixels.astype(np.float32) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)


@pytest.mark.parametrize("name", ["tiff_rgb", "tiff_lzw", "tiff_rgba", "tiff_grey16", "tiff_orientation_6"])
def test_fallback_agrees_with_pillow(name: str) -> None:
    """Files Pillow reads give the same picture through tifffile (alpha, depth, orientation)."""
    data = BY_NAME[name].data
    ours = decode_tiff_fallback(data, 10**8, ValueError("test"))
    pillow = decode_image(data)
    assert (ours.format, ours.width, ours.height) == ("TIFF", *BY_NAME[name].size)
    assert ours.image.mode == "RGB" and ours.image.size == pillow.image.size
    assert np.abs(decoded_pixels(ours) - decoded_pixels(pillow)).max() <= 1


def test_miniswhite_cmyk_and_grey_alpha_layouts() -> None:
    grey = np.asarray(reference_rgb()).mean(axis=2).astype(np.uint8)
    inverted = decode_tiff_fallback(tiff(255 - grey, photometric="miniswhite"), 10**8, ValueError())
    assert np.abs(decoded_pixels(inverted)[..., 0] - grey).max() <= 1

    cmyk = np.zeros((H, W, 4), np.uint8)
    cmyk[..., 0] = 255  # full cyan
    cyan = decode_tiff_fallback(tiff(cmyk, photometric="separated"), 10**8, ValueError())
    assert tuple(decoded_pixels(cyan)[0, 0]) == (0, 255, 255)

    grey_alpha = np.stack([grey, np.zeros_like(grey)], axis=-1)  # all transparent
    data = tiff(grey_alpha, photometric="minisblack", planarconfig="contig", extrasamples=["unassalpha"])
    assert (decoded_pixels(decode_tiff_fallback(data, 10**8, ValueError())) == 255).all()


def test_float_colour_with_orientation_stays_upright() -> None:
    decoded = decode_image(BY_NAME["tiff_float_rgb_orientation_6"].data)
    got = decoded_pixels(decoded)
    assert decoded.image.size == (48, 64) and (decoded.width, decoded.height) == (48, 64)
    assert is_red(got[4, 4]) and is_blue(got[-5, -5])


def test_fallback_checks_the_size_first() -> None:
    data = BY_NAME["tiff_float_rgb"].data
    with pytest.raises(ImageTooLarge, match="TIFF image is 64x48"):
        decode_tiff_fallback(data, W * H - 1, ValueError())


def test_unknown_compression_is_unsupported_not_malformed() -> None:
    data = bytearray(tiff(np.zeros((8, 8), np.uint8)))
    # Compression tag (259, SHORT, 1): value 1 (none) -> 60000, a scheme nobody implements
    at = bytes(data).find(b"\x03\x01\x03\x00\x01\x00\x00\x00\x01\x00")
    assert at > 0
    data[at + 8 : at + 10] = (60000).to_bytes(2, "little")
    with pytest.raises(UnsupportedImageFormat, match="compression or predictor is not supported"):
        decode_image(bytes(data))
