"""A photo's metadata (``PhotoMeta``) as the stored columns of schema version 2, and back.

Milvus 2.3 has no nullable fields, so "unknown" is a sentinel a real value can never be
(a date before any year, an offset beyond any zone, a coordinate off the globe, ""). The
sentinels stay inside the store package: callers see ``PhotoMeta`` with ``None`` / "".
``camera_key`` and ``lens_key`` are casefolded copies, so filters match any case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from clipvec.images.photo_meta import TEXT_MAX_BYTES, UNKNOWN_META, PhotoMeta

__all__ = [
    "CAMERA_KEY_MAX_LEN",
    "GPS_UNKNOWN",
    "META_FIELDS",
    "META_SINCE",
    "META_TEXT_MAX_LEN",
    "OFFSET_UNKNOWN",
    "TAKEN_UNKNOWN",
    "meta_columns",
    "meta_from_row",
]

META_SINCE = 2  # the first schema version with these columns
META_FIELDS = (
    "taken",  # INT64, seconds since the epoch
    "taken_offset",  # INT32, minutes east of UTC
    "camera_make",  # VARCHAR(256)
    "camera_model",  # VARCHAR(256)
    "lens",  # VARCHAR(256)
    "camera_key",  # VARCHAR(520): casefold(make + " " + model)
    "lens_key",  # VARCHAR(256): casefold(lens)
    "lat",  # DOUBLE, decimal degrees
    "lon",  # DOUBLE
)
TAKEN_UNKNOWN = -(2**53)
OFFSET_UNKNOWN = -32768
GPS_UNKNOWN = 999.0
META_TEXT_MAX_LEN = TEXT_MAX_BYTES
CAMERA_KEY_MAX_LEN = 2 * TEXT_MAX_BYTES + 8


def _key(text: str, max_bytes: int) -> str:
    """Casefolded ``text`` within ``max_bytes`` (casefolding may lengthen it: "ß" -> "ss")."""
    data = text.casefold().encode("utf-8")
    return data[:max_bytes].decode("utf-8", "ignore") if len(data) > max_bytes else data.decode()


def meta_columns(meta: PhotoMeta) -> dict[str, Any]:
    """The version-2 columns for ``meta`` (checked first: out-of-range values are stored unknown)."""
    meta = meta.checked()
    camera = f"{meta.camera_make} {meta.camera_model}".strip()
    return {
        "taken": TAKEN_UNKNOWN if meta.taken is None else int(meta.taken),
        "taken_offset": OFFSET_UNKNOWN if meta.taken_offset is None else int(meta.taken_offset),
        "camera_make": meta.camera_make,
        "camera_model": meta.camera_model,
        "lens": meta.lens,
        "camera_key": _key(camera, CAMERA_KEY_MAX_LEN),
        "lens_key": _key(meta.lens, META_TEXT_MAX_LEN),
        "lat": GPS_UNKNOWN if meta.lat is None or meta.lon is None else float(meta.lat),
        "lon": GPS_UNKNOWN if meta.lat is None or meta.lon is None else float(meta.lon),
    }


def meta_from_row(row: Mapping[str, Any]) -> PhotoMeta:
    """The ``PhotoMeta`` of a stored row (a version-1 row has none of the columns: unknown)."""
    if "taken" not in row and "camera_make" not in row and "lat" not in row:
        return UNKNOWN_META
    taken = _int(row.get("taken"))
    offset = _int(row.get("taken_offset"))
    lat, lon = _float(row.get("lat")), _float(row.get("lon"))
    if lat is None or lon is None:
        lat = lon = None
    return PhotoMeta(
        taken=None if taken is None or taken == TAKEN_UNKNOWN else taken,
        taken_offset=None if offset is None or offset == OFFSET_UNKNOWN else offset,
        camera_make=str(row.get("camera_make") or ""),
        camera_model=str(row.get("camera_model") or ""),
        lens=str(row.get("lens") or ""),
        lat=lat,
        lon=lon,
    )  # checked when written: reading 100k rows does not check them again


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        got = None if value is None else float(value)
    except (TypeError, ValueError):
        return None
    return None if got is None or not math.isfinite(got) or got == GPS_UNKNOWN else got
