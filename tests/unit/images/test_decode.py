"""clipvec.images.decode: every format through the one entry, every hostile input, files and threads."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from image_corpus import (
    FormatSample,
    H,
    HostileSample,
    W,
    decoded_pixels,
    format_cases,
    format_samples,
    heif_available,
    hostile_cases,
    hostile_samples,
    is_blue,
    is_red,
    png_bomb,
    write_format_samples,
)

from clipvec.errors import (
    ClipvecError,
    DecodeError,
    EmptyInput,
    ImageTooLarge,
    TruncatedImage,
    UnsupportedImageFormat,
)
from clipvec.images.decode import decode_file, decode_image, sniff_format

FORMATS = format_cases()
HOSTILE = hostile_cases()
BY_NAME = {s.name: s for s in FORMATS}


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
    got = decoded_pixels(decoded)
    if sample.expected is not None:
        error = np.abs(got - sample.expected).mean()
        assert error <= sample.tolerance, f"mean abs error {error:.2f} > {sample.tolerance}"
    if sample.markers:  # red block top-left, blue block bottom-right: orientation is right
        w, h = sample.size
        assert is_red(got[h // 8, w // 8]), got[h // 8, w // 8]
        assert is_blue(got[h - 1 - h // 8, w - 1 - w // 8]), got[h - 1 - h // 8, w - 1 - w // 8]


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


def test_other_argument_types_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="expects bytes, not str"):
        decode_image("image.png")  # type: ignore[arg-type]


def test_decoded_image_is_frozen() -> None:
    decoded = decode_image(BY_NAME["png_rgb"].data)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.width = 1  # type: ignore[misc]


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


def test_unrecognised_and_empty_input_texts() -> None:
    with pytest.raises(UnsupportedImageFormat, match=r"^not a recognised image format \(supported: .*JPEG"):
        decode_image(bytes(range(7, 200)))
    with pytest.raises(EmptyInput, match=r"^the image is empty \(0 bytes\)$"):
        decode_image(b"")


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
