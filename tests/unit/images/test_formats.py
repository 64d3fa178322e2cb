"""clipvec.images.formats: the supported set and naming a payload from its magic bytes alone."""

from __future__ import annotations

import struct

import pytest
from image_corpus import FormatSample, format_cases, hostile_cases

from clipvec.images.formats import PILLOW_ID, SUPPORTED_FORMATS, sniff_format

FORMATS = format_cases()
BY_NAME = {s.name: s for s in FORMATS}


def test_every_supported_format_has_a_sample() -> None:
    assert {s.format for s in FORMATS} == set(SUPPORTED_FORMATS)
    assert {"JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "HDR", "TGA"} <= SUPPORTED_FORMATS
    assert SUPPORTED_FORMATS - {"HDR"} <= set(PILLOW_ID)  # HDR is our own decoder


@pytest.mark.parametrize("sample", FORMATS, ids=lambda s: s.name)
def test_sniff_from_magic_bytes(sample: FormatSample) -> None:
    assert sniff_format(sample.data) == sample.format


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


@pytest.mark.parametrize(
    ("name", "kind"),
    [("pdf", "PDF"), ("zip", "ZIP"), ("gzip", "GZIP"), ("html", "HTML"), ("svg", "SVG"), ("json", "JSON")]
    + [("text", "TEXT"), ("psd", "PSD"), ("elf", "ELF"), ("mp4", "MP4"), ("random_bytes", None)],
)
def test_non_images_get_a_descriptive_kind(name: str, kind: str | None) -> None:
    assert sniff_format({s.name: s for s in hostile_cases()}[name].data) == kind


def test_bmff_brands_tell_avif_heic_and_video_apart() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        box = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return struct.pack(">I", 4 + len(box)) + box + bytes(32)

    assert sniff_format(ftyp(b"avif", b"mif1")) == "AVIF"
    assert sniff_format(ftyp(b"heic", b"mif1")) == "HEIC"
    assert sniff_format(ftyp(b"mif1", b"avif")) == "AVIF"  # the generic brand: compatible ones decide
    assert sniff_format(ftyp(b"mif1", b"heic")) == "HEIC"
    assert sniff_format(ftyp(b"qt  ")) == "QUICKTIME"
    assert sniff_format(ftyp(b"isom", b"mp41")) == "MP4"


def test_text_cut_inside_a_multibyte_character_is_still_text() -> None:
    head = ("a" * 1022 + "é").encode()  # 1024 bytes: the sniffed head ends inside "é"
    assert sniff_format(head[:1023]) == "TEXT"
    assert sniff_format(b"\xff\xfe" + bytes(40)) is None  # UTF-16 is not sniffed as text
