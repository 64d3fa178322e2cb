"""Reading a photo's ``PhotoMeta`` from the EXIF block of an image Pillow has already opened.

The decoder calls :func:`read_photo_meta` on the image it opened anyway, so the header is
parsed once and pixels are never decoded a second time (``clipvec migrate`` calls
:func:`read_photo_meta_of` on a file's bytes: header only). Each field is read on its own:
a broken or hostile value (a zero denominator, a count of thousands, a wrong type, a date of
``0000:00:00``, a latitude of 200, bytes that are not UTF-8, an offset of +99:00) makes that
field unknown and never fails the image. The file's mtime is never taken for the date.
"""

from __future__ import annotations

import io
import logging
import math
import re
from datetime import datetime, timezone
from typing import Any

from PIL import Image

from clipvec.images.failures import PIL_ERRORS
from clipvec.images.photo_meta import OFFSET_MAX_MINUTES, UNKNOWN_META, PhotoMeta, clean_text

__all__ = ["meta_from_exif", "read_exif", "read_photo_meta", "read_photo_meta_of"]

log = logging.getLogger(__name__)

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL = 0x010F, 0x0110
DATE_TAKEN, OFFSET_TAKEN, LENS_MODEL = 0x9003, 0x9011, 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_STATUS = 1, 2, 3, 4, 9
TEXT_MAX_READ = 4096  # longer "text" is not a name (a count run wild): unknown

_DATE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def read_photo_meta(image: Image.Image) -> PhotoMeta:
    """The metadata in ``image``'s EXIF (unknown where it has none or it is broken)."""
    return meta_from_exif(read_exif(image))


def read_exif(image: Image.Image) -> Image.Exif:
    """``image``'s EXIF block, parsed once for orientation and metadata (empty when unreadable)."""
    try:
        return image.getexif()
    except PIL_ERRORS as exc:  # a broken EXIF block must not lose an otherwise fine image
        log.debug("ignoring unreadable EXIF: %s", exc)
        return Image.Exif()


def read_photo_meta_of(data: bytes) -> PhotoMeta:
    """The metadata in image file bytes, from the header only (``clipvec migrate``).

    A PNG whose EXIF chunk follows its pixels is read as unknown: finding it would mean
    decoding them.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "PNG" and "exif" not in image.info:
                return UNKNOWN_META
            return read_photo_meta(image)
    except PIL_ERRORS as exc:
        log.debug("no metadata from an unreadable image: %s", exc)
        return UNKNOWN_META


def meta_from_exif(exif: Image.Exif) -> PhotoMeta:
    """Each field from its tag; one that cannot be read is unknown, the others still count."""
    exif_ifd = _ifd(exif, EXIF_IFD)
    gps = _ifd(exif, GPS_IFD)
    taken, offset = _taken(_get(exif_ifd, DATE_TAKEN), _get(exif_ifd, OFFSET_TAKEN))
    lat, lon = _place(gps)
    return PhotoMeta(
        taken=taken,
        taken_offset=offset,
        camera_make=_text(_get(exif, MAKE)),
        camera_model=_text(_get(exif, MODEL)),
        lens=_text(_get(exif_ifd, LENS_MODEL)),
        lat=lat,
        lon=lon,
    ).checked()


def _get(tags: Any, tag: int) -> Any:
    """One tag's value; Pillow parses some lazily, so a hostile one raises only when read."""
    try:
        return tags.get(tag)
    except Exception as exc:  # noqa: BLE001 - a hostile tag loses its field, never the image
        log.debug("ignoring unreadable EXIF tag %#x: %s", tag, exc)
        return None


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        ifd = exif.get_ifd(tag)
    except Exception as exc:  # noqa: BLE001 - a hostile sub-IFD loses its fields, never the image
        log.debug("ignoring unreadable EXIF IFD %#x: %s", tag, exc)
        return {}
    return ifd if isinstance(ifd, dict) else {}


def _text(value: Any) -> str:
    """ASCII/UTF-8 tag text, or "" for another type or bytes that are not UTF-8.

    Pillow decodes ASCII tags as Latin-1, so the original bytes are recovered first: cameras
    that write UTF-8 names (``Objektiv ƒ/2``) keep them, invalid bytes give unknown.
    """
    if isinstance(value, str):
        try:
            value = value.encode("latin-1")
        except UnicodeEncodeError:
            return clean_text(value)  # already real text
    if not isinstance(value, bytes) or len(value) > TEXT_MAX_READ:
        return ""
    try:
        text = value.split(b"\x00", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return clean_text(text)


def _taken(date: Any, offset: Any) -> tuple[int | None, int | None]:
    """``DateTimeOriginal`` (+ ``OffsetTimeOriginal``) as (seconds, minutes east of UTC).

    Without a usable offset the wall clock is read as UTC and the offset is unknown.
    """
    text = _text(date)
    match = _DATE.match(text)
    if not match:
        return None, None
    try:
        wall = datetime(*map(int, match.groups()), tzinfo=timezone.utc)  # type: ignore[misc]
    except ValueError:  # 0000:00:00 00:00:00, month 13, February 30
        return None, None
    seconds = int(wall.timestamp())
    minutes = _offset_minutes(_text(offset))
    if minutes is None:
        return seconds, None
    return seconds - minutes * 60, minutes


def _offset_minutes(text: str) -> int | None:
    match = _OFFSET.fullmatch(text.strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    if int(minutes) >= 60:
        return None
    total = int(hours) * 60 + int(minutes)
    return None if total > OFFSET_MAX_MINUTES else (-total if sign == "-" else total)


def _place(gps: dict[int, Any]) -> tuple[float | None, float | None]:
    """GPS latitude and longitude in decimal degrees; both or neither (half a place is no place)."""
    if _text(_get(gps, GPS_STATUS)).upper() == "V":  # the receiver said its fix is void
        return None, None
    lat = _degrees(_get(gps, GPS_LAT), _text(_get(gps, GPS_LAT_REF)), "N", "S", 90.0)
    lon = _degrees(_get(gps, GPS_LON), _text(_get(gps, GPS_LON_REF)), "E", "W", 180.0)
    return (lat, lon) if lat is not None and lon is not None else (None, None)


def _degrees(value: Any, ref: str, plus: str, minus: str, limit: float) -> float | None:
    """Degrees, minutes, seconds (rationals) and a reference letter -> signed decimal degrees."""
    ref = ref.strip().upper()
    if ref not in (plus, minus) or not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        return None
    parts: list[float] = []
    for part in value:
        try:
            number = float(part)  # IFDRational: a zero denominator gives NaN
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
        if not math.isfinite(number) or number < 0:
            return None
        parts.append(number)
    parts += [0.0] * (3 - len(parts))
    if parts[1] >= 60 or parts[2] >= 60:
        return None
    # 7 decimals: about 1 cm, beyond any receiver, and 48.8584 stays 48.8584 after the sum.
    degrees = round(parts[0] + parts[1] / 60 + parts[2] / 3600, 7)
    if degrees > limit:
        return None
    return -degrees if ref == minus else degrees
