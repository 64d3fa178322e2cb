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

The module keeps no mutable state besides a lock-guarded flag for the optional HEIC
plugin, so it is safe to call from several threads at once. It never changes Pillow's
globals; ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay off (the default) for truncated
files to be reported as such.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from PIL import Image, features

from clipvec.errors import (
    ClipvecError,
    DecodeError,
    EmptyInput,
    ImageTooLarge,
    TruncatedImage,
    UnsupportedImageFormat,
)

__all__ = [
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "PixelBudget",
    "Reservation",
    "decode_file",
    "decode_image",
    "sniff_format",
]

log = logging.getLogger(__name__)

WHITE = (255, 255, 255)

# Load every Pillow plugin now, once, so concurrent first calls never race on the registry.
Image.init()


def _avif_available() -> bool:
    try:
        return bool(features.check_module("avif"))
    except (ValueError, ImportError, OSError):  # a Pillow built without it
        return False


_HEIF_INSTALLED = find_spec("pillow_heif") is not None

SUPPORTED_FORMATS: frozenset[str] = frozenset(
    {"JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "HDR", "TGA"}
    | ({"AVIF"} if _avif_available() else set())
    | ({"HEIC"} if _HEIF_INSTALLED else set())
)
"""Canonical names of the formats :func:`decode_image` can read in this environment."""

# Our canonical name -> the Pillow plugin id that reads it.
_PILLOW_ID = {
    "JPEG": "JPEG",  # also yields MPO (multi-picture JPEG from phones): frame 0 is used
    "PNG": "PNG",  # and APNG (first frame)
    "BMP": "BMP",
    "GIF": "GIF",
    "TIFF": "TIFF",
    "WEBP": "WEBP",
    "TGA": "TGA",
    "AVIF": "AVIF",
    "HEIC": "HEIF",  # registered by pillow_heif
}

# EXIF orientation -> the transpose that displays the image upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image ready for the model.

    ``image`` is mode ``"RGB"``, 8 bits per channel, upright (EXIF orientation applied),
    with any transparency composited on white. It may be smaller than the original when
    ``min_side`` let a JPEG decode at reduced scale; ``width``/``height`` always describe
    the original image as displayed (after orientation).
    """

    image: Image.Image
    format: str
    width: int
    height: int


# --------------------------------------------------------------------------------------
# A shared pixel budget
# --------------------------------------------------------------------------------------

_TRIM_PIXELS = 4_000_000  # give memory back to the OS after images this large


class PixelBudget:
    """Bounds how many pixels are being decoded at once, across threads.

    Sixteen concurrent 100-megapixel PNGs (97 KB each) would need ~5 GB at once; with a
    budget they are decoded a few at a time and the others wait (they are not refused).
    An image larger than the whole budget still runs, alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def reservation(self) -> Iterator[Reservation]:
        """Pixels taken through the reservation are given back when the block ends."""
        held = Reservation(self)
        try:
            yield held
        finally:
            held.release()


class Reservation:
    """One image's share of a :class:`PixelBudget` (taken once its size is known)."""

    def __init__(self, budget: PixelBudget) -> None:
        self.budget = budget
        self.weight = 0

    def take(self, pixels: int) -> None:
        """Wait until ``pixels`` more (capped at the whole budget) fit, then hold them."""
        budget = self.budget
        extra = min(int(pixels), budget.limit) - self.weight
        if extra <= 0:
            return
        with budget._cond:
            while budget.used > 0 and budget.used + extra > budget.limit:
                budget._cond.wait()
            budget.used += extra
            self.weight += extra

    def release(self) -> None:
        if self.weight <= 0:
            return
        budget, weight = self.budget, self.weight
        self.weight = 0
        with budget._cond:
            budget.used -= weight
            budget._cond.notify_all()
        if weight >= _TRIM_PIXELS:
            _malloc_trim()


def _malloc_trim() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them per thread arena otherwise)."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC: ctypes.CDLL | bool | None = None


def _take(reservation: Reservation | None, width: int, height: int) -> None:
    if reservation is not None:
        reservation.take(width * height)


# --------------------------------------------------------------------------------------
# Sniffing
# --------------------------------------------------------------------------------------

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_TGA_FOOTER = b"TRUEVISION-XFILE.\x00"

# (magic prefix, kind) for things that are recognisably not an image we read.
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF"),
    (b"PK\x03\x04", "ZIP"),
    (b"PK\x05\x06", "ZIP"),
    (b"\x1f\x8b", "GZIP"),
    (b"BZh", "BZIP2"),
    (b"\xfd7zXZ\x00", "XZ"),
    (b"7z\xbc\xaf\x27\x1c", "7Z"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\x7fELF", "ELF"),
    (b"%!PS", "POSTSCRIPT"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JXL"),
    (b"\xff\x0a", "JXL"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"OggS", "OGG"),
    (b"fLaC", "FLAC"),
    (b"ID3", "MP3"),
    (b"\x1a\x45\xdf\xa3", "MATROSKA"),
    (b"SQLite format 3\x00", "SQLITE"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2"),
    (b"MZ", "EXE"),
)


def _sniff_bmff(data: bytes) -> str:
    """Classify an ISO base media file (``ftyp`` box): AVIF, HEIC or a video container."""
    major = data[8:12]
    box_size = int.from_bytes(data[0:4], "big")
    end = min(max(box_size, 16), 256, len(data))
    brands = {data[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _AVIF_BRANDS:
        return "AVIF"
    if major in _HEIC_BRANDS - {b"mif1", b"msf1"}:
        return "HEIC"
    if major in (b"mif1", b"msf1"):
        return "AVIF" if brands & _AVIF_BRANDS else "HEIC"
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIC_BRANDS:
        return "HEIC"
    if major == b"qt  ":
        return "QUICKTIME"
    return "MP4"


def _looks_like_ico(head: bytes) -> bool:
    """ICO/CUR: a 6-byte header then 16-byte entries (checked so uncompressed TGA is not taken)."""
    if len(head) < 22 or head[0:2] != b"\x00\x00" or head[2:4] not in (b"\x01\x00", b"\x02\x00"):
        return False
    count = int.from_bytes(head[4:6], "little")
    offset = int.from_bytes(head[18:22], "little")
    return 1 <= count <= 256 and head[9] == 0 and offset >= 6 + 16 * count


def _looks_like_tga(data: bytes) -> bool:
    """TGA has no magic: accept a v2 footer, or a header that Pillow's reader would accept."""
    if len(data) >= 26 and bytes(data[-18:]) == _TGA_FOOTER:
        return True
    if len(data) < 18:
        return False
    data = bytes(data[:18])
    cmap_type, image_type = data[1], data[2]
    cmap_depth = data[7]
    width, height = int.from_bytes(data[12:14], "little"), int.from_bytes(data[14:16], "little")
    depth, descriptor = data[16], data[17]
    if cmap_type not in (0, 1) or width == 0 or height == 0 or descriptor & 0xC0:
        return False
    if image_type in (1, 9):
        return cmap_type == 1 and depth == 8 and cmap_depth in (15, 16, 24, 32)
    if image_type in (2, 10):
        return cmap_type == 0 and depth in (16, 24, 32)
    if image_type in (3, 11):
        return cmap_type == 0 and depth in (1, 8, 16)
    return False


def _sniff_text(head: bytes) -> str | None:
    """Name text payloads (HTML, SVG, XML, JSON, plain text) so a 415 can say what they were."""
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    if not text:
        return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if controls > len(text) // 100:
        return None
    lower = text.lstrip("\ufeff \t\r\n").lower()
    if lower.startswith(("<!doctype html", "<html", "<head", "<body")):
        return "HTML"
    if lower.startswith("<svg") or (lower.startswith("<?xml") and "<svg" in lower):
        return "SVG"
    if lower.startswith("<?xml"):
        return "XML"
    if lower.startswith(("{", "[")):
        return "JSON"
    return "TEXT"


def sniff_format(data: bytes) -> str | None:
    """Name the format of ``data`` from its magic bytes only.

    Returns a canonical upper-case name. Image formats we can read are the names in
    :data:`SUPPORTED_FORMATS` (``"HEIC"`` and ``"AVIF"`` are returned even when this
    environment cannot decode them); other recognisable payloads get a descriptive kind
    (``"PDF"``, ``"ZIP"``, ``"HTML"``, ``"TEXT"``, ``"PSD"``, ...). ``None`` means unknown.
    """
    head = bytes(data[:1024])
    if not head:
        return None
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return "HDR"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        return _sniff_bmff(head)
    if head.startswith(b"BM") and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "BMP"
    if head.startswith(b"RIFF"):
        return {b"WAVE": "WAV", b"AVI ": "AVI"}.get(head[8:12], "RIFF")
    if _looks_like_ico(head):
        return "ICO" if head[2] == 1 else "CUR"
    for magic, kind in _OTHER_MAGIC:
        if head.startswith(magic):
            return kind
    text = _sniff_text(head)
    if text is not None:
        return text
    if _looks_like_tga(data):
        return "TGA"
    return None


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------


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
            raise UnsupportedImageFormat(
                "HEIC/HEIF images need the optional 'pillow-heif' package, which is not installed"
            )
        if fmt in _PILLOW_ID:  # an image format this Pillow build cannot read
            raise UnsupportedImageFormat(f"{fmt} images are not supported by this installation")
        raise UnsupportedImageFormat(
            f"{fmt} data is not a supported image format (supported: {', '.join(sorted(SUPPORTED_FORMATS))})"
        )
    if min_side is not None and min_side < 1:
        min_side = None
    try:
        if fmt == "HDR":
            return _decode_hdr(data, max_pixels, reservation)
        return _decode_pillow(data, fmt, max_pixels, min_side, reservation)
    except ClipvecError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge(f"not enough memory to decode this {fmt} image") from exc
    except Exception as exc:  # safety net: a parser bug must not become a 500
        log.warning("unexpected %s while decoding %s: %s", type(exc).__name__, fmt, exc, exc_info=True)
        raise DecodeError(f"malformed {fmt} file: it could not be decoded") from exc


# --------------------------------------------------------------------------------------
# Pillow-backed formats
# --------------------------------------------------------------------------------------

_heif_lock = threading.Lock()
_heif_registered = False


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
            raise UnsupportedImageFormat(
                "HEIC/HEIF images need the optional 'pillow-heif' package, which is not installed"
            ) from exc
        pillow_heif.register_heif_opener()
        _heif_registered = True


_TRUNCATION_HINTS = ("truncat", "premature end", "end of file", "not enough data", "unexpected end")


def _is_truncation(exc: BaseException) -> bool:
    return isinstance(exc, EOFError) or any(hint in str(exc).lower() for hint in _TRUNCATION_HINTS)


def _pillow_failure(exc: BaseException, fmt: str, stage: str, max_pixels: int) -> DecodeError:
    """Map an exception from Pillow (or tifffile) to our error classes."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # Pillow's own guard (the warning only arrives here when warnings are errors).
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        return ImageTooLarge(
            f"{fmt} image has {size}, more than the {max_pixels / 1e6:g} megapixel limit "
            f"(or Pillow's own decompression-bomb limit)"
        )
    if isinstance(exc, MemoryError):
        return ImageTooLarge(f"not enough memory to decode this {fmt} image")
    if _is_truncation(exc):
        return TruncatedImage(f"{fmt} file is truncated: the data ends before the image is complete")
    if isinstance(exc, Image.UnidentifiedImageError):
        return DecodeError(f"malformed {fmt} file: its header could not be read (corrupt or cut short)")
    # The library's own message stays in the log: it can name internals, never the client's business.
    log.info("%s: %s failed: %s: %s", fmt, stage, type(exc).__name__, str(exc)[:300])
    return DecodeError(f"malformed {fmt} file: {stage} failed")


# What Pillow and its plugins raise for bad data (decoders report OSError, parsers the rest).
_PIL_ERRORS = (
    OSError,
    EOFError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    RuntimeError,  # libavif / libwebp decoder failures
    MemoryError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def _check_size(width: int, height: int, max_pixels: int, fmt: str) -> None:
    if width <= 0 or height <= 0:
        raise DecodeError(f"malformed {fmt} file: the header says {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{fmt} image is {width}x{height} = {width * height / 1e6:.1f} megapixels, "
            f"more than the {max_pixels / 1e6:g} megapixel limit"
        )


def _exif_orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except _PIL_ERRORS as exc:  # a broken EXIF block must not lose an otherwise fine image
        log.debug("ignoring unreadable EXIF: %s", exc)
        return 1
    return value if isinstance(value, int) and value in _ORIENTATION else 1


def _decode_pillow(
    data: bytes, fmt: str, max_pixels: int, min_side: int | None, reservation: Reservation | None = None
) -> DecodedImage:
    if fmt == "HEIC":
        _ensure_heif()
    try:
        im = Image.open(io.BytesIO(data), formats=[_PILLOW_ID[fmt]])
    except _PIL_ERRORS as exc:
        if fmt == "TIFF" and not isinstance(exc, Image.DecompressionBombError):
            return _decode_tiff_fallback(data, max_pixels, exc, reservation)
        raise _pillow_failure(exc, fmt, "reading the header", max_pixels) from exc

    width, height = im.size
    _check_size(width, height, max_pixels, fmt)
    if min_side and fmt == "JPEG":
        # libjpeg scales by 1/2, 1/4 or 1/8 while decoding; Pillow picks the largest factor
        # that keeps both sides >= the requested box, so a square box keeps the shortest
        # side >= min_side whatever the EXIF orientation.
        im.draft("RGB", (min_side, min_side))
    _take(reservation, *im.size)  # after draft: the size libjpeg will really decode
    try:
        im.load()
    except _PIL_ERRORS as exc:
        if fmt == "TIFF" and not _is_truncation(exc) and not isinstance(exc, Image.DecompressionBombError):
            return _decode_tiff_fallback(data, max_pixels, exc, reservation)
        raise _pillow_failure(exc, fmt, "decoding the pixels", max_pixels) from exc

    orientation = _exif_orientation(im)
    try:
        rgb = _to_rgb(im, fmt)
    except _PIL_ERRORS as exc:
        raise _pillow_failure(exc, fmt, f"converting mode {im.mode} to RGB", max_pixels) from exc
    if orientation != 1:
        rgb = rgb.transpose(_ORIENTATION[orientation])
        if orientation >= 5:
            width, height = height, width
    return DecodedImage(rgb, fmt, width, height)


def _to_rgb(im: Image.Image, fmt: str) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, scaling deep samples and compositing alpha on white."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _to_uint8(np.asarray(im))
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
        return _composite_on_white(im, fmt)
    return im.convert("RGB")  # CMYK (plain and Adobe), YCbCr, RGBX, LAB, HSV, ...


def _composite_on_white(im: Image.Image, fmt: str) -> Image.Image:
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


def _to_uint8(a: np.ndarray) -> np.ndarray:
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
        return _stretch(a.astype(np.float64), float(lo), float(hi))
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
        return _stretch(a, lo, hi)
    raise DecodeError(f"unsupported sample type {a.dtype}")


def _stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:
        return np.full(a.shape, 255 if lo > 0 else 0, np.uint8)
    return ((a - lo) * (255.0 / (hi - lo)) + 0.5).clip(0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# TIFF variants Pillow cannot read (colour float, unusual sample layouts): tifffile
# --------------------------------------------------------------------------------------


def _decode_tiff_fallback(
    data: bytes, max_pixels: int, pillow_exc: BaseException, reservation: Reservation | None = None
) -> DecodedImage:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            if not tif.pages:
                raise DecodeError("malformed TIFF file: it has no pages")
            page = tif.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            _check_size(width, height, max_pixels, "TIFF")
            _take(reservation, width, height)
            arr = page.asarray()
            axes = page.axes
            photometric = int(page.photometric)
            orientation_tag = page.tags.get(274)
            orientation = int(orientation_tag.value) if orientation_tag is not None else 1
    except ClipvecError:
        raise
    except (tifffile.TiffFileError, *_PIL_ERRORS, RuntimeError, NotImplementedError) as exc:
        log.debug("Pillow could not read the TIFF (%s); tifffile neither (%s)", pillow_exc, exc)
        if isinstance(exc, (ValueError, NotImplementedError)) and "compress" in str(exc).lower():
            log.info("TIFF compression not supported: %s", exc)
            raise UnsupportedImageFormat("this TIFF's compression or predictor is not supported") from exc
        raise _pillow_failure(exc, "TIFF", "decoding the pixels", max_pixels) from exc

    if arr.size == 0 or arr.ndim < 2:
        raise DecodeError(f"malformed TIFF file: its first page has no pixels (shape {arr.shape})")
    # Bring the samples axis last and drop any leading (depth/time) axes.
    if "S" in axes and axes.index("S") < axes.index("Y"):
        arr = np.moveaxis(arr, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    while arr.ndim > (3 if axes.endswith("S") else 2):
        arr = arr[0]
        axes = axes[1:]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]

    if arr.ndim == 2:
        grey = _to_uint8(arr)
        if photometric == 0:  # MINISWHITE
            grey = 255 - grey
        rgb = Image.fromarray(grey).convert("RGB")
    else:
        channels = arr.shape[-1]
        if photometric == 5 and channels >= 4:  # SEPARATED (CMYK)
            cmyk = _to_uint8(arr[..., :4])
            rgb = Image.fromarray(np.ascontiguousarray(cmyk), "CMYK").convert("RGB")
        elif channels == 2:
            grey = _to_uint8(arr[..., 0])
            alpha = _alpha_to_uint8(arr[..., 1])
            rgb = _composite_on_white(Image.merge("RGBA", [Image.fromarray(grey)] * 3 + [alpha]), "TIFF")
        else:
            colour = _to_uint8(arr[..., :3])
            rgb = Image.fromarray(np.ascontiguousarray(colour), "RGB")
            if channels >= 4:
                rgba = rgb.convert("RGBA")
                rgba.putalpha(_alpha_to_uint8(arr[..., 3]))
                rgb = _composite_on_white(rgba, "TIFF")
    if orientation in _ORIENTATION:
        rgb = rgb.transpose(_ORIENTATION[orientation])
        if orientation >= 5:
            width, height = height, width
    return DecodedImage(rgb, "TIFF", width, height)


def _alpha_to_uint8(alpha: np.ndarray) -> Image.Image:
    if alpha.dtype.kind == "f":
        return Image.fromarray((np.clip(np.nan_to_num(alpha), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
    return Image.fromarray(np.ascontiguousarray(_to_uint8(alpha)))


# --------------------------------------------------------------------------------------
# Radiance HDR (RGBE), which Pillow cannot read
# --------------------------------------------------------------------------------------

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


def _decode_hdr(data: bytes, max_pixels: int, reservation: Reservation | None = None) -> DecodedImage:
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
    _check_size(width, height, max_pixels, "HDR")
    _take(reservation, width, height)

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
