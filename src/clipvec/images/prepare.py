"""bytes -> decoded image -> pixels: the one path every image takes before the encoder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clipvec.images.budget import Reservation
from clipvec.images.decode import DecodedImage, decode_image
from clipvec.images.preprocess import Preprocessor


@dataclass(frozen=True)
class PreparedImage:
    """Model-ready pixels plus what the decoder learnt about the original file."""

    pixels: np.ndarray  # (3, H, W) float32
    format: str
    width: int
    height: int


def prepare_decoded(decoded: DecodedImage, preprocessor: Preprocessor) -> PreparedImage:
    image = decoded.image
    if image.size != (decoded.width, decoded.height):  # a JPEG decoded at reduced scale
        image = preprocessor.resize_reduced(image, decoded.width, decoded.height)
    return PreparedImage(preprocessor.to_pixels(image), decoded.format, decoded.width, decoded.height)


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
