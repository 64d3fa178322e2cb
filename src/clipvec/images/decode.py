"""The one image decoder: bytes -> 8-bit RGB ``PIL.Image`` for every format we accept.

Everything that reads images (the service, the importer, search by image) goes through
:func:`decode_image` / :func:`decode_file`, so every path treats formats, transparency,
orientation, bit depth and hostile input the same way:

* the format is sniffed from magic bytes only (never a file name or a Content-Type);
* the pixel count is checked against ``max_pixels`` from the header, before any pixel is
  decoded (decompression bombs -> :class:`~clipvec.errors.ImageTooLarge`);
* EXIF orientation is applied; transparency is composited on white; 16-bit and float
  samples are scaled to 8 bits instead of being clipped; Radiance HDR is tone-mapped;
* every failure becomes a :class:`~clipvec.errors.ClipvecError` subclass with a readable
  ``detail``; no raw Pillow/OS/parser exception escapes.

This module dispatches by sniffed format: Radiance HDR to :mod:`clipvec.images.hdr`,
everything else to :mod:`clipvec.images.pillow_decode` (which falls back to
:mod:`clipvec.images.tiff`). The decoders keep no mutable state besides a lock-guarded
flag for the optional HEIC plugin, so they are safe to call from several threads at once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from clipvec.errors import ClipvecError, DecodeError, EmptyInput, ImageTooLarge, UnsupportedImageFormat
from clipvec.images.budget import Reservation
from clipvec.images.decoded import DecodedImage
from clipvec.images.formats import PILLOW_ID, SUPPORTED_FORMATS, heic_not_enabled, sniff_format
from clipvec.images.hdr import decode_hdr
from clipvec.images.pillow_decode import decode_pillow

__all__ = ["SUPPORTED_FORMATS", "DecodedImage", "decode_file", "decode_image", "sniff_format"]

log = logging.getLogger(__name__)


def decode_file(
    path: str | os.PathLike[str], *, max_pixels: int = 100_000_000, min_side: int | None = None
) -> DecodedImage:
    """Read ``path`` once and decode it; an unreadable file is a :class:`DecodeError`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise DecodeError(f"file not found: {os.fspath(path)}") from exc
    except IsADirectoryError as exc:
        raise DecodeError(f"is a directory, not an image file: {os.fspath(path)}") from exc
    except OSError as exc:
        raise DecodeError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    return decode_image(data, max_pixels=max_pixels, min_side=min_side)


def decode_image(
    data: bytes,
    *,
    max_pixels: int = 100_000_000,
    min_side: int | None = None,
    reservation: Reservation | None = None,
) -> DecodedImage:
    """Decode image bytes into an upright 8-bit RGB image.

    ``max_pixels`` refuses images whose header claims more pixels (before decoding).
    ``min_side``: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as its shortest
    side stays >= ``min_side`` (other formats decode at full size).
    ``reservation``: the image's pixels are taken from its :class:`PixelBudget` once the
    header is read, before decoding (the caller releases them when done with the image).

    Raises :class:`EmptyInput`, :class:`UnsupportedImageFormat` (415),
    :class:`ImageTooLarge` (413), :class:`TruncatedImage` or :class:`DecodeError` (400);
    only a non-bytes argument (a programming error) raises ``TypeError``.
    """
    if not isinstance(data, bytes):
        if not isinstance(data, (bytearray, memoryview)):
            raise TypeError(f"decode_image expects bytes, not {type(data).__name__}")
        data = bytes(data)
    if not data:
        raise EmptyInput("the image is empty (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedImageFormat(
            f"not a recognised image format (supported: {', '.join(sorted(SUPPORTED_FORMATS))})"
        )
    if fmt not in SUPPORTED_FORMATS:
        if fmt == "HEIC":
            raise heic_not_enabled()
        if fmt in PILLOW_ID:  # an image format this Pillow build cannot read
            raise UnsupportedImageFormat(f"{fmt} images are not supported by this installation")
        raise UnsupportedImageFormat(
            f"{fmt} data is not a supported image format (supported: {', '.join(sorted(SUPPORTED_FORMATS))})"
        )
    if min_side is not None and min_side < 1:
        min_side = None
    try:
        if fmt == "HDR":
            return decode_hdr(data, max_pixels, reservation)
        return decode_pillow(data, fmt, max_pixels, min_side, reservation)
    except ClipvecError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge(f"not enough memory to decode this {fmt} image") from exc
    except Exception as exc:  # safety net: a parser bug must not become a 500
        log.warning("unexpected %s while decoding %s: %s", type(exc).__name__, fmt, exc, exc_info=True)
        raise DecodeError(f"malformed {fmt} file: it could not be decoded") from exc
