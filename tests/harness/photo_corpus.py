"""Photos with real EXIF blocks written by Pillow, and what a reader must find in each (issue 17.8).

Several "cameras", dates, zones and places in JPEG, TIFF, PNG and WEBP (HEIC when
pillow-heif is installed: it is not here, so none), plus hostile headers: zero
denominators, counts of thousands or of 2**30, wrong tag types, ``0000:00:00 00:00:00``,
latitudes off the globe, bytes that are not UTF-8, an offset of +99:00, a void GPS fix and
an EXIF block that is garbage. Pillow writes well-formed blocks only, so the hostile tag
types and counts are made by patching the written entry (:func:`patch_entry`).

Every photo has its own pixels (so its own content hash) and its expected ``PhotoMeta``.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from clipvec.images.photo_meta import PhotoMeta

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL, DATE, OFFSET, LENS = 0x010F, 0x0110, 0x9003, 0x9011, 0xA434
ASCII, LONG, RATIONAL, UNDEFINED = 2, 4, 5, 7
FORMATS = {"JPEG": "jpg", "TIFF": "tif", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class Photo:
    name: str  # file name in the corpus folder
    data: bytes
    expect: PhotoMeta  # what the header says, as read_photo_meta must report it


def seconds(text: str, offset_minutes: int | None = None) -> int:
    """``YYYY:MM:DD HH:MM:SS`` at ``offset_minutes`` east of UTC (None: read as UTC) -> epoch seconds."""
    wall = datetime.strptime(text, "%Y:%m:%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return int((wall - timedelta(minutes=offset_minutes or 0)).timestamp())


def dms(degrees: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees -> EXIF degrees, minutes, seconds (seconds in 1/100)."""
    degrees = abs(degrees)
    d = int(degrees)
    m = int((degrees - d) * 60)
    s = round(((degrees - d) * 60 - m) * 60 * 100)
    return IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 100)


def exif_block(
    make: str | bytes | None = None,
    model: str | bytes | None = None,
    lens: str | None = None,
    date: str | None = None,
    offset: str | None = None,
    place: tuple[float, float] | None = None,
    gps: dict[int, object] | None = None,
) -> Image.Exif:
    """An EXIF block with the given tags (IFD0: make, model; Exif IFD: date, offset, lens; GPS IFD)."""
    exif = Image.Exif()
    for tag, value in ((MAKE, make), (MODEL, model)):
        if value is not None:
            exif[tag] = value
    sub = exif.get_ifd(EXIF_IFD)
    for tag, value in ((DATE, date), (OFFSET, offset), (LENS, lens)):
        if value is not None:
            sub[tag] = value
    gps_ifd = exif.get_ifd(GPS_IFD)
    if place is not None:
        lat, lon = place
        gps_ifd.update({1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)})
    gps_ifd.update(gps or {})
    return exif


def encode(fmt: str, exif: Image.Exif | None, seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    """A small noisy image of its own (``seed``) in ``fmt`` with ``exif`` written by Pillow.

    TIFF takes the EXIF block as tags, with the Exif and GPS IFDs as nested dictionaries
    (Pillow's TIFF writer ignores ``exif=``'s sub-IFDs).
    """
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    out = io.BytesIO()
    if exif is None:
        image.save(out, fmt)
    elif fmt == "TIFF":
        tags: dict[int, object] = {k: v for k, v in exif.items() if k not in (EXIF_IFD, GPS_IFD)}
        for ifd in (EXIF_IFD, GPS_IFD):
            if exif.get_ifd(ifd):
                tags[ifd] = dict(exif.get_ifd(ifd))
        image.save(out, fmt, tiffinfo=tags)
    else:
        image.save(out, fmt, exif=exif, **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def patch_entry(data: bytes, tag: int, typ: int, count: int, new_type: int, new_count: int) -> bytes:
    """Rewrite one IFD entry's type and count in place (either byte order), as a hostile writer would."""
    for order in ("<", ">"):
        old = struct.pack(f"{order}HHI", tag, typ, count)
        if data.count(old) == 1:
            return data.replace(old, struct.pack(f"{order}HHI", tag, new_type, new_count))
    raise ValueError(f"entry {tag:#x} (type {typ}, count {count}) is not in the data exactly once")


def garbage_exif_jpeg(seed: int) -> bytes:
    """A JPEG whose APP1 says ``Exif`` and then holds nonsense."""
    plain = encode("JPEG", None, seed)
    junk = b"Exif\x00\x00MM\x00*\x00\x00\xff\xff" + bytes(range(256)) * 2
    app1 = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    return plain[:2] + app1 + plain[2:]


PARIS, SYDNEY, QUITO = (48.8584, 2.2945), (-33.8568, 151.2153), (-0.2201, -78.5123)


def _camera_photos() -> list[Photo]:
    """Ordinary photos: three cameras, three zones, three places, each in every format."""
    kinds: list[tuple[str, dict, PhotoMeta]] = [
        (
            "canon_paris",
            {
                "make": "Canon",
                "model": "Canon EOS R5",
                "lens": "RF24-105mm F4 L IS USM",
                "date": "2024:05:01 12:00:00",
                "offset": "+02:00",
                "place": PARIS,
            },
            PhotoMeta(
                seconds("2024:05:01 12:00:00", 120),
                120,
                "Canon",
                "Canon EOS R5",
                "RF24-105mm F4 L IS USM",
                *PARIS,
            ),
        ),
        (
            "nikon_sydney",
            {
                "make": "NIKON CORPORATION",
                "model": "NIKON Z 6",
                "date": "2023:12:31 23:59:59",
                "offset": "+11:00",
                "place": SYDNEY,
            },
            PhotoMeta(
                seconds("2023:12:31 23:59:59", 660), 660, "NIKON CORPORATION", "NIKON Z 6", "", *SYDNEY
            ),
        ),
        (
            "phone_quito",  # no offset recorded: the wall clock, read as UTC
            {
                "make": "Google",
                "model": "Pixel 7",
                "lens": "Pixel 7 back camera 6.81mm f/1.85",
                "date": "2022:07:14 06:30:00",
                "place": QUITO,
            },
            PhotoMeta(
                seconds("2022:07:14 06:30:00"),
                None,
                "Google",
                "Pixel 7",
                "Pixel 7 back camera 6.81mm f/1.85",
                *QUITO,
            ),
        ),
        ("no_exif", {}, PhotoMeta()),
    ]
    photos = []
    for k, (stem, tags, expect) in enumerate(kinds):
        for f, (fmt, ext) in enumerate(FORMATS.items()):
            exif = exif_block(**tags) if tags else None
            photos.append(Photo(f"{stem}.{ext}", encode(fmt, exif, seed=100 * k + f), expect))
    return photos


def _hostile_photos() -> list[Photo]:
    """Broken or hostile headers: the broken field is unknown, the rest still read, the image fine."""
    good = {
        "make": "Canon",
        "model": "EOS 80D",
        "lens": "EF-S18-55",
        "date": "2021:03:04 05:06:07",
        "offset": "-05:00",
        "place": (40.6892, -74.0445),
    }
    full = PhotoMeta(
        seconds("2021:03:04 05:06:07", -300), -300, "Canon", "EOS 80D", "EF-S18-55", 40.6892, -74.0445
    )
    nowhere = replace(full, lat=None, lon=None)
    base = encode("JPEG", exif_block(**good), seed=900)  # "MM": Pillow's JPEG EXIF byte order
    tiff = encode("TIFF", exif_block(**good), seed=901)  # "II"
    zero = {2: (IFDRational(48, 0), IFDRational(1, 1), IFDRational(1, 1))}
    many = {2: tuple(IFDRational(1, 1) for _ in range(5000))}
    cases: list[tuple[str, Callable[[], bytes], PhotoMeta]] = [
        ("zero_denominator.jpg", lambda: encode("JPEG", exif_block(**good, gps=zero), 910), nowhere),
        ("count_thousands.jpg", lambda: encode("JPEG", exif_block(**good, gps=many), 911), nowhere),
        # A count past the end of the file: Pillow gives up on that IFD (the other IFDs still read).
        (
            "count_huge_make.jpg",
            lambda: patch_entry(base, MAKE, ASCII, 6, ASCII, 2**30),
            replace(full, camera_make="", camera_model=""),
        ),
        (
            "count_huge_date.tif",
            lambda: patch_entry(tiff, DATE, ASCII, 20, ASCII, 2**32 - 1),
            replace(full, taken=None, taken_offset=None, lens=""),
        ),
        (
            "wrong_type_make.jpg",
            lambda: patch_entry(base, MAKE, ASCII, 6, LONG, 1),
            replace(full, camera_make=""),
        ),
        (
            "wrong_type_date.jpg",
            lambda: patch_entry(base, DATE, ASCII, 20, RATIONAL, 1),
            replace(full, taken=None, taken_offset=None),
        ),
        ("wrong_type_gps.jpg", lambda: patch_entry(base, 2, RATIONAL, 3, ASCII, 24), nowhere),
        ("wrong_type_lens.tif", lambda: patch_entry(tiff, LENS, ASCII, 10, UNDEFINED, 10), full),
        (
            "zero_date.jpg",
            lambda: encode("JPEG", exif_block(**{**good, "date": "0000:00:00 00:00:00"}), 912),
            replace(full, taken=None, taken_offset=None),
        ),
        (
            "month_13.png",
            lambda: encode("PNG", exif_block(**{**good, "date": "2021:13:04 05:06:07"}), 913),
            replace(full, taken=None, taken_offset=None),
        ),
        ("lat_95.jpg", lambda: encode("JPEG", exif_block(**{**good, "place": (95.0, 10.0)}), 914), nowhere),
        (
            "lon_200.webp",
            lambda: encode("WEBP", exif_block(**{**good, "place": (10.0, 200.0)}), 915),
            nowhere,
        ),
        ("gps_void.jpg", lambda: encode("JPEG", exif_block(**good, gps={9: "V"}), 916), nowhere),
        (
            "not_utf8.jpg",
            lambda: encode("JPEG", exif_block(**{**good, "make": b"\xff\xfeCam"}), 917),
            replace(full, camera_make=""),
        ),
        (
            "utf8_bytes.tif",
            lambda: encode("TIFF", exif_block(**{**good, "model": "Objektiv ƒ/2".encode()}), 918),
            replace(full, camera_model="Objektiv ƒ/2"),
        ),
        (
            "offset_99.jpg",
            lambda: encode("JPEG", exif_block(**{**good, "offset": "+99:00"}), 919),
            replace(full, taken=seconds("2021:03:04 05:06:07"), taken_offset=None),
        ),
        ("garbage_exif.jpg", lambda: garbage_exif_jpeg(920), PhotoMeta()),
    ]
    return [Photo(name, make(), expect) for name, make, expect in cases]


def photos() -> list[Photo]:
    """The whole corpus: ordinary photos in every format, then the hostile ones."""
    return _camera_photos() + _hostile_photos()


def write_corpus(folder: Path) -> dict[str, PhotoMeta]:
    """Write the corpus into ``folder``; returns each file name's expected metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for photo in photos():
        (folder / photo.name).write_bytes(photo.data)
        expected[photo.name] = photo.expect
    return expected


# Five photos for the command-line filter tests (in-process and as processes): two Canons a
# year apart, a Nikon with a lens, a phone with a place, one without EXIF.
FILTER_PHOTOS = {
    "canon-1.jpg": ("JPEG", dict(make="Canon", model="Canon EOS R5", date="2024:05:03 09:00:00")),
    "canon-2.png": ("PNG", dict(make="Canon", model="Canon EOS R5", date="2023:01:01 12:00:00")),
    "nikon.jpg": ("JPEG", dict(make="NIKON CORPORATION", model="NIKON Z 6", lens="NIKKOR Z 50mm f/1.8 S")),
    "phone.tif": ("TIFF", dict(make="Apple", model="iPhone 12", place=(48.8584, 2.2945))),
    "plain.jpg": ("JPEG", {}),
}


def write_filter_photos(folder: Path) -> None:
    """``FILTER_PHOTOS`` into ``folder`` (made), each with its EXIF block."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, (fmt, tags)) in enumerate(FILTER_PHOTOS.items()):
        (folder / name).write_bytes(encode(fmt, exif_block(**tags) if tags else None, seed=9100 + i))
