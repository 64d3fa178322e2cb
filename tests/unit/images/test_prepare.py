"""clipvec.images.prepare: the one bytes -> pixels entry, and reading file sources sniff-first."""

from __future__ import annotations

import io

import numpy as np
import pytest
from image_corpus import format_cases, hostile_cases, large_jpeg

from clipvec.errors import ClipvecError, ImageTooLarge, UnsupportedImageFormat
from clipvec.images.budget import PixelBudget
from clipvec.images.decode import decode_image
from clipvec.images.formats import SUPPORTED_FORMATS
from clipvec.images.prepare import (
    SNIFF_BYTES,
    FileTooLarge,
    NotAnImage,
    PreparedImage,
    prepare_decoded,
    prepare_image,
    read_image_file,
)
from clipvec.images.preprocess import Preprocessor

BY_NAME = {s.name: s for s in format_cases()}
HOSTILE = {s.name: s for s in hostile_cases()}
PNG = BY_NAME["png_rgb"].data  # a few KB
MB = 1 << 20


# --------------------------------------------------------------------------------------
# prepare_image
# --------------------------------------------------------------------------------------


def test_prepare_image_reports_the_original_and_gives_model_pixels() -> None:
    prepared = prepare_image(BY_NAME["jpeg_exif_orientation_6"].data, Preprocessor(), max_pixels=10**8)
    assert isinstance(prepared, PreparedImage)
    assert (prepared.format, prepared.width, prepared.height) == ("JPEG", 48, 64)
    assert prepared.pixels.shape == (3, 224, 224) and prepared.pixels.dtype == np.float32


def test_prepare_image_drafts_jpegs_and_matches_the_full_decode() -> None:
    data = large_jpeg(1600, 1200)
    preprocessor = Preprocessor()
    drafted = prepare_image(data, preprocessor, max_pixels=10**8)
    full = prepare_decoded(decode_image(data), preprocessor)
    assert (drafted.width, drafted.height) == (full.width, full.height) == (1600, 1200)
    assert np.abs(drafted.pixels - full.pixels).mean() < 0.01


def test_prepare_image_limits_and_budget() -> None:
    with pytest.raises(ImageTooLarge):
        prepare_image(PNG, Preprocessor(), max_pixels=100)
    budget = PixelBudget(10**8)
    with budget.reservation() as held:
        prepare_image(large_jpeg(640, 480), Preprocessor(), max_pixels=10**8, reservation=held)
        assert budget.used == 320 * 240  # drafted to 1/2: still >= 224 on the short side
    assert budget.used == 0


# --------------------------------------------------------------------------------------
# read_image_file
# --------------------------------------------------------------------------------------


def test_an_image_is_read_whole() -> None:
    big = large_jpeg(1600, 1200)
    assert len(PNG) < SNIFF_BYTES < len(big)
    for data in (PNG, big):
        stream = io.BytesIO(data)
        assert read_image_file(stream, max_bytes=10 * MB) == data
    assert read_image_file(io.BytesIO(big), max_bytes=len(big)) == big  # exactly the limit is fine


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (HOSTILE["pdf"].data + bytes(MB), "content is PDF"),
        (HOSTILE["html"].data + b" " * MB, "content is HTML"),
        (b"\x00\x01\x02\x03" * (MB // 4), "content is not an image"),
        (HOSTILE["mp4"].data + bytes(MB), "content is MP4"),
    ],
)
def test_a_non_image_costs_exactly_the_sniffed_bytes(data: bytes, detail: str) -> None:
    stream = io.BytesIO(data)
    with pytest.raises(NotAnImage) as info:
        read_image_file(stream, max_bytes=10 * MB)
    assert stream.tell() == SNIFF_BYTES == 4096  # a 2 GB video costs 4 KB
    err = info.value
    assert (err.code, err.detail) == ("not_image", detail)
    assert isinstance(err, UnsupportedImageFormat)  # handled wherever unsupported formats are


def test_empty_and_unreadable_formats() -> None:
    with pytest.raises(NotAnImage, match="^content is not an image$"):
        read_image_file(io.BytesIO(b""), max_bytes=MB)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    if "HEIC" in SUPPORTED_FORMATS:  # with pillow-heif installed, HEIC is an image
        assert read_image_file(io.BytesIO(heic), max_bytes=MB) == heic
    else:  # without it: what enables it (issue 22), under a reason of its own
        with pytest.raises(NotAnImage, match=r"^HEIC/HEIF images need the optional pillow-heif") as info:
            read_image_file(io.BytesIO(heic), max_bytes=MB)
        assert info.value.code == "heic_not_enabled"
        assert info.value.detail.endswith("install 'pillow-heif>=0.16' enables them")


def test_too_large_reads_one_byte_past_the_limit_and_no_more() -> None:
    data = large_jpeg(1600, 1200)
    limit = len(data) - 1
    stream = io.BytesIO(data + bytes(MB))
    with pytest.raises(FileTooLarge) as info:
        read_image_file(stream, max_bytes=limit)
    assert stream.tell() == limit + 1
    err = info.value
    assert (err.code, err.detail) == (
        "too_large",
        f"over the limit of {limit} bytes (CLIPVEC_MAX_FILE_BYTES)",
    )
    assert isinstance(err, ClipvecError) and not isinstance(err, UnsupportedImageFormat)


def test_a_limit_below_the_sniffed_head() -> None:
    data = large_jpeg(1600, 1200)
    stream = io.BytesIO(data)
    with pytest.raises(FileTooLarge, match="^over the limit of 100 bytes"):
        read_image_file(stream, max_bytes=100)
    assert stream.tell() == SNIFF_BYTES  # never a negative read (which would read everything)
    assert read_image_file(io.BytesIO(PNG), max_bytes=len(PNG)) == PNG


def test_read_errors_propagate() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        read_image_file(io.BufferedReader(Broken()), max_bytes=MB)
