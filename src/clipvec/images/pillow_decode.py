"""The Pillow path: every supported format but Radiance HDR, and TIFF only when Pillow can.

Opens with exactly the plugin of the sniffed format, checks the header size before any
pixel is decoded, lets a JPEG decode at reduced scale (draft), takes the image's pixels
from the budget, then converts any mode to upright 8-bit RGB. A TIFF that Pillow cannot
read goes to the tifffile fallback. HEIC needs the optional pillow-heif plugin, registered
on first use.

Pillow's globals are never changed: ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay off
(the default) for truncated files to be reported as such.
"""

from __future__ import annotations

import io
import logging
import threading

import numpy as np
from PIL import Image

from clipvec.images.budget import Reservation, take_pixels
from clipvec.images.decoded import ORIENTATION, DecodedImage, check_size, upright
from clipvec.images.exif_meta import meta_from_exif, read_exif
from clipvec.images.failures import PIL_ERRORS, is_truncation, pillow_failure
from clipvec.images.formats import PILLOW_ID, heic_not_enabled
from clipvec.images.samples import composite_on_white, to_uint8
from clipvec.images.tiff import decode_tiff_fallback

__all__ = ["decode_pillow"]

log = logging.getLogger(__name__)

# Load every Pillow plugin now, once, so concurrent first calls never race on the registry.
Image.init()

_heif_lock = threading.Lock()
_heif_registered = False


def decode_pillow(
    data: bytes, fmt: str, max_pixels: int, min_side: int | None, reservation: Reservation | None = None
) -> DecodedImage:
    """Decode ``data`` (sniffed as ``fmt``) with Pillow; see :func:`clipvec.images.decode_image`."""
    if fmt == "HEIC":
        _ensure_heif()
    try:
        im = Image.open(io.BytesIO(data), formats=[PILLOW_ID[fmt]])
    except PIL_ERRORS as exc:
        if fmt == "TIFF" and not isinstance(exc, Image.DecompressionBombError):
            return decode_tiff_fallback(data, max_pixels, exc, reservation)
        raise pillow_failure(exc, fmt, "reading the header", max_pixels) from exc

    width, height = im.size
    check_size(width, height, max_pixels, fmt)
    if min_side and fmt == "JPEG":
        # libjpeg scales by 1/2, 1/4 or 1/8 while decoding; Pillow picks the largest factor
        # that keeps both sides >= the requested box, so a square box keeps the shortest
        # side >= min_side whatever the EXIF orientation.
        im.draft("RGB", (min_side, min_side))
    take_pixels(reservation, *im.size)  # after draft: the size libjpeg will really decode
    try:
        im.load()
    except PIL_ERRORS as exc:
        if fmt == "TIFF" and not is_truncation(exc) and not isinstance(exc, Image.DecompressionBombError):
            return decode_tiff_fallback(data, max_pixels, exc, reservation)
        raise pillow_failure(exc, fmt, "decoding the pixels", max_pixels) from exc

    exif = read_exif(im)  # after load: a PNG's EXIF chunk may follow its pixels
    orientation = _exif_orientation(exif)
    try:
        rgb = _to_rgb(im, fmt)
    except PIL_ERRORS as exc:
        raise pillow_failure(exc, fmt, f"converting mode {im.mode} to RGB", max_pixels) from exc
    rgb, width, height = upright(rgb, orientation, width, height)
    return DecodedImage(rgb, fmt, width, height, meta_from_exif(exif))


def _ensure_heif() -> None:
    """Register pillow_heif's opener on first use (optional GPL plugin, never imported eagerly)."""
    global _heif_registered
    if _heif_registered:
        return
    with _heif_lock:
        if _heif_registered:
            return
        try:
            import pillow_heif  # type: ignore[import-not-found]
        except ImportError as exc:
            raise heic_not_enabled() from exc
        pillow_heif.register_heif_opener()
        _heif_registered = True


def _exif_orientation(exif: Image.Exif) -> int:
    try:
        value = exif.get(0x0112, 1)
    except PIL_ERRORS as exc:  # a broken EXIF block must not lose an otherwise fine image
        log.debug("ignoring unreadable EXIF: %s", exc)
        return 1
    return value if isinstance(value, int) and value in ORIENTATION else 1


def _to_rgb(im: Image.Image, fmt: str) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, scaling deep samples and compositing alpha on white."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = to_uint8(np.asarray(im))
        return Image.fromarray(grey).convert("RGB")
    if mode in ("P", "PA", "L", "LA", "La", "1", "RGB", "RGBa"):
        has_alpha = (
            mode in ("PA", "LA", "La", "RGBa")
            or "transparency" in im.info
            or (mode == "P" and getattr(im.palette, "mode", "RGB") == "RGBA")
        )
        if not has_alpha:
            return im.convert("RGB")
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        return composite_on_white(im, fmt)
    return im.convert("RGB")  # CMYK (plain and Adobe), YCbCr, RGBX, LAB, HSV, ...
