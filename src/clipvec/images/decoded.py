"""What every decoder returns, and the two rules every decoder applies to it.

Each decoder (Pillow, the TIFF fallback, Radiance HDR) checks the pixel count from the
header before decoding a single pixel (decompression bombs -> :class:`ImageTooLarge`),
and turns the image upright from its EXIF orientation, reporting the size as displayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from clipvec.errors import DecodeError, ImageTooLarge
from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta

__all__ = ["ORIENTATION", "DecodedImage", "check_size", "upright"]


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image ready for the model.

    ``image`` is mode ``"RGB"``, 8 bits per channel, upright (EXIF orientation applied),
    with any transparency composited on white. It may be smaller than the original when
    ``min_side`` let a JPEG decode at reduced scale; ``width``/``height`` always describe
    the original image as displayed (after orientation). ``meta``: what its header says
    about when, where and with what it was taken, read from the header the decoder parsed
    anyway (unknown for decoders without EXIF: Radiance HDR, the TIFF fallback).
    """

    image: Image.Image
    format: str
    width: int
    height: int
    meta: PhotoMeta = UNKNOWN_META


# EXIF orientation -> the transpose that displays the image upright (as ImageOps.exif_transpose).
ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def check_size(width: int, height: int, max_pixels: int, fmt: str) -> None:
    """Refuse an empty or over-limit header size, before any pixel is decoded."""
    if width <= 0 or height <= 0:
        raise DecodeError(f"malformed {fmt} file: the header says {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{fmt} image is {width}x{height} = {width * height / 1e6:.1f} megapixels, "
            f"more than the {max_pixels / 1e6:g} megapixel limit"
        )


def upright(image: Image.Image, orientation: int, width: int, height: int) -> tuple[Image.Image, int, int]:
    """Apply EXIF ``orientation`` (unknown values: none); returns the image and its displayed size."""
    if orientation in ORIENTATION:
        image = image.transpose(ORIENTATION[orientation])
        if orientation >= 5:
            width, height = height, width
    return image, width, height
