"""Issue 17.3/17.4 on Milvus Lite 2.5 and the real 2.3.5 server (HNSW, indexed): a filtered
search is the true top-k among the matching rows (checked against numpy brute force on 2,000
rows where each filter keeps 1%), alone and combined, ``near`` across the antimeridian;
a version-1 collection names ``clipvec migrate``; facets count what is stored."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pytest
from v1_collection import create_v1_collection

from clipvec.errors import ClipvecError
from clipvec.images.photo_meta import PhotoMeta
from clipvec.search.facets import facets_json
from clipvec.search.options import SearchFilters
from clipvec.store import ImageRecord, ImageStore
from clipvec.store.geo import haversine_km

DIM = 64
N = 2000
SUVA = (-16.5, 179.95)  # the circle of the near filter crosses the antimeridian
POOL_CAMERAS = [
    ("Canon", "Canon EOS R5"),
    ("NIKON CORPORATION", "NIKON Z 6"),
    ("Apple", "iPhone 12"),
    ("", ""),
]
POOL_LENSES = ["RF24-105mm F4 L IS USM", "NIKKOR Z 24-70mm f/4 S", "", ""]


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def offset_km(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    """A point about ``north_km``/``east_km`` away (small distances), longitude wrapped."""
    dlat = north_km / 111.195
    dlon = east_km / (111.195 * np.cos(np.radians(lat)))
    return lat + dlat, (lon + dlon + 540.0) % 360.0 - 180.0


def library(seed: int = 7) -> list[ImageRecord]:
    """2,000 records; each special group below is 20 rows (1%), the rest never match it."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = []
    for i in range(N):
        make, model = POOL_CAMERAS[i % 4]
        meta = {
            "taken": None if i % 3 == 0 else ts("2010-01-01") + int(rng.integers(0, 13 * 365 * 86400)),
            "camera_make": make,
            "camera_model": model,
            "lens": POOL_LENSES[i % 4],
            "lat": None if i % 5 == 0 else float(rng.uniform(-60, 70)),
            "lon": None if i % 5 == 0 else float(rng.uniform(-170, 170)),
        }
        (width, height), fmt = ((4000, 3000) if i % 2 else (3000, 4000)), "JPEG"
        group, k = divmod(i, 20)
        if group == 1:  # camera
            meta["camera_make"], meta["camera_model"] = (
                ("Leica", "LEICA Q2") if k % 2 else ("LEICA", "Leica Q2")
            )
        elif group == 2:  # lens
            meta["lens"] = "Summilux 28mm f/1.7 ASPH." if k % 3 else "SUMMILUX 28MM F/1.7 ASPH."
        elif group == 3:  # taken in May 2024
            meta["taken"] = ts("2024-05-01") + k * 86400
        elif group == 4:  # the 1990s (taken_before=2000-01-01)
            meta["taken"] = ts("1990-01-01") + k * 180 * 86400
        elif group == 5:  # within 30 km of SUVA, on both sides of the antimeridian
            meta["lat"], meta["lon"] = offset_km(*SUVA, (k - 10) * 2.0, (-1) ** k * (k % 10) * 2.5)
        elif group == 6:  # in the box's corners but over 30 km away: only the exact distance excludes them
            meta["lat"], meta["lon"] = offset_km(*SUVA, (-1) ** k * 27.0, (-1) ** (k // 2) * 27.0)
        elif group == 7:
            width = height = 2000
        elif group == 8:
            width, height = 6000, 1000
        elif group == 9:
            fmt = "HEIC"
        records.append(
            ImageRecord(
                content_hash=f"{i:064x}",
                paths=[f"lib/{group:03d}/{i:05d}.jpg"],
                size=1000 + i,
                mtime=1_700_000_000.0,
                width=width,
                height=height,
                format=fmt,
                vector=vectors[i],
                meta=PhotoMeta(**meta),
            )
        )
    return records


def matches(record: ImageRecord, f: SearchFilters) -> bool:
    """The filter's meaning, written independently of the compiler."""
    m = record.meta
    if f.taken_after is not None and (m.taken is None or m.taken < f.taken_after):
        return False
    if f.taken_before is not None and (m.taken is None or m.taken >= f.taken_before):
        return False
    if f.camera and f.camera.casefold() not in f"{m.camera_make} {m.camera_model}".strip().casefold():
        return False
    if f.lens and f.lens.casefold() not in m.lens.casefold():
        return False
    if f.near is not None and (
        m.lat is None or haversine_km(f.near.lat, f.near.lon, m.lat, m.lon) > f.near.km
    ):
        return False
    w, h = record.width, record.height
    if f.orientation and {"landscape": w > h, "portrait": w < h, "square": w == h}[f.orientation] is False:
        return False
    if w < f.min_width or h < f.min_height:
        return False
    return not (f.formats and record.format not in f.formats)


def brute_force(records: list[ImageRecord], query: np.ndarray, f: SearchFilters, top_k: int) -> list[str]:
    kept = [r for r in records if matches(r, f)]
    scores = np.array([float(np.dot(r.vector, query)) for r in kept])
    return [kept[i].content_hash for i in np.argsort(-scores, kind="stable")[:top_k]]


def wait_indexed(store: ImageStore, rows: int, timeout: float = 120.0) -> None:
    """On a server: seal the segments and wait until HNSW covers every row (search uses the index)."""
    if store.is_lite:
        return
    client = store._client
    client.flush(store.collection)
    deadline = time.monotonic() + timeout
    while True:
        info = client.describe_index(store.collection, client.list_indexes(store.collection)[0])
        if int(info.get("indexed_rows", 0)) >= rows and int(info.get("pending_index_rows", 0)) == 0:
            return
        assert time.monotonic() < deadline, f"index not built: {info}"
        time.sleep(0.5)


FILTERS: list[dict[str, str]] = [
    {"camera": "q2"},
    {"camera": "LEICA"},
    {"lens": "summilux"},
    {"taken_after": "2024-05-01", "taken_before": "2024-06-01"},
    {"taken_after": "2024-05-01"},
    {"taken_before": "2000-01-01"},
    {"near": f"{SUVA[0]},{SUVA[1]},30"},
    {"orientation": "square"},
    {"min_width": "5000"},
    {"min_height": "1500", "orientation": "square"},
    {"format": "heic"},
    {"camera": "eos", "orientation": "portrait", "format": "jpeg"},  # 24%: the ordinary case too
    {"camera": "q2", "orientation": "portrait"},
    {"near": "-16.5,179.95,30", "min_width": "2000"},
    {"taken_after": "2015-01-01", "taken_before": "2016-01-01", "lens": "rf24", "camera": "canon"},
]


@pytest.fixture
def filled(make_store) -> tuple[ImageStore, list[ImageRecord]]:
    records = library()
    store = make_store(dim=DIM)
    assert store.schema_version == 2
    store.upsert(records)
    wait_indexed(store, N)
    return store, records


def test_filtered_search_is_the_true_top_k(filled):
    store, records = filled
    rng = np.random.default_rng(1)
    for params in FILTERS:
        f = SearchFilters.from_query(params)
        kept = sum(matches(r, f) for r in records)
        assert kept >= 10, (params, kept)
        for top_k in (10, 30):
            query = rng.standard_normal(DIM).astype(np.float32)
            query /= np.linalg.norm(query)
            hits = store.search(query, top_k=top_k, filters=f)
            assert [h.content_hash for h in hits] == brute_force(records, query, f, top_k), (params, top_k)


def test_near_keeps_the_exact_circle_across_the_antimeridian(filled):
    store, records = filled
    f = SearchFilters.from_query({"near": f"{SUVA[0]},{SUVA[1]},30"})
    hits = store.search(records[0].vector, top_k=100, filters=f)
    assert {h.content_hash for h in hits} == {
        r.content_hash for r in records if 100 <= int(r.content_hash, 16) < 120
    }
    assert {h.meta.lon > 0 for h in hits} == {True, False}  # both sides of the antimeridian
    corners = {r.content_hash for r in records[120:140]}
    assert not corners & {h.content_hash for h in hits}
    # The box alone would keep the corners: top_k 5 still gets 5 true hits after asking for more.
    assert len(store.search(records[125].vector, top_k=5, filters=f)) == 5


def test_filters_with_prefix_exclude_and_min_score(filled):
    store, records = filled
    f = SearchFilters.from_query({"camera": "q2"})
    target = records[25]
    hits = store.search(
        target.vector, top_k=5, filters=f, path_prefix="lib/001/", exclude=target.content_hash
    )
    assert target.content_hash not in {h.content_hash for h in hits} and len(hits) == 5
    assert all(h.path.startswith("lib/001/") for h in hits)
    assert store.search(target.vector, top_k=5, filters=f, path_prefix="lib/002/") == []
    best = store.search(target.vector, top_k=5, filters=f, min_score=0.99)
    assert [h.content_hash for h in best] == [target.content_hash]


def test_a_camera_no_photo_has_finds_nothing_and_a_new_one_is_found(filled, milvus_backend, make_store):
    store, records = filled
    f = SearchFilters.from_query({"camera": "hasselblad"})
    assert store.search(records[0].vector, top_k=5, filters=f) == []
    new = ImageRecord(
        "f" * 64,
        ["new/x.jpg"],
        1,
        0.0,
        10,
        10,
        "PNG",
        records[0].vector,
        meta=PhotoMeta(camera_make="Hasselblad", camera_model="X2D 100C"),
    )
    writer = store if milvus_backend.is_lite else make_store(dim=DIM)  # a server: another client writes it
    writer.upsert([new])
    if writer is not store:
        store.expect_foreign_writes()
    assert [h.content_hash for h in store.search(records[0].vector, top_k=5, filters=f)] == ["f" * 64]


def test_facets_count_what_is_stored(filled):
    store, records = filled
    answer = facets_json(store.facets())
    assert answer["count"] == N and answer["metadata"] is True
    cameras = {c["value"]: c["count"] for c in answer["cameras"]}
    assert cameras["Leica Q2"] + cameras.get("LEICA Q2", 0) == 20  # one entry per camera, any case
    assert len([c for c in cameras if c.casefold() == "leica q2"]) == 1
    assert cameras["Canon EOS R5"] == sum(1 for r in records if r.meta.camera_model == "Canon EOS R5")
    assert answer["unknown"]["camera"] == sum(1 for r in records if not r.meta.camera_make)
    assert {f["value"]: f["count"] for f in answer["formats"]} == {"JPEG": N - 20, "HEIC": 20}
    known = [r.meta.taken for r in records if r.meta.taken is not None]
    assert answer["taken"]["known"] == len(known)
    assert answer["taken"]["first"] == "1990-01-01T00:00:00"
    assert (
        answer["taken"]["last"]
        == datetime.fromtimestamp(max(known), timezone.utc).replace(tzinfo=None).isoformat()
    )
    # each name given back as a filter finds that camera's photos
    leica = SearchFilters.from_query({"camera": next(c for c in cameras if c.casefold() == "leica q2")})
    assert len(store.search(records[0].vector, top_k=100, filters=leica)) == 20


def test_version_1_collection_names_migrate(milvus_backend, make_store):
    everything = library()
    records = everything[:40] + everything[140:160]  # a camera group and the square group
    create_v1_collection(milvus_backend.uri, milvus_backend.collection, records, dim=DIM)
    store = make_store(dim=DIM)
    assert store.schema_version == 1
    with pytest.raises(ClipvecError, match="clipvec migrate") as caught:
        store.search(records[0].vector, top_k=5, filters=SearchFilters.from_query({"camera": "leica"}))
    assert caught.value.code == "bad_parameter" and "camera" in caught.value.detail
    # width, height and format exist in version 1: those filters work
    square = SearchFilters.from_query({"orientation": "square", "format": "jpeg"})
    hits = store.search(records[0].vector, top_k=50, filters=square)
    assert sorted(h.content_hash for h in hits) == sorted(
        r.content_hash for r in records if matches(r, square)
    )
    answer = facets_json(store.facets())
    assert answer["metadata"] is False and "clipvec migrate" in answer["hint"]
    assert answer["formats"] == [{"value": "JPEG", "count": 60}]
