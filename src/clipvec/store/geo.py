"""Distances on the Earth and the lat/lon box around a circle, for the ``near`` filter.

Milvus filters compare numbers, not distances: a ``near=lat,lon,km`` search asks Milvus for the
rows inside the circle's bounding box (:func:`bounding_box`, a superset), then keeps the hits
whose exact great-circle distance (:func:`haversine_km`) is within ``km``. The box is right at
the poles (a circle that holds one spans every longitude) and across the antimeridian (two
longitude ranges), and is widened by :data:`MARGIN_DEG` so float rounding never cuts a point
that the exact test keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
MARGIN_DEG = 1e-6  # about 0.1 m: the box is a superset, the exact test decides


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in decimal degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Box:
    """``lat_min <= lat <= lat_max`` and ``lon`` in one of ``lon_ranges`` (empty: any longitude)."""

    lat_min: float
    lat_max: float
    lon_ranges: tuple[tuple[float, float], ...] = ()


def bounding_box(lat: float, lon: float, km: float) -> Box:
    """The smallest lat/lon box that holds every point within ``km`` of (``lat``, ``lon``).

    The longitude half-width at the circle's widest is ``asin(sin r / cos lat)`` (r the
    angular radius), not ``r / cos lat``, which is too narrow far from the equator.
    """
    r = km / EARTH_RADIUS_KM
    if r >= math.pi:  # the whole Earth
        return Box(-90.0, 90.0)
    lat_min = lat - math.degrees(r) - MARGIN_DEG
    lat_max = lat + math.degrees(r) + MARGIN_DEG
    if lat_min <= -90.0 or lat_max >= 90.0:  # a pole is inside: every longitude
        return Box(max(lat_min, -90.0), min(lat_max, 90.0))
    ratio = math.sin(r) / math.cos(math.radians(lat))
    if ratio >= 1.0:  # rounding at the edge of the case above
        return Box(lat_min, lat_max)
    half = math.degrees(math.asin(ratio)) + MARGIN_DEG
    low, high = lon - half, lon + half
    if high - low >= 360.0:
        return Box(lat_min, lat_max)
    if low < -180.0:  # across the antimeridian, westwards
        return Box(lat_min, lat_max, ((low + 360.0, 180.0), (-180.0, high)))
    if high > 180.0:  # eastwards
        return Box(lat_min, lat_max, ((low, 180.0), (-180.0, high - 360.0)))
    return Box(lat_min, lat_max, ((low, high),))
