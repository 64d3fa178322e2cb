"""Radiance HDR (RGBE), which Pillow cannot read: our own decoder and tone mapping.

Reads the header, both scanline encodings (new-style per-component RLE and flat pixels
with old-style run markers), the rare XYZE variant, and every axis order and direction
of the resolution line. The result is tone-mapped (global Reinhard, then gamma) so a
scene-referred image is neither crushed to black nor blown out.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from clipvec.errors import DecodeError, TruncatedImage, UnsupportedImageFormat
from clipvec.images.budget import Reservation, take_pixels
from clipvec.images.decoded import DecodedImage, check_size

__all__ = ["decode_hdr"]

_HDR_RESOLUTION = re.compile(rb"^([-+])([XY]) +(\d{1,10}) +([-+])([XY]) +(\d{1,10})$")
_HDR_MAX_HEADER = 64 * 1024
_RUN_BYTES = [bytes([value]) * 128 for value in range(256)]

# CIE XYZ -> linear sRGB (D65), for the rarely used 32-bit_rle_xyze variant.
_XYZ_TO_RGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ],
    dtype=np.float32,
)


def decode_hdr(data: bytes, max_pixels: int, reservation: Reservation | None = None) -> DecodedImage:
    """Decode a Radiance HDR file and tone-map it to 8-bit RGB."""
    header_end = data.find(b"\n\n", 0, _HDR_MAX_HEADER)
    if header_end < 0:
        if len(data) < _HDR_MAX_HEADER:
            raise TruncatedImage("HDR file is truncated: the header never ends")
        raise DecodeError("malformed HDR file: no end of header in the first 64 KiB")
    pixel_format = b"32-bit_rle_rgbe"
    for line in data[:header_end].split(b"\n")[1:]:
        if line.startswith(b"FORMAT="):
            pixel_format = line[7:].strip()
    if pixel_format not in (b"32-bit_rle_rgbe", b"32-bit_rle_xyze"):
        raise UnsupportedImageFormat(f"HDR pixel format {pixel_format.decode('latin-1')!r} is not supported")

    line_end = data.find(b"\n", header_end + 2, header_end + 2 + 64)
    if line_end < 0:
        if len(data) < header_end + 2 + 64:
            raise TruncatedImage("HDR file is truncated: the resolution line is missing")
        raise DecodeError("malformed HDR file: the resolution line is missing")
    match = _HDR_RESOLUTION.match(data[header_end + 2 : line_end].strip())
    if match is None or match.group(2) == match.group(5):
        text = data[header_end + 2 : line_end].decode("latin-1", "replace")
        raise DecodeError(f"malformed HDR file: bad resolution line {text!r}")
    major_sign, major_axis, major_n, minor_sign, _, minor_n = match.groups()
    n_major, n_minor = int(major_n), int(minor_n)
    width, height = (n_minor, n_major) if major_axis == b"Y" else (n_major, n_minor)
    check_size(width, height, max_pixels, "HDR")
    take_pixels(reservation, width, height)

    rgbe = _hdr_pixels(memoryview(data)[line_end + 1 :], n_minor, n_major)  # (major, minor, 4)
    rgb = _rgbe_to_float(rgbe)
    del rgbe
    if pixel_format == b"32-bit_rle_xyze":
        rgb = np.clip(rgb @ _XYZ_TO_RGB.T, 0.0, None)

    # Orient: the first axis in the resolution line is stored slowest.
    if major_axis == b"X":
        rgb = rgb.transpose(1, 0, 2)
        x_sign, y_sign = major_sign, minor_sign
    else:
        x_sign, y_sign = minor_sign, major_sign
    if y_sign == b"+":  # +Y: rows stored bottom to top
        rgb = rgb[::-1]
    if x_sign == b"-":
        rgb = rgb[:, ::-1]
    image = Image.fromarray(_tone_map(rgb), "RGB")
    return DecodedImage(image, "HDR", width, height)


def _hdr_pixels(buf: memoryview, width: int, rows: int) -> np.ndarray:
    """Decode ``rows`` scanlines of ``width`` RGBE pixels -> uint8 array (rows, width, 4)."""
    n = len(buf)
    need = width * rows * 4
    first_is_rle = 8 <= width <= 0x7FFF and n >= 4 and buf[0] == 2 and buf[1] == 2 and not buf[2] & 0x80
    if not first_is_rle and n >= need:  # flat file: one vectorised read
        return np.frombuffer(buf, np.uint8, count=need).reshape(rows, width, 4)

    out = np.empty((rows, width, 4), np.uint8)
    line = bytearray(width * 4)
    pos = 0
    for y in range(rows):
        if pos + 4 > n:
            raise TruncatedImage(f"HDR file is truncated at scanline {y} of {rows}")
        if 8 <= width <= 0x7FFF and buf[pos] == 2 and buf[pos + 1] == 2 and not buf[pos + 2] & 0x80:
            if (buf[pos + 2] << 8) | buf[pos + 3] != width:
                raise DecodeError(f"malformed HDR file: scanline {y} has the wrong length")
            pos = _hdr_rle_line(buf, pos + 4, line, width, y)
            out[y] = np.frombuffer(line, np.uint8).reshape(4, width).T
        else:
            pos = _hdr_flat_line(buf, pos, out[y], width, y)
    return out


def _hdr_rle_line(buf: memoryview, pos: int, line: bytearray, width: int, y: int) -> int:
    """New-style RLE: the four components one after another, each as runs and literals."""
    n = len(buf)
    o = 0
    for _ in range(4):
        stop = o + width
        while o < stop:
            if pos >= n:
                raise TruncatedImage(f"HDR file is truncated in scanline {y}")
            count = buf[pos]
            if count > 128:
                count -= 128
                if o + count > stop:
                    raise DecodeError(f"malformed HDR file: a run overflows scanline {y}")
                if pos + 1 >= n:
                    raise TruncatedImage(f"HDR file is truncated in scanline {y}")
                line[o : o + count] = _RUN_BYTES[buf[pos + 1]][:count]
                pos += 2
            else:
                if count == 0 or o + count > stop:
                    raise DecodeError(f"malformed HDR file: bad literal run in scanline {y}")
                if pos + 1 + count > n:
                    raise TruncatedImage(f"HDR file is truncated in scanline {y}")
                line[o : o + count] = buf[pos + 1 : pos + 1 + count]
                pos += 1 + count
            o += count
    return pos


def _hdr_flat_line(buf: memoryview, pos: int, row: np.ndarray, width: int, y: int) -> int:
    """Flat RGBE pixels, with the old-style run marker (1, 1, 1, count) repeating the last pixel."""
    n = len(buf)
    x = 0
    shift = 0
    while x < width:
        if pos + 4 > n:
            raise TruncatedImage(f"HDR file is truncated in scanline {y}")
        r, g, b, e = buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]
        pos += 4
        if r == 1 and g == 1 and b == 1:
            if x == 0:
                raise DecodeError(f"malformed HDR file: a run starts scanline {y}")
            count = e << shift
            if x + count > width:
                raise DecodeError(f"malformed HDR file: a run overflows scanline {y}")
            row[x : x + count] = row[x - 1]
            x += count
            shift += 8
        else:
            row[x] = (r, g, b, e)
            x += 1
            shift = 0
    return pos


def _rgbe_to_float(rgbe: np.ndarray) -> np.ndarray:
    """RGBE -> linear float RGB at each mantissa's bin centre, (v + 0.5) * 2**(e - 136), as Radiance does."""
    exponent = rgbe[..., 3].astype(np.int32)
    scale = np.ldexp(np.float32(1.0), exponent - 136).astype(np.float32)
    scale[exponent == 0] = 0.0
    rgb = rgbe[..., :3].astype(np.float32)
    rgb += 0.5
    rgb *= scale[..., None]
    return rgb


def _tone_map(rgb: np.ndarray, key: float = 0.18, gamma: float = 2.2) -> np.ndarray:
    """Global Reinhard operator (with white point = brightest pixel), then gamma, to uint8."""
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    positive = lum > 0
    if not positive.any():
        return np.zeros(rgb.shape, np.uint8)
    log_mean = float(np.exp(np.mean(np.log(lum[positive], dtype=np.float64))))
    scaled = lum * np.float32(key / log_mean)
    white = float(scaled.max())
    display = scaled * (1.0 + scaled / np.float32(white * white)) / (1.0 + scaled)
    ratio = np.divide(display, lum, out=np.zeros_like(lum), where=positive)
    out = rgb * ratio[..., None]
    np.clip(out, 0.0, 1.0, out=out)
    out **= np.float32(1.0 / gamma)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)
