"""When, where and with what a photo was taken, as its header says (issue 17).

``PhotoMeta`` is the in-memory value: every field may be unknown (``None`` or ``""``), and
unknown is always an honest answer: the file's mtime is never taken for the date. The
store keeps it in sentinel columns (``clipvec.store.records``); answers show it through
:meth:`PhotoMeta.taken_iso` and :attr:`PhotoMeta.camera`.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone

__all__ = ["TEXT_MAX_BYTES", "UNKNOWN_META", "PhotoMeta", "clean_text"]

TEXT_MAX_BYTES = 256  # camera make, model and lens, in UTF-8 bytes (the stored VARCHAR's limit)
# Offsets beyond the ones in use (UTC-12 .. UTC+14) are a broken header, not a place.
OFFSET_MAX_MINUTES = 14 * 60
# Dates outside these years are a broken header (``0000:00:00``, a counter run wild).
YEAR_MIN, YEAR_MAX = 1826, 9999


@dataclass(frozen=True)
class PhotoMeta:
    """What a photo's header says about when, where and with what it was taken; None/"" = unknown."""

    # Seconds since the epoch. With OffsetTimeOriginal: true UTC. Without: the wall-clock
    # time read as if it were UTC (so "taken_after=2024-05-01" means the photo's own day).
    taken: int | None = None
    taken_offset: int | None = None  # minutes east of UTC, only when the file records it
    camera_make: str = ""  # as written in EXIF (trimmed, NULs removed, <= 256 UTF-8 bytes)
    camera_model: str = ""
    lens: str = ""
    lat: float | None = None  # decimal degrees, -90..90 (out of range -> None)
    lon: float | None = None  # decimal degrees, -180..180

    @property
    def camera(self) -> str:
        """Make and model as a person says it: "Canon EOS R5", not "Canon Canon EOS R5", and
        "NIKON Z 6", not "NIKON CORPORATION NIKON Z 6" (the model already names the maker)."""
        make, model = self.camera_make, self.camera_model
        brand = make.split(" ", 1)[0].casefold()
        if brand and model.casefold().startswith(brand):
            return model
        return f"{make} {model}".strip()

    def taken_iso(self) -> str | None:
        """ISO 8601: with its offset when the file recorded one, else the photo's wall clock."""
        if self.taken is None:
            return None
        try:
            if self.taken_offset is None:
                wall = datetime.fromtimestamp(self.taken, tz=timezone.utc).replace(tzinfo=None)
                return wall.isoformat()
            zone = timezone(timedelta(minutes=self.taken_offset))
            return datetime.fromtimestamp(self.taken, tz=zone).isoformat()
        except (OverflowError, OSError, ValueError):
            return None

    def to_json(self) -> str:
        """As text, for a column of strings (the Ray import's batches)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> PhotoMeta:
        """The value :meth:`to_json` wrote (unknown for anything else)."""
        try:
            got = json.loads(text)
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in got.items() if k in known}).checked()
        except (ValueError, TypeError, AttributeError):
            return UNKNOWN_META

    def checked(self) -> PhotoMeta:
        """The same value with every field inside its limits (out of range -> unknown).

        Whoever made the value (a parser, a migration, a test), the store holds only this.
        """
        taken = self.taken if _is_int(self.taken) and _year_ok(self.taken) else None
        offset = self.taken_offset
        if not (_is_int(offset) and abs(offset) <= OFFSET_MAX_MINUTES) or taken is None:
            offset = None
        return PhotoMeta(
            taken=taken,
            taken_offset=offset,
            camera_make=clean_text(self.camera_make),
            camera_model=clean_text(self.camera_model),
            lens=clean_text(self.lens),
            lat=_degrees(self.lat, 90.0),
            lon=_degrees(self.lon, 180.0),
        )


UNKNOWN_META = PhotoMeta()


def clean_text(value: object) -> str:
    """Header text as stored: str only, control characters and NULs removed, spaces trimmed,
    at most :data:`TEXT_MAX_BYTES` UTF-8 bytes (cut at a character boundary)."""
    if not isinstance(value, str):
        return ""
    text = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cs")).strip()
    data = text.encode("utf-8", "ignore")
    if len(data) > TEXT_MAX_BYTES:
        text = data[:TEXT_MAX_BYTES].decode("utf-8", "ignore").rstrip()
    return text


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _year_ok(seconds: int) -> bool:
    try:
        year = datetime.fromtimestamp(seconds, tz=timezone.utc).year
    except (OverflowError, OSError, ValueError):
        return False
    return YEAR_MIN <= year <= YEAR_MAX


def _degrees(value: object, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and -limit <= value <= limit else None
