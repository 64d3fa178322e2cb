"""Issue 17 items 3 and 4: filtered-search latency and facets at 100k records.

    python bench/facets.py [--rows 100000] [--queries 100] [--backends lite server]

For each backend a fresh collection (schema version 2) through ``ImageStore`` with ``--rows``
512-d clustered unit vectors (``store_latency.make_data``) and synthetic photo metadata: 20
cameras (one, "Leica Q2", on 1% of the rows, one, "Hasselblad X2D", on 0.01%), 10 lenses,
dates over 2000-2024 (a third unknown), places (a fifth unknown), half landscape.

Filtered search: ``--queries`` top-10 searches, timed one by one around ``ImageStore.search``,
without a filter (the baseline, same run) and with filters keeping 50%, 1% and 0.01% of the
rows; recall@10 against numpy brute force over the matching rows.

Facets: ``ImageStore.facets()`` the first time (a scan of seven scalar columns), again (kept:
one ``count(*)``), and the baseline in the same run, counting the same facets from
``iter_records()`` (every record's fields and ``paths``). On the server, the bench flushes
and waits for the HNSW index before timing. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from store_latency import ROOT, machine_info, make_data, pct, wait_for_index

sys.path.insert(0, str(ROOT / "src"))

from clipvec.images.photo_meta import PhotoMeta  # noqa: E402
from clipvec.search.options import SearchFilters  # noqa: E402
from clipvec.store import ImageRecord, ImageStore  # noqa: E402
from clipvec.store.geo import haversine_km  # noqa: E402

DIM = 512
CAMERAS = [(f"Make{i}", f"Model {i}") for i in range(18)]
LENSES = [f"Lens {i} 35mm" for i in range(10)]
Y2000, YEARS = 946684800, 24 * 365 * 86400  # random dates: 2000-01-01 to 2023-12-25
LAST_EVENING = 1735689600 - 3600  # 2024-12-31T23:00: the 0.01% rows
FILTERS = {
    "none (baseline)": {},
    "landscape (50%)": {"orientation": "landscape"},
    "camera (1%)": {"camera": "leica q2"},
    "taken (1%)": {"taken_after": "2000-01-01", "taken_before": "2000-06-07"},
    "near (~1%)": {"near": "10,20,1350"},
    "camera (0.01%)": {"camera": "hasselblad"},
    "taken (0.01%)": {"taken_after": "2024-12-31T20:00", "taken_before": "2025-01-01"},
    "none (again)": {},  # the baseline once more: the first one may run while Lite still seals segments
}


def photo_meta(i: int, rng: np.random.Generator) -> PhotoMeta:
    make, model = CAMERAS[i % len(CAMERAS)]
    if i % 100 == 1:
        make, model = "Leica", "LEICA Q2"
    if i % 10_000 == 3:
        make, model = "Hasselblad", "X2D 100C"
    taken = None if i % 3 == 0 else Y2000 + int(rng.integers(0, YEARS))
    if i % 10_000 == 5:
        taken = LAST_EVENING + int(rng.integers(0, 1800))
    place = (None, None) if i % 5 == 0 else (float(rng.uniform(-60, 70)), float(rng.uniform(-180, 180)))
    return PhotoMeta(taken, None, make, model, LENSES[i % len(LENSES)], *place)


def library(n: int, vectors: np.ndarray) -> list[ImageRecord]:
    rng = np.random.default_rng(5)
    return [
        ImageRecord(
            f"{i:064x}",
            [f"photos/{i // 1000:03d}/{i:06d}.jpg"],
            100_000 + i,
            1_700_000_000.0,
            *((4000, 3000) if i % 2 else (3000, 4000)),
            "JPEG" if i % 7 else "HEIC",
            vectors[i],
            meta=photo_meta(i, rng),
        )
        for i in range(n)
    ]


def keeps(record: ImageRecord, f: SearchFilters) -> bool:
    m = record.meta
    if f.taken_after is not None and (
        m.taken is None or not f.taken_after <= m.taken < (f.taken_before or 2**62)
    ):
        return False
    if f.camera and f.camera.casefold() not in f"{m.camera_make} {m.camera_model}".casefold():
        return False
    if f.near is not None and (
        m.lat is None or haversine_km(f.near.lat, f.near.lon, m.lat, m.lon) > f.near.km
    ):
        return False
    return not (f.orientation == "landscape" and record.width <= record.height)


def naive_facets(store: ImageStore) -> dict[str, object]:
    """The baseline: every record read back whole, the same facets counted."""
    cameras, lenses, formats, taken = Counter(), Counter(), Counter(), []
    for record in store.iter_records():
        cameras[record.meta.camera.casefold()] += 1
        lenses[record.meta.lens.casefold()] += 1
        formats[record.format] += 1
        if record.meta.taken is not None:
            taken.append(record.meta.taken)
    return {"cameras": len(cameras), "taken": (min(taken), max(taken))}


def run(backend: str, uri: str, rows: int, queries: int) -> dict[str, object]:
    data, probes = make_data(rows, queries, "clustered")
    records = library(rows, data)
    result: dict[str, object] = {"backend": backend, "rows": rows}
    with ImageStore(uri, collection="facets_bench", model_name="bench", dim=DIM, timeout=300) as store:
        started = time.perf_counter()
        store.upsert(records)
        result["insert_s"] = round(time.perf_counter() - started, 1)
        if not store.is_lite:
            result["index_s"] = round(wait_for_index(store), 1)
        searches = {}
        for name, params in FILTERS.items():
            f = SearchFilters.from_query(params)
            mask = np.array([keeps(r, f) for r in records])
            kept = np.flatnonzero(mask)
            t0 = time.perf_counter()
            for q in probes[:3]:  # warm: the first camera filter also reads the distinct keys
                store.search(q, top_k=10, filters=f or None)
            first_ms = (time.perf_counter() - t0) * 1000 / 3
            times, found = [], []
            for q in probes:  # timed alone: numpy's threads must not compete with Milvus here
                t0 = time.perf_counter()
                hits = store.search(q, top_k=10, filters=f or None)
                times.append((time.perf_counter() - t0) * 1000)
                found.append({h.content_hash for h in hits})
            recall = []
            for q, got in zip(probes, found, strict=True):
                want = {f"{i:064x}" for i in kept[np.argsort(-(data[kept] @ q))[:10]]}
                recall.append(len(want & got) / len(want) if want else float(not got))
            searches[name] = {
                "kept": round(len(kept) / rows, 5),
                "warm_up_ms": round(first_ms, 1),
                "p50_ms": round(pct(times, 50), 2),
                "p99_ms": round(pct(times, 99), 2),
                "recall": round(float(np.mean(recall)), 4),
            }
        result["search"] = searches
        store._summary.forget()  # bench-only: time the first read of this store's facets
        t0 = time.perf_counter()
        facets = store.facets()
        result["facets_first_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        store.facets()
        result["facets_kept_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        t0 = time.perf_counter()
        naive = naive_facets(store)
        result["facets_naive_s"] = round(time.perf_counter() - t0, 3)
        assert naive["taken"] == (facets.taken_first, facets.taken_last)
        result["cameras"] = len(facets.cameras)
        if not store.is_lite:
            store._client.drop_collection("facets_bench")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--backends", nargs="+", default=["lite", "server"], choices=["lite", "server"])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends:
            if backend == "lite":
                results.append(run("lite", str(Path(tmp) / "bench.db"), args.rows, args.queries))
            else:
                from milvus_server import MilvusServer

                server = MilvusServer(data_dir=Path(tmp) / "server")
                server.start()
                try:
                    results.append(run("server", server.uri, args.rows, args.queries))
                finally:
                    server.close()
    for r in results:
        print(
            f"\n{r['backend']}: {r['rows']} rows, insert {r['insert_s']} s"
            + (f", index {r['index_s']} s" if "index_s" in r else "")
        )
        print(f"  {'filter':<18} {'kept':>8} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9} {'warm-up ms':>10}")
        for name, s in r["search"].items():
            print(
                f"  {name:<18} {s['kept']:>8.2%} {s['p50_ms']:>8} {s['p99_ms']:>8} {s['recall']:>9} {s['warm_up_ms']:>10}"
            )
        print(
            f"  facets: first {r['facets_first_s']} s, kept {r['facets_kept_ms']} ms; "
            f"baseline (iter_records) {r['facets_naive_s']} s; {r['cameras']} cameras"
        )
    print(json.dumps({"machine": machine_info(), "results": results}))


if __name__ == "__main__":
    main()
