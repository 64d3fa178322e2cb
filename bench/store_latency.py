"""Search latency of the vector store: Milvus Lite 2.5 vs the real Milvus 2.3.5 server.

    python bench/store_latency.py [--sizes 10000 100000] [--queries 300] [--top-k 10]
                                  [--backends lite server] [--lite3-python /tmp/lite3venv/bin/python]
                                  [--json-only]

For each backend and size: a fresh collection through ``clipvec.store.ImageStore`` (the
code the service uses, default index: FLAT on Lite, HNSW on the server), N random
L2-normalised 512-d float32 vectors upserted, then ``--queries`` searches (top-k, COSINE)
with fresh random query vectors, timed one by one around ``ImageStore.search`` (client
overhead included: what the service sees). Also: the same with a ``path_prefix`` filter,
recall@k against exact numpy search, insert rate, ``count()`` and a full ``iter_records``
pass. The server is started with ``tests/harness/milvus_server.py``; on the server the bench
flushes and waits for the HNSW index to cover every row before timing searches.

``--data clustered`` (default) has the structure of real embeddings; ``--data random`` is
the worst case for approximate indexes (HNSW recall drops, exact FLAT does not).

``--lite3-python``: also run the Lite part with another interpreter, e.g. a throwaway venv
with milvus-lite 3.x (``python -m venv /tmp/lite3venv; /tmp/lite3venv/bin/pip install
milvus-lite==3.2.2 pymilvus numpy``), to compare versions; never install it in .venv.

Prints a table and one JSON line (``--json-only``: just the line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # also for a foreign interpreter (--lite3-python)
sys.path.insert(0, str(ROOT / "tests" / "harness"))

DIM = 512


def machine_info() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions: dict[str, str] = {}
    from importlib import metadata

    for dist in ("pymilvus", "milvus-lite", "milvus", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
    }


def normalise(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def make_data(n: int, queries: int, kind: str, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Stored vectors and query vectors, L2-normalised.

    ``clustered`` (default): 1000 topics with spread around each, queries near stored
    vectors (as text/image queries land near real photos) — the structure real CLIP
    embeddings have, where approximate indexes work. ``random``: isotropic Gaussian data
    and queries, the worst case for any approximate index (true neighbours are barely
    closer than the rest).
    """
    rng = np.random.default_rng(seed)
    if kind == "random":
        return normalise(rng.standard_normal((n, DIM))), normalise(rng.standard_normal((queries, DIM)))
    centers = normalise(rng.standard_normal((1000, DIM)))
    data = normalise(centers[rng.integers(0, 1000, n)] + 0.03 * rng.standard_normal((n, DIM)))
    near = data[rng.integers(0, n, queries)]
    return data, normalise(near + 0.05 * rng.standard_normal((queries, DIM)))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def wait_for_index(store, timeout: float = 600.0) -> float:
    """Server only: seal the growing segments and wait until the index covers every row."""
    client, name = store._client, store.collection  # bench-only peek at the store's client
    t0 = time.perf_counter()
    client.flush(name)
    index_name = client.list_indexes(name, field_name="vector")[0]
    while time.perf_counter() - t0 < timeout:
        info = client.describe_index(name, index_name)
        if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) >= int(
            info.get("total_rows", 0)
        ):
            break
        time.sleep(1.0)
    return time.perf_counter() - t0


def bench_one(
    uri: str, collection: str, n: int, queries: int, top_k: int, backend: str, data: str
) -> dict[str, object]:
    from clipvec.store import ImageRecord, ImageStore

    store = ImageStore(uri, collection=collection, model_name="bench/random", dim=DIM, timeout=600)
    try:
        vectors, qv = make_data(n, queries + 20, data)
        records = [
            ImageRecord(
                content_hash=f"{i:064x}",
                paths=[f"{'a' if i % 2 else 'b'}/dir{i % 100:02d}/img{i:06d}.jpg"],
                size=100_000 + i,
                mtime=1.7e9 + i,
                width=640,
                height=480,
                format="JPEG",
                vector=vectors[i],
            )
            for i in range(n)
        ]
        t0 = time.perf_counter()
        for start in range(0, n, 10_000):  # as an importer would: a flush every 10k
            store.upsert(records[start : start + 10_000])
        insert_s = time.perf_counter() - t0
        del records
        index_wait_s = wait_for_index(store) if backend == "server" else 0.0

        t0 = time.perf_counter()
        count = store.count()
        count_ms = (time.perf_counter() - t0) * 1000

        for q in qv[:20]:  # warm-up (first searches load caches)
            store.search(q, top_k=top_k)
        lat: list[float] = []
        recall_hits = 0
        exact = np.argsort(-(qv[20:] @ vectors.T), axis=1)[:, :top_k]
        for i, q in enumerate(qv[20:]):
            t = time.perf_counter()
            hits = store.search(q, top_k=top_k)
            lat.append((time.perf_counter() - t) * 1000)
            got = {int(h.content_hash, 16) for h in hits}
            recall_hits += len(got & set(exact[i].tolist()))
        filt: list[float] = []
        for q in qv[20 : 20 + min(queries, 100)]:
            t = time.perf_counter()
            store.search(q, top_k=top_k, path_prefix="a/dir1")
            filt.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        seen = sum(1 for _ in store.iter_records(batch=1000))
        iter_s = time.perf_counter() - t0
        return {
            "backend": backend,
            "n": n,
            "data": data,
            "index": store.index_type,
            "count": count,
            "insert_rows_per_s": round(n / insert_s),
            "index_wait_s": round(index_wait_s, 1),
            "search_p50_ms": round(pct(lat, 50), 2),
            "search_p99_ms": round(pct(lat, 99), 2),
            "search_mean_ms": round(statistics.fmean(lat), 2),
            "filtered_p50_ms": round(pct(filt, 50), 2),
            "filtered_p99_ms": round(pct(filt, 99), 2),
            f"recall_at_{top_k}": round(recall_hits / (queries * top_k), 4),
            "count_ms": round(count_ms, 1),
            "iter_records_s": round(iter_s, 2),
            "iter_records_rows": seen,
        }
    finally:
        store.close()


def run_lite(sizes: list[int], queries: int, top_k: int, label: str, data: str) -> list[dict[str, object]]:
    from importlib import metadata

    version = metadata.version("milvus-lite")
    out = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-lite-") as tmp:
            row = bench_one(str(Path(tmp) / "bench.db"), "bench", n, queries, top_k, label, data)
            row["milvus_lite"] = version
            out.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--backends", nargs="*", default=["lite", "server"], choices=["lite", "server"])
    parser.add_argument("--data", default="clustered", choices=["clustered", "random"])
    parser.add_argument("--lite3-python", default=None, help="interpreter of a venv with milvus-lite 3.x")
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--worker-lite", default=None, help=argparse.SUPPRESS)  # label, internal
    args = parser.parse_args(argv)

    if args.worker_lite:  # child mode: Lite in this interpreter, JSON rows on stdout
        print(json.dumps(run_lite(args.sizes, args.queries, args.top_k, args.worker_lite, args.data)))
        return 0

    results: list[dict[str, object]] = []
    info = machine_info()
    if "lite" in args.backends:
        results += run_lite(args.sizes, args.queries, args.top_k, "lite", args.data)
    if args.lite3_python:
        child = subprocess.run(
            [args.lite3_python, __file__, "--worker-lite", "lite3", "--sizes", *map(str, args.sizes)]
            + ["--queries", str(args.queries), "--top-k", str(args.top_k), "--data", args.data],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if child.returncode == 0:
            results += json.loads(child.stdout.strip().splitlines()[-1])
        else:
            print(f"lite3 run failed (exit {child.returncode})", file=sys.stderr)
    if "server" in args.backends:
        from milvus_server import MilvusServer

        with MilvusServer() as server:
            info["server_start_s"] = round(server.start_seconds or 0, 1)
            for n in args.sizes:
                row = bench_one(server.uri, f"bench_{n}", n, args.queries, args.top_k, "server", args.data)
                row["milvus_server"] = "2.3.5"
                results.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)

    if not args.json_only:
        print(
            f"\nmachine: {info['cpu']}, {info['cores']} cores, {info['mem_gb']} GB, Python {info['python']}, "
            f"{info['versions']}"
        )
        print(
            f"{args.queries} queries, top-{args.top_k}, COSINE, 512-d {args.data} data, "
            "times around ImageStore.search\n"
        )
        head = (
            f"{'backend':<8} {'rows':>7} {'index':<6} {'p50 ms':>7} {'p99 ms':>7} {'filt p50':>8} "
            f"{'recall':>6} {'ins rows/s':>10} {'index s':>7} {'count ms':>8} {'iter s':>6}"
        )
        print(head)
        print("-" * len(head))
        for r in results:
            name = r["backend"] if r["backend"] != "lite" else f"lite{r.get('milvus_lite', '')[:3]}"
            if r["backend"] == "lite3":
                name = f"lite{r.get('milvus_lite', '')[:3]}"
            print(
                f"{name:<8} {r['n']:>7} {r['index']:<6} {r['search_p50_ms']:>7} {r['search_p99_ms']:>7} "
                f"{r['filtered_p50_ms']:>8} {r[f'recall_at_{args.top_k}']:>6} {r['insert_rows_per_s']:>10} "
                f"{r['index_wait_s']:>7} {r['count_ms']:>8} {r['iter_records_s']:>6}"
            )
    print(json.dumps({"machine": info, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
