"""clipvec.decode: every format, orientation, depth, transparency, and every hostile input."""

from __future__ import annotations

import dataclasses
import io
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from image_corpus import (
    FormatSample,
    H,
    HostileSample,
    W,
    encode,
    format_cases,
    format_samples,
    heif_available,
    hostile_cases,
    hostile_samples,
    jpeg_with_orientation,
    large_jpeg,
    png_bomb,
    reference_rgb,
    write_format_samples,
)
from PIL import Image, ImageFile

from clipvec.decode import SUPPORTED_FORMATS, DecodedImage, decode_file, decode_image, sniff_format
from clipvec.errors import (
    ClipvecError,
    DecodeError,
    EmptyInput,
    ImageTooLarge,
    TruncatedImage,
    UnsupportedImageFormat,
)

FORMATS = format_cases()
HOSTILE = hostile_cases()
BY_NAME = {s.name: s for s in FORMATS}


def pixels(decoded: DecodedImage) -> np.ndarray:
    return np.asarray(decoded.image).astype(np.int16)


def is_red(px: np.ndarray) -> bool:
    return px[0] > 180 and px[0] - px[1] > 100 and px[0] - px[2] > 100


def is_blue(px: np.ndarray) -> bool:
    return px[2] > 180 and px[2] - px[0] > 100 and px[2] - px[1] > 100


# --------------------------------------------------------------------------------------
# Every format and variant
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", FORMATS, ids=lambda s: s.name)
def test_format_decodes_to_expected_pixels(sample: FormatSample) -> None:
    decoded = decode_image(sample.data)
    assert decoded.format == sample.format
    assert (decoded.width, decoded.height) == sample.size
    assert decoded.image.size == sample.size
    assert decoded.image.mode == "RGB"
    got = pixels(decoded)
    if sample.expected is not None:
        error = np.abs(got - sample.expected).mean()
        assert error <= sample.tolerance, f"mean abs error {error:.2f} > {sample.tolerance}"
    if sample.markers:  # red block top-left, blue block bottom-right: orientation is right
        w, h = sample.size
        assert is_red(got[h // 8, w // 8]), got[h // 8, w // 8]
        assert is_blue(got[h - 1 - h // 8, w - 1 - w // 8]), got[h - 1 - h // 8, w - 1 - w // 8]


def test_every_supported_format_has_a_sample() -> None:
    assert {s.format for s in FORMATS} == set(SUPPORTED_FORMATS)
    assert {"JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "HDR", "TGA"} <= SUPPORTED_FORMATS


@pytest.mark.parametrize("sample", FORMATS, ids=lambda s: s.name)
def test_sniff_from_magic_bytes(sample: FormatSample) -> None:
    assert sniff_format(sample.data) == sample.format


def test_public_tuple_helpers() -> None:
    tuples = format_samples()
    assert len(tuples) == len(FORMATS) and all(len(t) == 4 for t in tuples)
    assert ("jpeg_exif_orientation_6", BY_NAME["jpeg_exif_orientation_6"].data, "JPEG", (48, 64)) in tuples
    statuses = {status for _, _, status in hostile_samples()}
    assert statuses == {400, 413, 415}


def test_bytearray_and_memoryview_inputs() -> None:
    data = BY_NAME["png_rgb"].data
    for variant in (bytearray(data), memoryview(data)):
        assert decode_image(variant).image.size == (W, H)


def test_decoded_image_is_frozen() -> None:
    decoded = decode_image(BY_NAME["png_rgb"].data)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.width = 1  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# Orientation, transparency, depth, HDR
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(orientation: int) -> None:
    w, h = (H, W) if orientation >= 5 else (W, H)
    decoded = decode_image(jpeg_with_orientation(orientation, w, h))
    assert (decoded.width, decoded.height) == (w, h) == decoded.image.size
    assert np.abs(pixels(decoded) - reference_rgb(w, h)).mean() < 3


def test_exif_orientation_6_stored_landscape_decodes_portrait() -> None:
    data = BY_NAME["jpeg_exif_orientation_6"].data
    assert Image.open(io.BytesIO(data)).size == (64, 48)  # as stored
    decoded = decode_image(data)
    assert decoded.image.size == (48, 64) and (decoded.width, decoded.height) == (48, 64)
    assert is_red(pixels(decoded)[4, 4])


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_does_not_lose_the_image() -> None:
    data = encode(Image.fromarray(reference_rgb()), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*garbage!")
    decoded = decode_image(data)
    assert decoded.image.size == (W, H) and is_red(pixels(decoded)[3, 3])


TRANSPARENT_QUARTER = ["png_rgba", "png_la", "webp_alpha", "tiff_rgba", "tga_rgba", "tga_rgba_rle"]


@pytest.mark.parametrize("name", TRANSPARENT_QUARTER)
def test_transparent_pixels_become_white(name: str) -> None:
    got = pixels(decode_image(BY_NAME[name].data))
    assert (got[:, : W // 4] == 255).all(), "hidden colour shows through fully transparent pixels"
    assert tuple(got[1, 1]) == (255, 255, 255)
    # black at alpha 128 over white: half grey, not black and not white
    assert np.abs(got[:, W // 4 : W // 2] - 127).max() <= 2


@pytest.mark.parametrize("name", ["png_palette_transparency", "gif_transparent", "png_rgb_colour_key"])
def test_keyed_transparency_becomes_white(name: str) -> None:
    got = pixels(decode_image(BY_NAME[name].data))
    assert tuple(got[H // 2, W // 2]) == (255, 255, 255)
    assert is_red(got[2, 2])


def test_tga_with_all_zero_alpha_is_opaque() -> None:
    raw = Image.open(io.BytesIO(BY_NAME["tga_zero_alpha"].data))
    assert raw.mode == "RGBA" and raw.getchannel("A").getextrema() == (0, 0)
    got = pixels(decode_image(BY_NAME["tga_zero_alpha"].data))
    assert np.array_equal(got, reference_rgb())


def test_fully_transparent_png_is_white_not_hidden_colour() -> None:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 1] = 200  # hidden green, alpha 0 everywhere
    got = pixels(decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert (got == 255).all()


@pytest.mark.parametrize("name", ["png_grey16", "tiff_grey16"])
def test_16bit_grey_mid_grey_stays_mid_grey(name: str) -> None:
    got = pixels(decode_image(BY_NAME[name].data))
    assert abs(int(got[H // 4, W // 2, 0]) - 128) <= 1  # 32896/65535, not clipped to white
    ramp = got[H - 1, :, 0]
    assert ramp[0] <= 1 and ramp[-1] >= 254 and (np.diff(ramp) >= 0).all()


@pytest.mark.parametrize(
    "name", ["tiff_float_grey", "tiff_float_depth", "tiff_float_rgb", "tiff_float_rgb_planar"]
)
def test_float_tiff_is_not_black(name: str) -> None:
    got = pixels(decode_image(BY_NAME[name].data))
    assert got.mean() > 60 and got.max() >= 220


def test_hdr_colours_are_plausible() -> None:
    got = pixels(decode_image(BY_NAME["hdr_rle"].data))
    assert is_red(got[H // 8, W // 8])  # bright red patch stays red
    assert is_blue(got[H - 1 - H // 8, W - 1 - W // 8])
    background = got[H // 2, W // 2]
    assert 20 < background.mean() < 200, background  # neither crushed to black nor blown out
    assert got[H // 2, -1, 0] > got[H // 2, W // 4, 0]  # red gradient rises to the right
    assert got[-1, W // 4, 1] > got[H // 4, W // 4, 1]  # green gradient rises downwards


def test_hdr_flat_rle_and_bottom_up_agree() -> None:
    flat = pixels(decode_image(BY_NAME["hdr_flat"].data))
    assert np.array_equal(flat, pixels(decode_image(BY_NAME["hdr_rle"].data)))
    assert np.array_equal(flat, pixels(decode_image(BY_NAME["hdr_rle_bottom_up"].data)))


def test_hdr_old_style_rle_and_narrow_images() -> None:
    # width < 8 means flat scanlines; (1, 1, 1, n) repeats the previous pixel n times
    header = b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 5\n"
    red = bytes((128, 0, 0, 129))  # (0.5+128)/256 * 2 = ~1.0 red
    row = red + bytes((1, 1, 1, 4))
    decoded = decode_image(header + row + row)
    assert decoded.format == "HDR" and decoded.image.size == (5, 2)
    assert all(is_red(px) for px in pixels(decoded).reshape(-1, 3))


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
    assert np.abs(pixels(drafted) - reference).mean() < 4
    assert is_red(pixels(drafted)[10, 10])


def test_draft_never_goes_below_min_side() -> None:
    data = large_jpeg(640, 480)
    for min_side, expected in [(100, (160, 120)), (240, (320, 240)), (241, (640, 480)), (5000, (640, 480))]:
        decoded = decode_image(data, min_side=min_side)
        assert decoded.image.size == expected, min_side
        assert (decoded.width, decoded.height) == (640, 480)


def test_min_side_is_ignored_for_other_formats() -> None:
    decoded = decode_image(BY_NAME["png_rgb"].data, min_side=8)
    assert decoded.image.size == (W, H)


# --------------------------------------------------------------------------------------
# Limits and hostile input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["png_rgb", "jpeg_rgb", "hdr_rle", "tiff_float_rgb", "tga_rle", "webp_lossy"]
)
def test_max_pixels_is_enforced_exactly(name: str) -> None:
    data = BY_NAME[name].data
    assert decode_image(data, max_pixels=W * H).image.size == (W, H)
    with pytest.raises(ImageTooLarge) as info:
        decode_image(data, max_pixels=W * H - 1)
    assert info.value.status == 413 and "64x48" in info.value.detail


def test_bombs_refused_from_the_header() -> None:
    # The PNG holds a few bytes of pixel data: refusing it proves no decoding was attempted.
    with pytest.raises(ImageTooLarge, match="9000x9000 = 81.0 megapixels"):
        decode_image(png_bomb(9000, 9000), max_pixels=50_000_000)
    with pytest.raises(ImageTooLarge, match="1000x1000 = 1.0 megapixels"):
        decode_image(png_bomb(1000, 1000), max_pixels=999_999)
    # Above Pillow's own limit (~179 MP) Pillow refuses first; still a clean 413
    with pytest.raises(ImageTooLarge, match="2500.0 megapixels"):
        decode_image(png_bomb(), max_pixels=4_000_000_000)


@pytest.mark.parametrize("sample", HOSTILE, ids=lambda s: s.name)
def test_hostile_input_raises_the_right_error(sample: HostileSample) -> None:
    with pytest.raises(ClipvecError) as info:
        decode_image(sample.data)
    err = info.value
    assert (err.code, err.status) == (sample.code, sample.status), err.detail
    assert err.detail and len(err.detail) < 300
    expected_class = {
        "empty_body": EmptyInput,
        "truncated_image": TruncatedImage,
        "image_too_large": ImageTooLarge,
        "unsupported_image_format": UnsupportedImageFormat,
        "undecodable_image": DecodeError,
    }[sample.code]
    assert isinstance(err, expected_class)


def test_unsupported_formats_name_what_they_saw() -> None:
    by_name = {s.name: s for s in HOSTILE}
    for name, kind in [("pdf", "PDF"), ("zip", "ZIP"), ("html", "HTML"), ("text", "TEXT"), ("psd", "PSD")]:
        with pytest.raises(UnsupportedImageFormat, match=kind):
            decode_image(by_name[name].data)


def test_mutated_files_never_raise_raw_exceptions() -> None:
    rng = np.random.default_rng(7)
    seeds = [
        "jpeg_rgb",
        "png_rgba",
        "gif",
        "bmp_rgb",
        "tiff_lzw",
        "tiff_float_rgb",
        "webp_alpha",
        "tga_rle",
        "hdr_rle",
    ]
    outcomes = {"ok": 0, "error": 0}
    for name in seeds:
        data = BY_NAME[name].data
        for _ in range(25):
            mutated = bytearray(data)
            for pos in rng.integers(0, len(mutated), int(rng.integers(1, 12))):
                mutated[pos] = int(rng.integers(0, 256))
            if rng.random() < 0.3:
                mutated = mutated[: int(rng.integers(1, len(mutated)))]
            try:
                decoded = decode_image(bytes(mutated), max_pixels=10_000_000)
            except ClipvecError as exc:
                assert exc.status in (400, 413, 415) and exc.detail
                outcomes["error"] += 1
            else:
                assert decoded.image.mode == "RGB" and decoded.image.size[0] > 0
                outcomes["ok"] += 1
    assert outcomes["error"] > 0 and outcomes["ok"] > 0


def test_heic_without_plugin_is_unsupported() -> None:
    if heif_available():
        pytest.skip("pillow-heif is installed")
    fake_heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    assert sniff_format(fake_heic) == "HEIC"
    with pytest.raises(UnsupportedImageFormat, match="pillow-heif") as info:
        decode_image(fake_heic)
    assert info.value.status == 415


def test_sniff_tga_and_lookalikes() -> None:
    tga = BY_NAME["tga_rgb"].data
    assert tga[:4] == b"\x00\x00\x02\x00"  # also the start of a .cur icon header
    assert sniff_format(tga) == "TGA"
    assert sniff_format(b"\x00" * 40 + b"\x00" * 8 + b"TRUEVISION-XFILE.\x00") == "TGA"
    icon = (
        b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + struct.pack("<II", 100, 22) + bytes(100)
    )
    assert sniff_format(icon) == "ICO"
    assert sniff_format(b"") is None
    assert sniff_format(bytes(range(7, 200))) is None


def test_truncation_flag_is_left_off() -> None:
    decode_image(BY_NAME["png_rgb"].data)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(TruncatedImage):
        decode_image({s.name: s for s in HOSTILE}["truncated_jpeg"].data)


# --------------------------------------------------------------------------------------
# Files and threads
# --------------------------------------------------------------------------------------


def test_decode_file_reads_every_sample(tmp_path) -> None:
    paths = write_format_samples(tmp_path)
    for name in ("jpeg_exif_orientation_6", "hdr_rle", "tga_rle", "tiff_float_rgb"):
        decoded = decode_file(paths[name])
        assert decoded.format == BY_NAME[name].format
        assert (decoded.width, decoded.height) == BY_NAME[name].size
    # the extension is ignored: a PNG named .jpg is still a PNG
    lying = tmp_path / "really_png.jpg"
    lying.write_bytes(BY_NAME["png_rgb"].data)
    assert decode_file(str(lying)).format == "PNG"


def test_decode_file_errors(tmp_path) -> None:
    with pytest.raises(DecodeError, match="not found") as info:
        decode_file(tmp_path / "missing.jpg")
    assert "missing.jpg" in info.value.detail and info.value.status == 400
    with pytest.raises(DecodeError, match="directory"):
        decode_file(tmp_path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(EmptyInput):
        decode_file(empty)


def test_thread_safe_decoding() -> None:
    work = FORMATS * 3
    serial = [np.asarray(decode_image(s.data).image) for s in work]

    def run(sample: FormatSample) -> np.ndarray:
        return np.asarray(decode_image(sample.data).image)

    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(run, work))
    for sample, a, b in zip(work, serial, parallel, strict=True):
        assert np.array_equal(a, b), sample.name


# --------------------------------------------------------------------------- issue 8: codecs via imagecodecs
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("compression", ["zlib", "lzw"])
def test_tiff_with_the_floating_point_predictor_decodes(dtype, compression):
    """Predictor 3 (scientific and HDR tools) needs imagecodecs; it was 400 undecodable_image."""
    import tifffile

    pixels = np.linspace(0, 1, 40 * 30 * 3, dtype=np.float32).reshape(30, 40, 3).astype(dtype)
    buf = io.BytesIO()
    tifffile.imwrite(buf, pixels, photometric="rgb", predictor=3, compression=compression)
    decoded = decode_image(buf.getvalue())
    assert (decoded.format, decoded.width, decoded.height) == ("TIFF", 40, 30)
    expected = (pixels.astype(np.float32) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)


def test_hdr_decoder_agrees_with_imagecodecs_up_to_the_half_step():
    """imagecodecs.rgbe_decode (Walter's rgbe.c) was checked as a replacement for our decoder.

    It is not one: it maps a mantissa v to v * 2**(e-136), where Radiance (and we) use the
    bin centre (v + 0.5) * 2**(e-136), which moves dark pixels by up to 6/255 after tone
    mapping; and it refuses "+Y" (bottom-up) files. This pins that the two agree exactly
    apart from that half step, an independent check of our RLE and flat scanline reading.
    """
    import imagecodecs

    from clipvec import decode as dec

    for name, data, fmt, _ in format_samples():
        if fmt != "HDR":
            continue
        header_end = data.find(b"\n\n")
        line_end = data.find(b"\n", header_end + 2)
        match = dec._HDR_RESOLUTION.match(data[header_end + 2 : line_end].strip())
        rows, width = int(match.group(3)), int(match.group(6))
        rgbe = dec._hdr_pixels(memoryview(data)[line_end + 1 :], width, rows)
        ours = dec._rgbe_to_float(rgbe)
        theirs = imagecodecs.rgbe_decode(
            data[line_end + 1 :], header=False, out=np.empty((rows, width, 3), np.float32)
        )
        half_step = np.ldexp(np.float32(0.5), rgbe[..., 3].astype(np.int32) - 136)[..., None]
        half_step[rgbe[..., 3] == 0] = 0.0
        np.testing.assert_allclose(ours - half_step, theirs, rtol=1e-6, err_msg=name)
