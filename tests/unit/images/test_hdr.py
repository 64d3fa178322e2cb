"""clipvec.images.hdr: Radiance HDR decoding (both scanline encodings, every axis order) and tone mapping."""

from __future__ import annotations

import numpy as np
import pytest
from image_corpus import H, W, decoded_pixels, format_cases, format_samples, is_blue, is_red

from clipvec.errors import DecodeError, TruncatedImage, UnsupportedImageFormat
from clipvec.images import hdr
from clipvec.images.decode import decode_image

BY_NAME = {s.name: s for s in format_cases()}
RED = bytes((128, 0, 0, 129))  # (0.5+128)/256 * 2 = ~1.0 red


def test_hdr_colours_are_plausible() -> None:
    got = decoded_pixels(decode_image(BY_NAME["hdr_rle"].data))
    assert is_red(got[H // 8, W // 8])  # bright red patch stays red
    assert is_blue(got[H - 1 - H // 8, W - 1 - W // 8])
    background = got[H // 2, W // 2]
    assert 20 < background.mean() < 200, background  # neither crushed to black nor blown out
    assert got[H // 2, -1, 0] > got[H // 2, W // 4, 0]  # red gradient rises to the right
    assert got[-1, W // 4, 1] > got[H // 4, W // 4, 1]  # green gradient rises downwards


def test_hdr_flat_rle_and_bottom_up_agree() -> None:
    flat = decoded_pixels(decode_image(BY_NAME["hdr_flat"].data))
    assert np.array_equal(flat, decoded_pixels(decode_image(BY_NAME["hdr_rle"].data)))
    assert np.array_equal(flat, decoded_pixels(decode_image(BY_NAME["hdr_rle_bottom_up"].data)))


def test_hdr_old_style_rle_and_narrow_images() -> None:
    # width < 8 means flat scanlines; (1, 1, 1, n) repeats the previous pixel n times
    header = b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 5\n"
    row = RED + bytes((1, 1, 1, 4))
    decoded = decode_image(header + row + row)
    assert decoded.format == "HDR" and decoded.image.size == (5, 2)
    assert all(is_red(px) for px in decoded_pixels(decoded).reshape(-1, 3))


def test_axis_order_and_direction() -> None:
    """The resolution line orders the pixels: "+Y 2 -X 3" rows bottom-up, right to left; "+X 2 -Y 3" columns."""
    blue = bytes((0, 0, 128, 129))
    black = bytes(4)
    stored = [RED + black + black, black + black + blue]  # as stored: two rows of three
    flipped = hdr.decode_hdr(b"#?RADIANCE\n\n+Y 2 -X 3\n" + b"".join(stored), 100)
    got = decoded_pixels(flipped)
    assert flipped.image.size == (3, 2) and is_blue(got[0, 0]) and is_red(got[1, 2])
    columns = hdr.decode_hdr(b"#?RADIANCE\n\n+X 2 -Y 3\n" + b"".join(stored), 100)
    got = decoded_pixels(columns)
    assert columns.image.size == (2, 3) and is_red(got[0, 0]) and is_blue(got[2, 1])


def test_xyze_is_converted_to_rgb() -> None:
    # XYZ of pure sRGB red is (0.4124, 0.2126, 0.0193): it must come out red, not grey
    header = b"#?RADIANCE\nFORMAT=32-bit_rle_xyze\n\n-Y 1 +X 1\n"
    got = decoded_pixels(decode_image(header + bytes((105, 54, 5, 129))))
    assert is_red(got[0, 0]), got[0, 0]


@pytest.mark.parametrize(
    ("data", "error", "detail"),
    [
        (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n", TruncatedImage, "the header never ends"),
        (
            b"#?RADIANCE\nFORMAT=16-bit\n\n-Y 1 +X 1\n" + RED,
            UnsupportedImageFormat,
            "'16-bit' is not supported",
        ),
        (b"#?RADIANCE\n\n-Y 1", TruncatedImage, "the resolution line is missing"),
        (b"#?RADIANCE\n\n-Y 1 +Y 1\n" + RED, DecodeError, "bad resolution line '-Y 1 +Y 1'"),
        (b"#?RADIANCE\n\n-Y 2 +X 1\n" + RED, TruncatedImage, "truncated at scanline 1 of 2"),
        (b"#?RADIANCE\n\n-Y 1 +X 2\n" + bytes((1, 1, 1, 1)), DecodeError, "a run starts scanline 0"),
    ],
)
def test_malformed_files_say_what_is_wrong(data: bytes, error: type, detail: str) -> None:
    with pytest.raises(error) as info:
        decode_image(data)
    assert type(info.value) is error and detail in info.value.detail


def test_tone_map_keeps_black_black_and_stays_in_range() -> None:
    assert not hdr._tone_map(np.zeros((2, 2, 3), np.float32)).any()
    bright = np.full((2, 2, 3), 1e6, np.float32)
    bright[0, 0] = 1e-3
    out = hdr._tone_map(bright)
    assert out.dtype == np.uint8 and out[1, 1].min() > 200 and out[0, 0].max() < out[1, 1].min()


def test_hdr_decoder_agrees_with_imagecodecs_up_to_the_half_step():
    """imagecodecs.rgbe_decode (Walter's rgbe.c) was checked as a replacement for our decoder.

    It is not one: it maps a mantissa v to v * 2**(e-136), where Radiance (and we) use the
    bin centre (v + 0.5) * 2**(e-136), which moves dark pixels by up to 6/255 after tone
    mapping; and it refuses "+Y" (bottom-up) files. This pins that the two agree exactly
    apart from that half step, an independent check of our RLE and flat scanline reading.
    """
    import imagecodecs

    for name, data, fmt, _ in format_samples():
        if fmt != "HDR":
            continue
        header_end = data.find(b"\n\n")
        line_end = data.find(b"\n", header_end + 2)
        match = hdr._HDR_RESOLUTION.match(data[header_end + 2 : line_end].strip())
        rows, width = int(match.group(3)), int(match.group(6))
        rgbe = hdr._hdr_pixels(memoryview(data)[line_end + 1 :], width, rows)
        ours = hdr._rgbe_to_float(rgbe)
        theirs = imagecodecs.rgbe_decode(
            data[line_end + 1 :], header=False, out=np.empty((rows, width, 3), np.float32)
        )
        half_step = np.ldexp(np.float32(0.5), rgbe[..., 3].astype(np.int32) - 136)[..., None]
        half_step[rgbe[..., 3] == 0] = 0.0
        np.testing.assert_allclose(ours - half_step, theirs, rtol=1e-6, err_msg=name)
