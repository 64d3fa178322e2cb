"""clipvec.images.failures: library exceptions become readable errors; internals stay in the log."""

from __future__ import annotations

import logging
import struct
import zlib

import pytest
from PIL import Image

from clipvec.errors import DecodeError, ImageTooLarge, TruncatedImage
from clipvec.images.failures import PIL_ERRORS, is_truncation, pillow_failure


def test_decompression_bombs_name_their_size() -> None:
    exc = Image.DecompressionBombError("Image size (2500000000 pixels) exceeds limit of 178956970 pixels")
    err = pillow_failure(exc, "PNG", "reading the header", 4_000_000_000)
    assert type(err) is ImageTooLarge
    assert err.detail == (
        "PNG image has 2500.0 megapixels, more than the 4000 megapixel limit "
        "(or Pillow's own decompression-bomb limit)"
    )
    vague = pillow_failure(Image.DecompressionBombWarning("big"), "GIF", "decoding the pixels", 10**8)
    assert "GIF image has too many pixels, more than the 100 megapixel limit" in vague.detail


def test_memory_and_truncation() -> None:
    err = pillow_failure(MemoryError(), "TIFF", "decoding the pixels", 10**8)
    assert type(err) is ImageTooLarge and err.detail == "not enough memory to decode this TIFF image"
    for exc in (
        EOFError(),
        OSError("image file is truncated (3 bytes not processed)"),
        OSError("Premature end"),
    ):
        assert is_truncation(exc)
        err = pillow_failure(exc, "JPEG", "decoding the pixels", 10**8)
        assert type(err) is TruncatedImage
        assert err.detail == "JPEG file is truncated: the data ends before the image is complete"
    assert not is_truncation(OSError("broken data stream"))


def test_unidentified_header() -> None:
    err = pillow_failure(Image.UnidentifiedImageError("cannot identify"), "WEBP", "reading the header", 1)
    assert type(err) is DecodeError
    assert err.detail == "malformed WEBP file: its header could not be read (corrupt or cut short)"


def test_library_messages_stay_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="clipvec.images.failures"):
        err = pillow_failure(
            ValueError("tile offset 0x7fff in /usr/lib/secret"), "BMP", "decoding the pixels", 1
        )
    assert type(err) is DecodeError and err.detail == "malformed BMP file: decoding the pixels failed"
    assert "secret" not in err.detail and "secret" in caplog.text


def test_what_counts_as_a_library_failure() -> None:
    for exc_type in (OSError, SyntaxError, ValueError, struct.error, zlib.error, RuntimeError, MemoryError):
        assert issubclass(exc_type, PIL_ERRORS)
    assert not issubclass(AssertionError, PIL_ERRORS)  # our own bugs are not the file's fault
