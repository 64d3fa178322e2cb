"""The photo filters' text forms (query string and CLI flags alike), read and written back.

``taken_after`` / ``taken_before``: an ISO date (``2024-05-01``) or date and time
(``2024-05-01T18:30``, seconds optional, ``Z`` or ``+02:00`` optional). Without an offset it
is the photo's own wall clock, as the store keeps a date without one; ``taken_after`` is
inclusive, ``taken_before`` exclusive (``taken_after=2024-05-01&taken_before=2024-05-02`` is
that day). ``camera`` / ``lens``: a part of the name, any case. ``near``: ``lat,lon,km``.
``orientation``: landscape, portrait or square. ``min_width`` / ``min_height``: pixels.
``format``: one or more of the formats clipvec reads, comma-separated (``jpeg,heic``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

from clipvec.errors import ClipvecError
from clipvec.images.formats import SUPPORTED_FORMATS
from clipvec.store.meta_filter import ORIENTATIONS, Near

FILTER_PARAMS = (
    "taken_after",
    "taken_before",
    "camera",
    "lens",
    "near",
    "orientation",
    "min_width",
    "min_height",
    "format",
)
TEXT_MAX = 256  # characters of a camera or lens name (the stored ones are <= 256 bytes)
DIMENSION_MAX = 1_000_000
NEAR_KM_MAX = 20_038.0  # half the Earth's circumference: every point is nearer
# Every format a record can have been stored with (HEIC and AVIF also where this process cannot decode them).
FORMATS = frozenset(SUPPORTED_FORMATS | {"AVIF", "HEIC"})
FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "HEIF": "HEIC"}
SORTS = ("score", "taken")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_WHEN = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.[0-9]{1,6})?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")

# What /docs.json declares for these parameters. A client or a fuzzer that follows the
# document must never be refused, and a value outside it must be refused (schemathesis checks
# both ways: tests/e2e/test_hardening.py; tests/unit/serving/test_routes.py checks each
# pattern against the parsers here, read as schemathesis' validator, jsonschema-rs, reads it).
# The parsers trim whitespace and a blank value is no filter, so the patterns allow both.
# Where the exact language is too long for a pattern (the days of each month, every spelling
# of a number) it declares a part that is always accepted: days 01-28, km 1 to 9999.x.
#
# Python's whitespace (str.isspace: what str.strip() takes off), spelled out for a pattern's
# character class: "\s" means Unicode's White_Space to jsonschema-rs and to JavaScript, which
# lacks \x1c-\x1f (serving/openapi.py declares the text bodies with it too).
BLANK_CHARS = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_BLANK = f"[{BLANK_CHARS}]"


def blank_or(core: str) -> str:
    """The pattern of a trimmed value: ``core`` or nothing, with any whitespace around it."""
    return f"^{_BLANK}*({core})?{_BLANK}*$"


def any_case(*words: str) -> str:
    """``words`` in any ASCII case (the parsers fold ASCII only: Kelvin's K is not a k)."""
    return "|".join(
        "".join(f"[{ch.lower()}{ch.upper()}]" if ch.isalpha() else re.escape(ch) for ch in word)
        for word in words
    )


def _ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else text


def _ascii_upper(text: str) -> str:
    return text.upper() if text.isascii() else text  # "tiﬀ".upper() is "TIFF"


# parse_when trims spaces only: a date with a newline is refused, a blank value is no filter.
WHEN_DOC_PATTERN = (
    r"^( *(1[89]|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?)? *"
    f"|{_BLANK}*)$"
)
_COMMA = f"{_BLANK}*,{_BLANK}*"
NEAR_DOC_PATTERN = blank_or(
    rf"-?([1-8]?[0-9](\.[0-9]{{1,6}})?|90){_COMMA}-?((1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]{{1,6}})?|180)"
    rf"{_COMMA}[1-9][0-9]{{0,3}}(\.[0-9]{{1,3}})?"
)
NAME_DOC_PATTERN = blank_or(rf"[^\x00-\x1f\x7f-\x9f]{{0,{TEXT_MAX}}}")  # no control characters
# Up to 7 digits, at most DIMENSION_MAX: any 1-6 digits, 7 with a leading zero, or the maximum.
DIMENSION_DOC_PATTERN = blank_or(rf"[0-9]{{1,6}}|0[0-9]{{6}}|{DIMENSION_MAX}")
ORIENTATION_DOC_PATTERN = blank_or(any_case(*ORIENTATIONS))
SORT_DOC_PATTERN = blank_or(any_case(*SORTS))
# One or more names, any case, comma-separated; empty items and whitespace around are allowed.
_FORMAT_NAME = f"({any_case(*sorted(FORMATS | FORMAT_ALIASES.keys()))})"
FORMATS_DOC_PATTERN = (
    f"^([{BLANK_CHARS},]*{_FORMAT_NAME}({_BLANK}*,[{BLANK_CHARS},]*{_FORMAT_NAME})*"
    f"[{BLANK_CHARS},]*|{_BLANK}*)$"
)
_DIGITS = re.compile(r"[0-9]{1,7}")


def bad_parameter(detail: str) -> ClipvecError:
    return ClipvecError(detail, code="bad_parameter")


def parse_when(name: str, text: str) -> int:
    """Seconds since the epoch as the store counts them (a time without an offset: as if UTC)."""
    found = _WHEN.fullmatch(text.strip(" "))
    try:
        if found is None:
            raise ValueError(text)
        day = datetime.strptime(found["date"], "%Y-%m-%d")
        if found["hour"] is not None:
            day = day.replace(
                hour=int(found["hour"]), minute=int(found["minute"]), second=int(found["second"] or 0)
            )
        zone = found["zone"]
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(zone)
            day -= sign * timedelta(hours=hours, minutes=minutes)  # to UTC
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 is before year 1
        raise bad_parameter(
            f"{name} must be an ISO date or date and time, e.g. {name}=2024-05-01 or 2024-05-01T18:30"
        ) from None
    return int((day.replace(tzinfo=timezone.utc) - _EPOCH).total_seconds())


def when_text(seconds: int) -> str:
    """The text form of a stored time (``parse_when`` reads it back to the same number)."""
    return (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()


def parse_name(name: str, text: str) -> str:
    """A camera or lens name part: trimmed, at most TEXT_MAX characters, no control characters."""
    text = text.strip()
    if len(text) > TEXT_MAX or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text):
        raise bad_parameter(
            f"{name} must be a name of at most {TEXT_MAX} characters, without control characters"
        )
    return text


def parse_near(text: str) -> Near:
    detail = (
        "near must be lat,lon,km: latitude -90..90, longitude -180..180 and a distance in km "
        f"above 0 and at most {NEAR_KM_MAX:g}, e.g. near=48.8566,2.3522,25"
    )
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(NUMBER.fullmatch(p) for p in parts):
        raise bad_parameter(detail)
    lat, lon, km = (float(p) for p in parts)
    if not (all(map(math.isfinite, (lat, lon, km))) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad_parameter(detail)
    if not 0 < km <= NEAR_KM_MAX:
        raise bad_parameter(detail)
    return Near(lat, lon, km)


def near_text(near: Near) -> str:
    return f"{near.lat!r},{near.lon!r},{near.km!r}"


def parse_orientation(text: str) -> str:
    value = _ascii_lower(text.strip())
    if value not in ORIENTATIONS:
        raise bad_parameter("orientation must be landscape, portrait or square")
    return value


def parse_dimension(name: str, text: str) -> int:
    text = text.strip()
    if not _DIGITS.fullmatch(text) or int(text) > DIMENSION_MAX:
        raise bad_parameter(f"{name} must be a number of pixels, plain digits up to {DIMENSION_MAX}")
    return int(text)


def parse_formats(text: str) -> tuple[str, ...]:
    names = [_ascii_upper(n.strip()) for n in text.split(",") if n.strip()]
    canonical = tuple(dict.fromkeys(FORMAT_ALIASES.get(n, n) for n in names))
    if not canonical or any(n not in FORMATS for n in canonical):
        raise bad_parameter(
            "format must be one or more of " + ", ".join(sorted(FORMATS)) + ", comma-separated"
        )
    return canonical


def parse_sort(text: str | None) -> str:
    value = _ascii_lower((text or "").strip()) or "score"  # an empty value is the default
    if value not in SORTS:
        raise bad_parameter("sort must be score (best first) or taken (oldest first, unknown dates last)")
    return value
