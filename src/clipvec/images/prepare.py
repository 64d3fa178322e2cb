"""bytes -> decoded image -> pixels: the one path every image takes before the encoder.

Two entries: :func:`prepare_image` turns image bytes into model-ready pixels (every
caller: the service, the CLI, search by image, the importers, the benchmark), and
:func:`read_image_file` reads a file source's bytes sniff-first, so a non-image costs
:data:`SNIFF_BYTES` however large it is (a 2 GB video costs 4 KB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from clipvec.errors import ClipvecError, HeicNotEnabled, UnsupportedImageFormat
from clipvec.images.budget import Reservation
from clipvec.images.decode import DecodedImage, decode_image
from clipvec.images.formats import SUPPORTED_FORMATS, heic_not_enabled, sniff_format
from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta
from clipvec.images.preprocess import Preprocessor

__all__ = [
    "SNIFF_BYTES",
    "FileTooLarge",
    "NotAnImage",
    "PreparedImage",
    "prepare_decoded",
    "prepare_image",
    "read_image_file",
]

SNIFF_BYTES = 4096  # enough for every magic number sniff_format knows


class NotAnImage(UnsupportedImageFormat):
    """A file whose first bytes are not a supported image format (it is not read further)."""

    status, code = 415, "not_image"


class FileTooLarge(ClipvecError):
    """A file larger than the byte limit for one image (``CLIPVEC_MAX_FILE_BYTES``)."""

    status, code = 413, "too_large"


@dataclass(frozen=True)
class PreparedImage:
    """Model-ready pixels plus what the decoder learnt about the original file."""

    pixels: np.ndarray  # (3, H, W) float32
    format: str
    width: int
    height: int
    meta: PhotoMeta = UNKNOWN_META  # from the header the decoder read (issue 17)


def prepare_decoded(decoded: DecodedImage, preprocessor: Preprocessor) -> PreparedImage:
    """A decoded image -> model-ready pixels (a JPEG decoded at reduced scale sized as the full one)."""
    image = decoded.image
    if image.size != (decoded.width, decoded.height):  # a JPEG decoded at reduced scale
        image = preprocessor.resize_reduced(image, decoded.width, decoded.height)
    return PreparedImage(
        preprocessor.to_pixels(image), decoded.format, decoded.width, decoded.height, decoded.meta
    )


def prepare_image(
    data: bytes, preprocessor: Preprocessor, *, max_pixels: int, reservation: Reservation | None = None
) -> PreparedImage:
    """Decode (JPEG draft-downscaled to no less than the model's input) and preprocess.

    With a ``reservation`` the decoded pixels count against its budget until the caller
    releases it (after this returns: only the small model-ready pixels remain).
    """
    decoded = decode_image(
        data, max_pixels=max_pixels, min_side=preprocessor.min_decode_side, reservation=reservation
    )
    return prepare_decoded(decoded, preprocessor)


def read_image_file(stream: BinaryIO, *, max_bytes: int) -> bytes:
    """The bytes of an image file, read sniff-first from ``stream`` (a file or an S3 object).

    The first :data:`SNIFF_BYTES` decide: when they are not a supported image format this
    raises :class:`NotAnImage` without reading further. Otherwise reading stops at
    ``max_bytes + 1`` bytes (or the head, when the limit is smaller), and more than
    ``max_bytes`` raises :class:`FileTooLarge` (the file may have grown since it was listed). ``OSError`` from the stream propagates.
    ``stream`` is a buffered reader (``open(path, "rb")``, an fsspec/s3fs file): each read
    returns all that was asked for unless the file ends.
    """
    head = stream.read(SNIFF_BYTES)
    kind = sniff_format(head)
    if kind == "HEIC" and kind not in SUPPORTED_FORMATS:  # an image, once its plugin is installed
        raise NotAnImage(heic_not_enabled().detail, code=HeicNotEnabled.skip_reason)
    if kind not in SUPPORTED_FORMATS:
        raise NotAnImage(f"content is {kind or 'not an image'}")
    data = head + stream.read(max(0, max_bytes + 1 - len(head)))
    if len(data) > max_bytes:
        raise FileTooLarge(f"over the limit of {max_bytes} bytes (CLIPVEC_MAX_FILE_BYTES)")
    return data
