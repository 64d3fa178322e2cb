"""A search's filter on what a photo is (when, where, with what camera, its shape and format),
compiled into one Milvus boolean expression that the vector search itself applies.

Both backends read what is written here (checked on Lite 2.5 and a 2.3.5 server): ``and``,
``or`` and parentheses, ``in`` / ``not in`` lists of literals, comparisons of INT64, INT32
and DOUBLE fields with numbers (exponents too) and of two fields (``width > height``). Not
portable: ``like`` other than a prefix (a 2.3 server refuses ``"%eos%"`` and has no ``_``
wildcard) and ``not (...)`` (Lite: "unsupported expr proto node"). So:

* ``camera`` / ``lens`` match a casefolded substring of ``camera_key`` ("make model") or
  ``lens_key``; the store knows the distinct keys (``facets``), picks those that contain it
  and filters ``camera_key in [...]`` (exact for any characters, ``%`` and ``_`` too);
* ``near`` filters the circle's lat/lon box (:mod:`.geo`) and :attr:`Compiled.check` keeps
  the hits within the exact distance;
* ``taken_before`` also requires a known date: unknown is stored as ``TAKEN_UNKNOWN``, a
  number below every real one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, fields

from clipvec.store.filters import has_control, literal
from clipvec.store.geo import bounding_box, haversine_km
from clipvec.store.records import TAKEN_UNKNOWN, Hit

ORIENTATIONS = {"landscape": "width > height", "portrait": "width < height", "square": "width == height"}
# The terms that read the metadata columns of schema version 2 (the others: width, height, format).
META_TERMS = ("taken_after", "taken_before", "camera", "lens", "near")


@dataclass(frozen=True)
class Near:
    """Within ``km`` (great-circle) of ``lat``, ``lon`` (decimal degrees)."""

    lat: float
    lon: float
    km: float

    def holds(self, lat: float | None, lon: float | None) -> bool:
        return lat is not None and lon is not None and haversine_km(self.lat, self.lon, lat, lon) <= self.km

    def keeps(self, hit: Hit) -> bool:
        """The exact test on a hit the box let through."""
        return self.holds(hit.meta.lat, hit.meta.lon)


@dataclass(frozen=True)
class MetaFilter:
    """What the hits must be; the empty value (the default) keeps everything.

    Values are already checked (``clipvec.search.options.SearchFilters`` builds them from
    user text): dates are seconds as stored (``taken_after`` inclusive, ``taken_before``
    exclusive), texts have no control characters, formats are canonical names.
    """

    taken_after: int | None = None
    taken_before: int | None = None
    camera: str = ""  # a case-insensitive part of "make model"
    lens: str = ""  # a case-insensitive part of the lens name
    near: Near | None = None
    orientation: str = ""  # "", or a key of ORIENTATIONS
    min_width: int = 0
    min_height: int = 0
    formats: tuple[str, ...] = ()  # any of these (canonical upper-case names)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) not in (None, "", 0, ()) for f in fields(self))

    def meta_terms(self) -> list[str]:
        """The terms set here that need the metadata columns (a version-1 collection has none)."""
        return [name for name in META_TERMS if getattr(self, name) not in (None, "")]


@dataclass(frozen=True)
class Compiled:
    """A filter as Milvus applies it, and what is left to check on the hits it returns."""

    expr: str  # "" filters nothing
    check: Callable[[Hit], bool] | None = None  # None: the expression is exact
    nothing: bool = False  # no stored record can match (e.g. a camera none of them has)


def compile_filter(spec: MetaFilter, keys: Callable[[str], Collection[str]]) -> Compiled:
    """``spec`` as one expression; ``keys(field)`` gives the distinct stored ``camera_key`` /
    ``lens_key`` values (asked only when ``camera`` / ``lens`` is set)."""
    terms: list[str] = []
    if spec.taken_after is not None:
        terms.append(f"taken >= {int(spec.taken_after)}")
    if spec.taken_before is not None:
        if spec.taken_after is None:  # unknown is a number below every date: leave it out
            terms.append(f"taken > {TAKEN_UNKNOWN}")
        terms.append(f"taken < {int(spec.taken_before)}")
    for field_name, needle in (("camera_key", spec.camera), ("lens_key", spec.lens)):
        if needle:
            term = key_term(field_name, needle, keys(field_name))
            if term is None:
                return Compiled("", nothing=True)
            terms.append(term)
    check = None
    if spec.near is not None:
        terms.append(box_term(spec.near))
        check = spec.near.keeps
    if spec.orientation:
        terms.append(ORIENTATIONS[spec.orientation])
    if spec.min_width:
        terms.append(f"width >= {int(spec.min_width)}")
    if spec.min_height:
        terms.append(f"height >= {int(spec.min_height)}")
    if spec.formats:
        terms.append("format in [" + ", ".join(literal(f) for f in spec.formats) + "]")
    return Compiled(all_of(terms), check)


def key_term(field_name: str, needle: str, known: Collection[str]) -> str | None:
    """``field`` is one of the known keys that contain ``needle`` (casefolded); None: none does.

    Always ``in`` the matching keys, never ``not in`` the others: a key written after
    ``known`` was read then matches nothing, as if the search ran a moment earlier, instead
    of everything. Stored keys never hold control characters (``PhotoMeta.checked`` removes
    them), so every one has a literal.
    """
    wanted = needle.casefold()
    matching = sorted(k for k in known if k and wanted in k and not has_control(k))
    if not matching:
        return None
    return f"{field_name} in [" + ", ".join(literal(k) for k in matching) + "]"


def box_term(near: Near) -> str:
    """The circle's bounding box on ``lat`` / ``lon`` (unknown, 999, is outside every box)."""
    box = bounding_box(near.lat, near.lon, near.km)
    term = f"lat >= {box.lat_min!r} and lat <= {box.lat_max!r}"
    if box.lon_ranges:
        ranges = [f"(lon >= {low!r} and lon <= {high!r})" for low, high in box.lon_ranges]
        term += " and (" + " or ".join(ranges) + ")"
    return term


def all_of(terms: list[str]) -> str:
    """The conjunction of ``terms`` (each parenthesised; "" when there are none)."""
    terms = [t for t in terms if t]
    if len(terms) <= 1:
        return terms[0] if terms else ""
    return " and ".join(f"({t})" for t in terms)
