"""Generated image corpus for tests: one sample per format/variant plus a hostile corpus.

Everything is synthetic and built in memory (cached per process), so tests need no files:

    from image_corpus import format_samples, hostile_samples
    for name, data, fmt, (w, h) in format_samples(): ...
    for name, data, status in hostile_samples(): ...

``format_cases()`` / ``hostile_cases()`` give the richer records (expected pixels, error
code, file extension); ``write_format_samples(dir)`` / ``write_hostile_samples(dir)`` put
them on disk for importer tests. Colour samples show :func:`reference_rgb`: a smooth
gradient with a red block in the top-left corner and a blue block in the bottom-right one,
so orientation mistakes are visible; :func:`is_red` / :func:`is_blue` check those blocks in
:func:`decoded_pixels`.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, features

W, H = 64, 48  # every format sample is this size (non-square), unless rotated
RED = (230, 20, 20)
BLUE = (20, 20, 230)
HIDDEN = (0, 200, 0)  # colour under fully transparent pixels: must never show


@dataclass(frozen=True)
class FormatSample:
    name: str
    data: bytes
    format: str  # canonical format decode_image must report
    size: tuple[int, int]  # (width, height) after EXIF orientation
    expected: np.ndarray | None  # decoded RGB the decoder should produce (H, W, 3), if known
    tolerance: float  # allowed mean absolute error against ``expected``
    markers: bool  # red block top-left, blue block bottom-right
    ext: str


@dataclass(frozen=True)
class HostileSample:
    name: str
    data: bytes
    status: int  # HTTP status the service must answer
    code: str  # ClipvecError.code decode_image must raise
    ext: str


# --------------------------------------------------------------------------------------
# Reference pictures
# --------------------------------------------------------------------------------------


def reference_rgb(w: int = W, h: int = H) -> np.ndarray:
    """Gradient background, red block top-left, blue block bottom-right (uint8, H x W x 3)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = 40 + (x * 150) // max(w - 1, 1)
    img[..., 1] = 60 + (y * 150) // max(h - 1, 1)
    img[..., 2] = 120 + ((x + y) * 60) // max(w + h - 2, 1)
    img[: h // 4, : w // 4] = RED
    img[h - h // 4 :, w - w // 4 :] = BLUE
    return img


def reference_grey(w: int = W, h: int = H) -> np.ndarray:
    return np.asarray(Image.fromarray(reference_rgb(w, h)).convert("L"))


def transparent_rgba(w: int = W, h: int = H) -> np.ndarray:
    """Left quarter fully transparent (hidden green), next quarter black at alpha 128, rest opaque."""
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = reference_rgb(w, h)
    rgba[..., 3] = 255
    rgba[:, : w // 4, :3] = HIDDEN
    rgba[:, : w // 4, 3] = 0
    rgba[:, w // 4 : w // 2, :3] = 0
    rgba[:, w // 4 : w // 2, 3] = 128
    return rgba


def on_white(rgba: np.ndarray) -> np.ndarray:
    """What compositing ``rgba`` on a white background must give."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def hdr_reference(w: int = W, h: int = H) -> np.ndarray:
    """Linear float RGB scene: dim grey-blue gradient, bright red and bright blue patches."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = 0.05 + 0.1 * x / w
    img[..., 1] = 0.05 + 0.1 * y / h
    img[..., 2] = 0.1
    img[: h // 4, : w // 4] = (50.0, 1.0, 1.0)
    img[h - h // 4 :, w - w // 4 :] = (1.0, 1.0, 40.0)
    return img


# --------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def rgb_image(w: int = W, h: int = H) -> Image.Image:
    return Image.fromarray(reference_rgb(w, h), "RGB")


def jpeg_with_orientation(orientation: int, w: int = W, h: int = H, **params: object) -> bytes:
    """A JPEG that *displays* as ``reference_rgb(w, h)`` once EXIF ``orientation`` is applied."""
    shown = rgb_image(w, h)
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = shown if inverse is None else shown.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    params.setdefault("quality", 95)
    params.setdefault("subsampling", 0)
    return encode(stored, "JPEG", exif=exif.tobytes(), **params)


def large_jpeg(w: int = 1600, h: int = 1200, orientation: int = 1) -> bytes:
    """A bigger JPEG (for draft-mode tests) that displays as ``reference_rgb(w, h)``."""
    return jpeg_with_orientation(orientation, w, h, quality=85, subsampling=2)


def cmyk_jpeg(ycck: bool = False) -> bytes:
    """Adobe-style CMYK JPEG showing the reference: plain CMYK (transform 0) or YCCK (transform 2).

    Pillow (like ImageMagick and Photoshop) stores CMYK inverted with an Adobe APP14 marker.
    For YCCK the stored components are the YCbCr of the inverted C, M, Y plus K, and the
    marker's transform byte says so: libjpeg converts back to CMYK while decoding.
    """
    ref = reference_rgb()
    if not ycck:
        return encode(Image.fromarray(ref).convert("CMYK"), "JPEG", quality=95)
    ycc = np.asarray(Image.fromarray(255 - ref).convert("YCbCr"))
    stored = np.dstack([ycc, np.full(ref.shape[:2], 255, np.uint8)])
    data = bytearray(encode(Image.fromarray(255 - stored, "CMYK"), "JPEG", quality=95))
    app14 = data.find(b"\xff\xee")
    assert data[app14 + 4 : app14 + 9] == b"Adobe", "Pillow wrote no Adobe marker"
    data[app14 + 15] = 2  # transform: YCCK
    return bytes(data)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_raw(w: int, h: int, bit_depth: int, colour_type: int, rows: bytes | None = None) -> bytes:
    """A PNG from raw filtered scanlines (``rows``); without rows only the header is valid."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png16(samples: np.ndarray) -> bytes:
    """16-bit greyscale (H x W) or RGB (H x W x 3) PNG from uint16 samples."""
    colour_type = 0 if samples.ndim == 2 else 2
    big_endian = samples.astype(">u2")
    rows = b"".join(b"\x00" + big_endian[y].tobytes() for y in range(samples.shape[0]))
    return png_raw(samples.shape[1], samples.shape[0], 16, colour_type, rows)


def grey16_reference(w: int = W, h: int = H) -> np.ndarray:
    """16-bit grey: mid-grey (32896 = 128 * 257) with a horizontal ramp band at the bottom."""
    img = np.full((h, w), 128 * 257, np.uint16)
    img[h - h // 4 :, :] = (np.arange(w) * 255 // (w - 1) * 257).astype(np.uint16)
    return img


def rgbe_encode(rgb: np.ndarray) -> np.ndarray:
    """Float RGB (H x W x 3) -> RGBE bytes (H x W x 4), as Radiance's float2rgbe."""
    peak = rgb.max(axis=2)
    mantissa, exponent = np.frexp(peak)
    scale = np.where(peak > 1e-32, mantissa * 256.0 / np.where(peak > 1e-32, peak, 1.0), 0.0)
    out = np.zeros(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = np.clip(rgb * scale[..., None], 0, 255).astype(np.uint8)
    out[..., 3] = np.where(peak > 1e-32, exponent + 128, 0).astype(np.uint8)
    return out


def _rle_component(values: bytes) -> bytes:
    """New-style Radiance RLE of one component of one scanline."""
    out = bytearray()
    i, n = 0, len(values)
    while i < n:
        run = 1
        while i + run < n and run < 127 and values[i + run] == values[i]:
            run += 1
        if run >= 3:
            out += bytes((128 + run, values[i]))
            i += run
            continue
        start = i
        while i < n and i - start < 128:
            if i + 2 < n and values[i] == values[i + 1] == values[i + 2]:
                break
            i += 1
        out.append(i - start)
        out += values[start:i]
    return bytes(out)


def hdr_encode(rgb: np.ndarray, *, rle: bool = True, bottom_up: bool = False) -> bytes:
    """A Radiance .hdr file (flat or new-style RLE scanlines)."""
    h, w = rgb.shape[:2]
    rgbe = rgbe_encode(rgb[::-1] if bottom_up else rgb)
    header = b"#?RADIANCE\n# made by image_corpus\nFORMAT=32-bit_rle_rgbe\nEXPOSURE=1.0\n\n"
    header += f"{'+' if bottom_up else '-'}Y {h} +X {w}\n".encode()
    if not rle:
        return header + rgbe.tobytes()
    lines = []
    for y in range(h):
        line = bytearray((2, 2, w >> 8, w & 0xFF))
        for c in range(4):
            line += _rle_component(rgbe[y, :, c].tobytes())
        lines.append(bytes(line))
    return header + b"".join(lines)


def tiff_bytes(array: np.ndarray, **params: object) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, array, **params)
    return buf.getvalue()


def heif_available() -> bool:
    return find_spec("pillow_heif") is not None


def avif_available() -> bool:
    try:
        return bool(features.check_module("avif"))
    except (ValueError, ImportError):
        return False


# --------------------------------------------------------------------------------------
# Format samples
# --------------------------------------------------------------------------------------


def _colour(name: str, data: bytes, fmt: str, tol: float, ext: str, expected: np.ndarray | None = None):
    exp = reference_rgb() if expected is None else expected
    return FormatSample(name, data, fmt, (W, H), exp, tol, True, ext)


def _exact(name: str, data: bytes, fmt: str, expected: np.ndarray, ext: str, tol: float = 0.6, markers=False):
    h, w = expected.shape[:2]
    return FormatSample(name, data, fmt, (w, h), expected, tol, markers, ext)


@functools.cache
def _format_cases() -> tuple[FormatSample, ...]:
    ref = rgb_image()
    ref_np = reference_rgb()
    grey = reference_grey()
    rgba = transparent_rgba()
    rgba_im = Image.fromarray(rgba, "RGBA")
    composite = on_white(rgba)
    la = np.asarray(Image.fromarray(rgba, "RGBA").convert("LA"))
    la_composite = grey_to_rgb(on_white(np.dstack([la[..., 0]] * 3 + [la[..., 1]]))[..., 0])
    palette = ref.quantize(64)
    palette_rgb = np.asarray(palette.convert("RGB"))
    other_frame = Image.new("RGB", (W, H), (0, 255, 0))
    samples: list[FormatSample] = []

    # JPEG
    samples += [
        _colour("jpeg_rgb", encode(ref, "JPEG", quality=95, subsampling=0), "JPEG", 3.0, "jpg"),
        _colour("jpeg_420", encode(ref, "JPEG", quality=90), "JPEG", 5.0, "jpg"),
        _colour("jpeg_progressive", encode(ref, "JPEG", quality=95, progressive=True), "JPEG", 5.0, "jpg"),
        FormatSample(
            "jpeg_grey",
            encode(Image.fromarray(grey), "JPEG", quality=95),
            "JPEG",
            (W, H),
            grey_to_rgb(grey),
            3.0,
            False,
            "jpg",
        ),
        _colour("jpeg_cmyk", cmyk_jpeg(), "JPEG", 4.0, "jpg"),
        _colour("jpeg_ycck", cmyk_jpeg(ycck=True), "JPEG", 4.0, "jpg"),
    ]
    for orientation in (3, 6, 8):
        w, h = (H, W) if orientation >= 5 else (W, H)
        samples.append(
            FormatSample(
                f"jpeg_exif_orientation_{orientation}",
                jpeg_with_orientation(orientation, w, h),
                "JPEG",
                (w, h),
                reference_rgb(w, h),
                3.0,
                True,
                "jpg",
            )
        )

    # PNG
    key = ref_np.copy()
    key[20:28, 28:36] = (0, 255, 0)
    key_expected = key.copy()
    key_expected[20:28, 28:36] = 255
    palette_trns = palette.copy()
    trns_index = palette_trns.getpixel((W // 2, H // 2))
    palette_trns_expected = palette_rgb.copy()
    palette_trns_expected[np.asarray(palette_trns) == trns_index] = 255
    samples += [
        _exact("png_rgb", encode(ref, "PNG"), "PNG", ref_np, "png", markers=True),
        _exact("png_grey", encode(Image.fromarray(grey), "PNG"), "PNG", grey_to_rgb(grey), "png"),
        _exact("png_rgba", encode(rgba_im, "PNG"), "PNG", composite, "png"),
        _exact("png_la", encode(Image.fromarray(la, "LA"), "PNG"), "PNG", la_composite, "png"),
        _exact("png_palette", encode(palette, "PNG"), "PNG", palette_rgb, "png", markers=True),
        _exact(
            "png_palette_transparency",
            encode(palette_trns, "PNG", transparency=trns_index),
            "PNG",
            palette_trns_expected,
            "png",
        ),
        _exact(
            "png_rgb_colour_key",
            encode(Image.fromarray(key), "PNG", transparency=(0, 255, 0)),
            "PNG",
            key_expected,
            "png",
        ),
        _exact(
            "png_grey16",
            png16(grey16_reference()),
            "PNG",
            grey_to_rgb(np.round(grey16_reference() / 257).astype(np.uint8)),
            "png",
        ),
        _exact("png_rgb16", png16(ref_np.astype(np.uint16) * 257), "PNG", ref_np, "png", markers=True),
        _exact(
            "png_bilevel",
            encode(Image.fromarray(grey > 128).convert("1"), "PNG"),
            "PNG",
            grey_to_rgb(np.where(grey > 128, 255, 0).astype(np.uint8)),
            "png",
        ),
        _exact(
            "apng_first_frame",
            encode(ref, "PNG", save_all=True, append_images=[other_frame]),
            "PNG",
            ref_np,
            "png",
            markers=True,
        ),
    ]

    # BMP
    samples += [
        _exact("bmp_rgb", encode(ref, "BMP"), "BMP", ref_np, "bmp", markers=True),
        _exact("bmp_palette", encode(palette, "BMP"), "BMP", palette_rgb, "bmp", markers=True),
        _exact("bmp_grey", encode(Image.fromarray(grey), "BMP"), "BMP", grey_to_rgb(grey), "bmp"),
    ]

    # GIF
    gif_trns = palette.copy()
    samples += [
        _exact("gif", encode(palette, "GIF"), "GIF", palette_rgb, "gif", markers=True),
        _exact(
            "gif_transparent",
            encode(gif_trns, "GIF", transparency=trns_index),
            "GIF",
            palette_trns_expected,
            "gif",
        ),
        _exact(
            "gif_animated_first_frame",
            encode(palette, "GIF", save_all=True, append_images=[other_frame.quantize(4)], duration=100),
            "GIF",
            palette_rgb,
            "gif",
            markers=True,
        ),
    ]

    # TIFF
    grey16 = grey16_reference()
    grey16_expected = grey_to_rgb(np.round(grey16 / 257).astype(np.uint8))
    ramp = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :].repeat(H, 0)
    ramp_expected = grey_to_rgb((ramp * 255 + 0.5).astype(np.uint8))
    depth = ramp * 1000.0 + 250.0  # e.g. a depth map in millimetres: not in 0..1
    samples += [
        _exact("tiff_rgb", encode(ref, "TIFF"), "TIFF", ref_np, "tif", markers=True),
        _exact("tiff_lzw", encode(ref, "TIFF", compression="tiff_lzw"), "TIFF", ref_np, "tif", markers=True),
        _exact("tiff_deflate", tiff_bytes(ref_np, compression="zlib"), "TIFF", ref_np, "tif", markers=True),
        _exact("tiff_rgba", tiff_bytes(rgba, photometric="rgb", extrasamples=[2]), "TIFF", composite, "tif"),
        _exact("tiff_grey16", tiff_bytes(grey16), "TIFF", grey16_expected, "tiff"),
        _exact(
            "tiff_rgb16",
            tiff_bytes(ref_np.astype(np.uint16) * 257, photometric="rgb"),
            "TIFF",
            ref_np,
            "tif",
            markers=True,
        ),
        _exact("tiff_float_grey", tiff_bytes(ramp), "TIFF", ramp_expected, "tif"),
        _exact("tiff_float_depth", tiff_bytes(depth), "TIFF", ramp_expected, "tif"),
        _exact(
            "tiff_float_rgb",
            tiff_bytes(ref_np.astype(np.float32) / 255.0, photometric="rgb"),
            "TIFF",
            ref_np,
            "tif",
            markers=True,
        ),
        _exact(
            "tiff_float_rgb_planar",
            tiff_bytes(
                np.moveaxis(ref_np.astype(np.float32) / 255.0, -1, 0),
                photometric="rgb",
                planarconfig="separate",
            ),
            "TIFF",
            ref_np,
            "tif",
            markers=True,
        ),
        _exact(
            "tiff_multipage_first",
            encode(ref, "TIFF", save_all=True, append_images=[other_frame]),
            "TIFF",
            ref_np,
            "tif",
            markers=True,
        ),
    ]

    portrait = reference_rgb(H, W)
    stored = np.ascontiguousarray(np.rot90(portrait, 1))  # displays upright with orientation 6
    rotated = [(274, "H", 1, 6, False)]
    samples += [
        _exact(
            "tiff_orientation_6",
            tiff_bytes(stored, photometric="rgb", extratags=rotated),
            "TIFF",
            portrait,
            "tif",
            markers=True,
        ),
        _exact(
            "tiff_float_rgb_orientation_6",
            tiff_bytes(stored.astype(np.float32) / 255.0, photometric="rgb", extratags=rotated),
            "TIFF",
            portrait,
            "tif",
            markers=True,
        ),
    ]

    # WEBP
    samples += [
        _colour("webp_lossy", encode(ref, "WEBP", quality=95), "WEBP", 6.0, "webp"),
        _exact("webp_lossless", encode(ref, "WEBP", lossless=True), "WEBP", ref_np, "webp", markers=True),
        _exact("webp_alpha", encode(rgba_im, "WEBP", lossless=True, exact=True), "WEBP", composite, "webp"),
        _exact(
            "webp_animated_first_frame",
            encode(ref, "WEBP", lossless=True, save_all=True, append_images=[other_frame], duration=100),
            "WEBP",
            ref_np,
            "webp",
            markers=True,
        ),
    ]

    # Radiance HDR: tone-mapped, so only the markers and size are checked exactly.
    scene = hdr_reference()
    samples += [
        FormatSample("hdr_flat", hdr_encode(scene, rle=False), "HDR", (W, H), None, 0.0, True, "hdr"),
        FormatSample("hdr_rle", hdr_encode(scene, rle=True), "HDR", (W, H), None, 0.0, True, "hdr"),
        FormatSample(
            "hdr_rle_bottom_up",
            hdr_encode(scene, rle=True, bottom_up=True),
            "HDR",
            (W, H),
            None,
            0.0,
            True,
            "hdr",
        ),
    ]

    # TGA
    opaque_rgba = np.dstack([ref_np, np.zeros((H, W), np.uint8)])  # alpha channel all zero
    samples += [
        _exact("tga_rgb", encode(ref, "TGA"), "TGA", ref_np, "tga", markers=True),
        _exact("tga_rle", encode(ref, "TGA", compression="tga_rle"), "TGA", ref_np, "tga", markers=True),
        _exact("tga_rgba", encode(rgba_im, "TGA"), "TGA", composite, "tga"),
        _exact("tga_rgba_rle", encode(rgba_im, "TGA", compression="tga_rle"), "TGA", composite, "tga"),
        _exact(
            "tga_zero_alpha",
            encode(Image.fromarray(opaque_rgba, "RGBA"), "TGA"),
            "TGA",
            ref_np,
            "tga",
            markers=True,
        ),
        _exact("tga_grey", encode(Image.fromarray(grey), "TGA"), "TGA", grey_to_rgb(grey), "tga"),
        _exact("tga_palette", encode(palette, "TGA"), "TGA", palette_rgb, "tga", markers=True),
    ]

    if avif_available():
        samples.append(_colour("avif", encode(ref, "AVIF", quality=95), "AVIF", 8.0, "avif"))
    if heif_available():  # optional GPL plugin; never required
        import pillow_heif  # type: ignore[import-not-found]

        pillow_heif.register_heif_opener()
        samples.append(_colour("heic", encode(ref, "HEIF", quality=95), "HEIC", 8.0, "heic"))
    return tuple(samples)


def format_cases() -> list[FormatSample]:
    return list(_format_cases())


def format_samples() -> list[tuple[str, bytes, str, tuple[int, int]]]:
    """``(name, data, expected_format, (width, height))`` for every supported variant."""
    return [(s.name, s.data, s.format, s.size) for s in _format_cases()]


# --------------------------------------------------------------------------------------
# Hostile samples
# --------------------------------------------------------------------------------------


def noisy_rgb(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def png_bomb(w: int = 50_000, h: int = 50_000) -> bytes:
    """A valid PNG header (correct CRCs) claiming w x h pixels, with a few bytes of data."""
    return png_raw(w, h, 8, 2)


def jpeg_bomb(w: int = 65_000, h: int = 65_000) -> bytes:
    """A small real JPEG whose SOF header is patched to claim w x h pixels."""
    data = bytearray(encode(rgb_image(16, 16), "JPEG"))
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, h, w)
    return bytes(data)


def gif_bomb(w: int = 65_535, h: int = 65_535) -> bytes:
    data = bytearray(encode(rgb_image(16, 16).quantize(16), "GIF"))
    struct.pack_into("<HH", data, 6, w, h)  # logical screen
    desc = data.find(b"\x2c", 13 + 3 * 16)  # image descriptor after the global palette
    struct.pack_into("<HH", data, desc + 5, w, h)
    return bytes(data)


def bmp_bomb(w: int = 60_000, h: int = 60_000) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + b"\x00" * 16


def tiff_bomb(w: int = 100_000, h: int = 100_000) -> bytes:
    """A little-endian TIFF whose single IFD claims w x h 8-bit grey pixels."""
    entries = [
        (256, 4, 1, w),  # ImageWidth LONG
        (257, 4, 1, h),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression none
        (262, 3, 1, 1),  # MinIsBlack
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, h),  # RowsPerStrip
        (279, 4, 1, w * h & 0xFFFFFFFF),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += (
            struct.pack("<HHII", tag, kind, count, value)
            if kind == 4
            else struct.pack("<HHIHH", tag, kind, count, value, 0)
        )
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 16) + b"\x00" * 8 + ifd


def hdr_bomb(w: int = 20_000, h: int = 20_000) -> bytes:
    return f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {h} +X {w}\n".encode() + b"\x02\x02" + bytes(64)


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("photo.txt", "not really a photo\n" * 20)
    return buf.getvalue()


def _cut(data: bytes, fraction: float = 0.5) -> bytes:
    return data[: int(len(data) * fraction)]


@functools.cache
def _hostile_cases() -> tuple[HostileSample, ...]:
    rng = np.random.default_rng(1234)
    noise = noisy_rgb(320, 240)
    jpeg = encode(noise, "JPEG", quality=90)
    png = encode(noise, "PNG")
    hdr = hdr_encode(hdr_reference(), rle=True)
    png_small = encode(rgb_image(), "PNG")
    bad_crc = bytearray(png_small)
    bad_crc[29] ^= 0xFF  # inside the IHDR CRC
    bad_idat = png_raw(W, H, 8, 2, b"\x00" * 10)[:41] + bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    bad_hdr_run = (
        b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 16\n"
        + bytes((2, 2, 0, 16))
        + bytes((200, 7))
        + bytes(64)
    )
    bmp_bad_depth = bytearray(encode(rgb_image(), "BMP"))
    struct.pack_into("<H", bmp_bad_depth, 28, 7)  # 7 bits per pixel does not exist

    def t(name: str, data: bytes, ext: str = "jpg") -> HostileSample:
        return HostileSample(name, data, 400, "truncated_image", ext)

    def bad(name: str, data: bytes, ext: str = "jpg") -> HostileSample:
        return HostileSample(name, data, 400, "undecodable_image", ext)

    def big(name: str, data: bytes, ext: str) -> HostileSample:
        return HostileSample(name, data, 413, "image_too_large", ext)

    def other(name: str, data: bytes, ext: str = "jpg") -> HostileSample:
        return HostileSample(name, data, 415, "unsupported_image_format", ext)

    return (
        HostileSample("empty", b"", 400, "empty_body", "jpg"),
        # Not images at all (often with an image file name).
        other("text", b"hello, this is not an image\n" * 5),
        other("text_short", b"x"),
        other("html", b"<!DOCTYPE html>\n<html><body><img src='cat.jpg'></body></html>\n"),
        other(
            "svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"/>'
        ),
        other("json", b'{"image": "cat.jpg", "width": 64}'),
        other("pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"),
        other("zip", zip_bytes()),
        other("gzip", zlib.compress(b"x" * 100, wbits=31)),
        other("mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64)),
        other("psd", b"8BPS\x00\x01" + bytes(64)),
        other("elf", b"\x7fELF\x02\x01\x01" + bytes(64)),
        other("random_bytes", bytes(rng.integers(0, 256, 4096, dtype=np.uint8))),
        other("utf16_text", "not an image at all".encode("utf-16")),
        # Truncated files: a valid header, pixel data cut short.
        t("truncated_jpeg", _cut(jpeg)),
        t("truncated_jpeg_header", jpeg[:200]),
        t("truncated_png", _cut(png), "png"),
        t("truncated_gif", _cut(encode(noise.quantize(256), "GIF")), "gif"),
        t("truncated_bmp", _cut(encode(noise, "BMP")), "bmp"),
        t("truncated_tiff", _cut(encode(noise, "TIFF")), "tif"),
        t("truncated_tga", _cut(encode(noise, "TGA")), "tga"),
        t("truncated_hdr_rle", _cut(hdr), "hdr"),
        t("truncated_hdr_header", hdr[:20], "hdr"),
        # Decompression bombs: headers claiming huge sizes.
        big("png_bomb_50000x50000", png_bomb(), "png"),
        big("jpeg_bomb_65000x65000", jpeg_bomb(), "jpg"),
        big("gif_bomb", gif_bomb(), "gif"),
        big("bmp_bomb", bmp_bomb(), "bmp"),
        big("tiff_bomb", tiff_bomb(), "tif"),
        big("hdr_bomb", hdr_bomb(), "hdr"),
        # Valid magic, garbage after it.
        bad("jpeg_magic_garbage", b"\xff\xd8\xff" + b"this is not JPEG data " * 20),
        bad(
            "png_magic_garbage",
            b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)),
            "png",
        ),
        bad("gif_magic_garbage", b"GIF89a" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)), "gif"),
        bad("webp_magic_garbage", b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(range(256)) * 2, "webp"),
        bad("tiff_bad_ifd_offset", b"II*\x00\xff\xff\xff\x7f" + bytes(64), "tif"),
        bad("png_bad_crc", bytes(bad_crc), "png"),
        bad("png_corrupt_idat", bad_idat, "png"),
        bad("png_zero_width", png_raw(0, 48, 8, 2), "png"),
        bad("bmp_bad_bit_depth", bytes(bmp_bad_depth), "bmp"),
        bad(
            "hdr_bad_resolution", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y many +X 10\n" + bytes(64), "hdr"
        ),
        bad("hdr_run_overflow", bad_hdr_run, "hdr"),
    )


def hostile_cases() -> list[HostileSample]:
    return list(_hostile_cases())


def hostile_samples() -> list[tuple[str, bytes, int]]:
    """``(name, data, expected_http_status)`` for inputs that must be refused cleanly."""
    return [(s.name, s.data, s.status) for s in _hostile_cases()]


# --------------------------------------------------------------------------------------
# On disk
# --------------------------------------------------------------------------------------


def write_format_samples(folder: str | Path) -> dict[str, Path]:
    """Write every format sample as ``<name>.<ext>`` into ``folder``; returns name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sample in _format_cases():
        path = folder / f"{sample.name}.{sample.ext}"
        path.write_bytes(sample.data)
        paths[sample.name] = path
    return paths


def write_hostile_samples(folder: str | Path) -> dict[str, Path]:
    """Write every hostile sample as ``<name>.<ext>`` (lying extensions on purpose)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sample in _hostile_cases():
        path = folder / f"{sample.name}.{sample.ext}"
        path.write_bytes(sample.data)
        paths[sample.name] = path
    return paths


# --------------------------------------------------------------------------------------
# Checks on decoded pictures
# --------------------------------------------------------------------------------------


def decoded_pixels(decoded) -> np.ndarray:  # a clipvec.images.DecodedImage
    """The decoded RGB as int16 (H, W, 3), so differences do not wrap around."""
    return np.asarray(decoded.image).astype(np.int16)


def is_red(px: np.ndarray) -> bool:
    return px[0] > 180 and px[0] - px[1] > 100 and px[0] - px[2] > 100


def is_blue(px: np.ndarray) -> bool:
    return px[2] > 180 and px[2] - px[0] > 100 and px[2] - px[1] > 100
