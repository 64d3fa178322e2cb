"""TIFF variants Pillow cannot read (colour float, unusual sample layouts), through tifffile.

The Pillow path hands a TIFF here when Pillow fails on it for any reason other than
truncation or a decompression bomb. tifffile (with imagecodecs) also reads compressions
and predictors Pillow lacks, such as the floating-point predictor of scientific and HDR
tools.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image

from clipvec.errors import ClipvecError, DecodeError, UnsupportedImageFormat
from clipvec.images.budget import Reservation, take_pixels
from clipvec.images.decoded import DecodedImage, check_size, upright
from clipvec.images.failures import PIL_ERRORS, pillow_failure
from clipvec.images.samples import alpha_to_uint8, composite_on_white, to_uint8

__all__ = ["decode_tiff_fallback"]

log = logging.getLogger(__name__)


def decode_tiff_fallback(
    data: bytes, max_pixels: int, pillow_exc: BaseException, reservation: Reservation | None = None
) -> DecodedImage:
    """Decode the first page of a TIFF that Pillow refused (``pillow_exc``: why, for the log)."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            if not tif.pages:
                raise DecodeError("malformed TIFF file: it has no pages")
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            check_size(width, height, max_pixels, "TIFF")
            take_pixels(reservation, width, height)
            arr = page.asarray()
            axes = page.axes
            photometric = int(page.photometric)
            orientation_tag = page.tags.get(274)
            orientation = int(orientation_tag.value) if orientation_tag is not None else 1
    except ClipvecError:
        raise
    except (tifffile.TiffFileError, *PIL_ERRORS, RuntimeError, NotImplementedError) as exc:
        log.debug("Pillow could not read the TIFF (%s); tifffile neither (%s)", pillow_exc, exc)
        if isinstance(exc, (ValueError, NotImplementedError)) and "compress" in str(exc).lower():
            log.info("TIFF compression not supported: %s", exc)
            raise UnsupportedImageFormat("this TIFF's compression or predictor is not supported") from exc
        raise pillow_failure(exc, "TIFF", "decoding the pixels", max_pixels) from exc

    if arr.size == 0 or arr.ndim < 2:
        raise DecodeError(f"malformed TIFF file: its first page has no pixels (shape {arr.shape})")
    rgb = _to_rgb(_samples_last(arr, axes), photometric)
    rgb, width, height = upright(rgb, orientation, width, height)
    return DecodedImage(rgb, "TIFF", width, height)


def _samples_last(arr: np.ndarray, axes: str) -> np.ndarray:
    """Bring the samples axis last and drop any leading (depth/time) axes: (Y, X) or (Y, X, S)."""
    if "S" in axes and axes.index("S") < axes.index("Y"):
        arr = np.moveaxis(arr, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    while arr.ndim > (3 if axes.endswith("S") else 2):
        arr = arr[0]
        axes = axes[1:]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def _to_rgb(arr: np.ndarray, photometric: int) -> Image.Image:
    """Grey, grey+alpha, RGB(A) or CMYK samples of any depth -> 8-bit RGB on white."""
    if arr.ndim == 2:
        grey = to_uint8(arr)
        if photometric == 0:  # MINISWHITE
            grey = 255 - grey
        return Image.fromarray(grey).convert("RGB")
    channels = arr.shape[-1]
    if photometric == 5 and channels >= 4:  # SEPARATED (CMYK)
        cmyk = to_uint8(arr[..., :4])
        return Image.fromarray(np.ascontiguousarray(cmyk), "CMYK").convert("RGB")
    if channels == 2:
        grey = to_uint8(arr[..., 0])
        alpha = alpha_to_uint8(arr[..., 1])
        return composite_on_white(Image.merge("RGBA", [Image.fromarray(grey)] * 3 + [alpha]), "TIFF")
    colour = to_uint8(arr[..., :3])
    rgb = Image.fromarray(np.ascontiguousarray(colour), "RGB")
    if channels >= 4:
        rgba = rgb.convert("RGBA")
        rgba.putalpha(alpha_to_uint8(arr[..., 3]))
        rgb = composite_on_white(rgba, "TIFF")
    return rgb
