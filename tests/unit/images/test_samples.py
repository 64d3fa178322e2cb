"""clipvec.images.samples: deep samples scaled (not clipped) to 8 bits, transparency onto white."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clipvec.errors import DecodeError
from clipvec.images.samples import WHITE, alpha_to_uint8, composite_on_white, stretch, to_uint8


def test_uint8_passes_through_and_bool_is_black_or_white() -> None:
    a = np.arange(6, dtype=np.uint8)
    assert to_uint8(a) is a
    assert to_uint8(np.array([True, False])).tolist() == [255, 0]


def test_sixteen_bit_is_scaled_by_the_full_range() -> None:
    assert to_uint8(np.array([0, 32896, 65535], np.uint16)).tolist() == [0, 128, 255]
    # wider integers holding 16-bit values are scaled the same way
    assert to_uint8(np.array([0, 32896, 65535], np.int32)).tolist() == [0, 128, 255]


def test_other_integers_are_stretched_from_min_to_max() -> None:
    assert to_uint8(np.array([-100, 0, 155], np.int16)).tolist() == [0, 100, 255]
    assert to_uint8(np.array([0, 70000], np.uint32)).tolist() == [0, 255]


def test_floats_in_zero_to_one_are_scaled_and_others_stretched() -> None:
    assert to_uint8(np.array([0.0, 0.5, 1.0], np.float32)).tolist() == [0, 128, 255]
    assert to_uint8(np.array([0.0, 5.0, 10.0], np.float64)).tolist() == [0, 128, 255]
    # not-a-number and infinities count as 0 and do not decide the range
    assert to_uint8(np.array([np.nan, 0.5, np.inf, 1.0], np.float32)).tolist() == [0, 128, 0, 255]
    assert to_uint8(np.array([np.nan, np.inf], np.float32)).tolist() == [0, 0]


def test_flat_images_and_unknown_sample_types() -> None:
    assert stretch(np.full(3, 7.0), 7.0, 7.0).tolist() == [255, 255, 255]
    assert stretch(np.full(3, -1.0), -1.0, -1.0).tolist() == [0, 0, 0]
    assert to_uint8(np.array([], np.int32)).dtype == np.uint8
    with pytest.raises(DecodeError, match="unsupported sample type complex64"):
        to_uint8(np.zeros(2, np.complex64))


def test_alpha_planes() -> None:
    assert np.asarray(alpha_to_uint8(np.array([[-1.0, 0.5, 2.0]], np.float32))).tolist() == [[0, 128, 255]]
    assert np.asarray(alpha_to_uint8(np.array([[0, 65535]], np.uint16))).tolist() == [[0, 255]]


def test_composite_on_white() -> None:
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, 1] = 200  # hidden green
    rgba[0, :, 3] = (0, 128, 255)
    out = np.asarray(composite_on_white(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(out[0, 0]) == WHITE
    assert tuple(out[0, 1]) == (127, 227, 127)  # half green over white
    assert tuple(out[0, 2]) == (0, 200, 0)


@pytest.mark.parametrize(("fmt", "opaque"), [("TGA", True), ("BMP", True), ("PNG", False)])
def test_all_zero_alpha_is_an_unused_channel_only_for_tga_and_bmp(fmt: str, opaque: bool) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    out = np.asarray(composite_on_white(Image.fromarray(rgba, "RGBA"), fmt))
    assert tuple(out[0, 0]) == ((200, 0, 0) if opaque else WHITE)
