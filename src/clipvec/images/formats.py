"""Which formats we read, and naming a payload's format from its magic bytes alone.

The format is sniffed from the bytes only, never from a file name or a Content-Type: a
PNG named ``.jpg`` is a PNG, and an upload that says ``image/jpeg`` but holds a PDF is a
PDF. Payloads that are recognisably not an image we read get a descriptive kind (``"PDF"``,
``"HTML"``, ...) so a 415 can say what it saw.
"""

from __future__ import annotations

from importlib.util import find_spec

from PIL import features

from clipvec.errors import HeicNotEnabled
from clipvec.shell import shown_command

__all__ = ["PILLOW_ID", "SUPPORTED_FORMATS", "heic_not_enabled", "sniff_format"]


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
"""Canonical names of the formats :func:`~clipvec.images.decode_image` can read in this environment."""

HEIC_PLUGIN = "pillow-heif>=0.16"  # pyproject.toml's 'heic' extra


def heic_not_enabled() -> HeicNotEnabled:
    """The error for a HEIC/HEIF image without the plugin, with the command that enables it."""
    return HeicNotEnabled(
        "HEIC/HEIF images need the optional pillow-heif package (GPL-2.0; the 'heic' extra), which "
        f"is not installed: {shown_command('pip')} install '{HEIC_PLUGIN}' enables them"
    )


# Our canonical name -> the Pillow plugin id that reads it.
PILLOW_ID = {
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
