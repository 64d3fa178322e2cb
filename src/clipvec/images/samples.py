"""Sample conversions shared by the decoders: deep samples to 8 bits, transparency onto white.

16-bit and float samples are scaled to 8 bits instead of being clipped (a 16-bit mid grey
stays mid grey, a float image is not all black), and transparent pixels become white so a
colour hidden under alpha 0 never reaches the model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from clipvec.errors import DecodeError

__all__ = ["WHITE", "alpha_to_uint8", "composite_on_white", "stretch", "to_uint8"]

WHITE = (255, 255, 255)


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Scale integer or float samples (any shape) to uint8 without clipping highlights."""
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind == "b":
        return a.astype(np.uint8) * 255
    if a.dtype.kind in "ui":
        if a.size == 0:
            return a.astype(np.uint8)
        lo, hi = int(a.min()), int(a.max())
        sixteen_bit = a.dtype.kind == "u" and a.dtype.itemsize == 2
        if sixteen_bit or (a.dtype.itemsize > 2 and lo >= 0 and hi <= 0xFFFF):
            return (a.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
        return stretch(a.astype(np.float64), float(lo), float(hi))
    if a.dtype.kind == "f":
        a = a.astype(np.float32, copy=False)
        finite = np.isfinite(a)
        if not finite.all():
            a = np.where(finite, a, 0.0).astype(np.float32)
            if not finite.any():
                return np.zeros(a.shape, np.uint8)
            lo, hi = float(a[finite].min()), float(a[finite].max())
        else:
            lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:
            return (a * 255.0 + 0.5).astype(np.uint8)
        return stretch(a, lo, hi)
    raise DecodeError(f"unsupported sample type {a.dtype}")


def stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo..hi`` linearly onto 0..255 (a flat image: white if positive, else black)."""
    if hi <= lo:
        return np.full(a.shape, 255 if lo > 0 else 0, np.uint8)
    return ((a - lo) * (255.0 / (hi - lo)) + 0.5).clip(0, 255).astype(np.uint8)


def alpha_to_uint8(alpha: np.ndarray) -> Image.Image:
    """An alpha plane of any sample type -> mode "L" (float alpha is 0..1, clipped)."""
    if alpha.dtype.kind == "f":
        return Image.fromarray((np.clip(np.nan_to_num(alpha), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    return Image.fromarray(np.ascontiguousarray(to_uint8(alpha)))


def composite_on_white(im: Image.Image, fmt: str) -> Image.Image:
    """An RGBA image -> RGB over a white background."""
    alpha = im.getchannel("A")
    lowest, highest = alpha.getextrema()
    if lowest == 255:
        return im.convert("RGB")
    if highest == 0 and fmt in ("TGA", "BMP"):
        # Many TGA/BMP writers leave the 4th byte at zero: an unused channel, not "invisible".
        return im.convert("RGB")
    background = Image.new("RGB", im.size, WHITE)
    background.paste(im, mask=alpha)
    return background
