"""The ``near`` filter's geometry: exact distances and a lat/lon box that never cuts the circle."""

from __future__ import annotations

import math
import random

import pytest

from clipvec.store.geo import EARTH_RADIUS_KM, Box, bounding_box, haversine_km


def inside(box: Box, lat: float, lon: float) -> bool:
    if not box.lat_min <= lat <= box.lat_max:
        return False
    return not box.lon_ranges or any(low <= lon <= high for low, high in box.lon_ranges)


def destination(lat: float, lon: float, km: float, bearing: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) along ``bearing`` (radians), on the sphere."""
    d, p1, l1 = km / EARTH_RADIUS_KM, math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(bearing))
    l2 = l1 + math.atan2(
        math.sin(bearing) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    lon2 = (math.degrees(l2) + 540.0) % 360.0 - 180.0
    return math.degrees(p2), lon2


def test_haversine_known_distances():
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, abs=1.0)  # Paris-London
    assert haversine_km(0, 179.9, 0, -179.9) == pytest.approx(22.24, abs=0.05)  # across the antimeridian
    assert haversine_km(90, 0, 90, 123) == pytest.approx(0.0, abs=1e-9)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_KM)


def test_box_across_the_antimeridian_has_two_longitude_ranges():
    box = bounding_box(-16.5, 179.9, 50)
    assert len(box.lon_ranges) == 2
    assert inside(box, -16.5, -179.8) and inside(box, -16.5, 179.5)
    assert not inside(box, -16.5, 0.0) and not inside(box, -16.5, -170.0)
    west = bounding_box(10.0, -179.95, 20)
    assert inside(west, 10.0, 179.95) and inside(west, 10.0, -179.9)


def test_box_holding_a_pole_spans_every_longitude():
    box = bounding_box(89.5, 10.0, 100)
    assert box.lon_ranges == () and box.lat_max == 90.0
    assert inside(box, 89.9, -170.0)
    south = bounding_box(-89.9, 0.0, 50)
    assert south.lon_ranges == () and south.lat_min == -90.0


def test_whole_earth_and_unknown_outside():
    box = bounding_box(0, 0, 20_038)
    assert box == Box(-90.0, 90.0)
    assert not inside(bounding_box(0, 0, 20_038), 999.0, 999.0)  # the unknown sentinel is off the globe


@pytest.mark.parametrize("seed", range(6))
def test_every_point_of_the_circle_is_in_its_box(seed):
    rng = random.Random(seed)
    for _ in range(300):
        lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        if seed == 0:
            lat = rng.choice([-1, 1]) * rng.uniform(85, 90)  # near the poles
        if seed == 1:
            lon = rng.choice([-1, 1]) * rng.uniform(178, 180)  # at the antimeridian
        km = rng.choice([0.01, 1.0, 50.0, 800.0, 5000.0])
        box = bounding_box(lat, lon, km)
        for _ in range(20):
            plat, plon = destination(lat, lon, km * rng.uniform(0, 0.999999), rng.uniform(0, 2 * math.pi))
            assert inside(box, plat, plon), (lat, lon, km, plat, plon, box)


def test_box_is_tight_away_from_the_poles():
    box = bounding_box(45.0, 7.0, 100)
    ((low, high),) = box.lon_ranges
    assert box.lat_max - box.lat_min == pytest.approx(2 * math.degrees(100 / EARTH_RADIUS_KM), abs=1e-5)
    # the widest point of the circle is a little poleward of its centre's latitude
    assert high - low == pytest.approx(
        2 * math.degrees(math.asin(math.sin(100 / EARTH_RADIUS_KM) / math.cos(math.radians(45)))), abs=1e-5
    )
