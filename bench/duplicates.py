"""Issue 17 item 6: near-duplicate grouping time and peak memory at 10k and 100k vectors.

    python bench/duplicates.py [--sizes 10000 100000] [--naive-max 10000] [--lite 10000]

Synthetic 512-d unit vectors (random, plus planted groups of 2-5 near-copies at cosine
~0.97-0.99, 1% of the rows), threshold 0.95. For each size: ``component_labels`` (blocks
of 2048 x 2048, vectorised union-find), wall time and peak traced memory (``tracemalloc``
sees numpy's buffers), and the planted groups found. Up to ``--naive-max`` rows the naive
baseline runs in the same process: the full n x n similarity matrix, thresholded, then the
same union-find. ``--lite N``: N records written to a fresh Milvus Lite file through
``ImageStore``, then ``find_duplicates(store.iter_records(with_vectors=True))`` timed as
``clipvec duplicates`` runs it (read + group).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from clipvec.search.duplicates import _union, component_labels, find_duplicates

DIM = 512
THRESHOLD = 0.95


def library(n: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """``n`` unit rows, 1% of them in planted groups; returns the rows and the planted group count."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    planted, row = 0, 0
    while row < n // 100:
        size = int(rng.integers(2, 6))
        base = vectors[row]
        for k in range(1, size):
            noise = rng.standard_normal(DIM, dtype=np.float32) * 0.006
            copy = base + noise
            vectors[row + k] = copy / np.linalg.norm(copy)
        planted += 1
        row += size
    return vectors, planted


def naive_labels(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """The baseline: the whole n x n matrix at once."""
    sims = vectors @ vectors.T
    i, j = np.nonzero(np.triu(sims >= threshold, k=1))
    return _union(np.arange(len(vectors), dtype=np.int64), i, j)


def measured(func, *args) -> tuple[object, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    result = func(*args)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def groups_of(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    return int((counts > 1).sum())


def lite_run(n: int) -> None:
    from clipvec.store import ImageRecord, ImageStore

    vectors, planted = library(n, seed=1)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ImageStore(str(Path(tmp) / "m.db"), model_name="bench", dim=DIM) as store,
    ):
        batch = 500
        for start in range(0, n, batch):
            store.upsert(
                [
                    ImageRecord(f"{i:064x}", [f"img/{i}.jpg"], 1000, 1.7e9, 640, 480, "JPEG", vectors[i])
                    for i in range(start, min(n, start + batch))
                ]
            )
        started = time.perf_counter()
        records = list(store.iter_records(with_vectors=True))
        read = time.perf_counter() - started
        found = find_duplicates(records, THRESHOLD)
        total = time.perf_counter() - started
    print(
        f"| Lite, read + group | {n:,} | {total:.1f} s (read {read:.1f} s) | - | "
        f"{len(found.groups)} of {planted} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--naive-max", type=int, default=10_000)
    parser.add_argument("--lite", type=int, default=0, help="also read N records from a real Lite file")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| method | vectors | time | peak memory | groups found of planted |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        vectors, planted = library(n)
        base = vectors.nbytes / 2**20
        labels, seconds, peak = measured(component_labels, vectors, THRESHOLD)
        print(
            f"| blocked 2048 (clipvec) | {n:,} | {seconds:.1f} s | {peak:.0f} MiB (+{base:.0f} MiB vectors) | {groups_of(labels)} of {planted} |"
        )
        if n <= args.naive_max:
            naive, seconds, peak = measured(naive_labels, vectors, THRESHOLD)
            assert np.array_equal(_flat(naive), labels), "the naive baseline found other groups"
            print(
                f"| naive n x n matrix | {n:,} | {seconds:.1f} s | {peak:.0f} MiB (+{base:.0f} MiB vectors) | {groups_of(naive)} of {planted} |"
            )
        sys.stdout.flush()
    if args.lite:
        lite_run(args.lite)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


def _flat(parent: np.ndarray) -> np.ndarray:
    while not np.array_equal(parent[parent], parent):
        parent = parent[parent]
    return parent


if __name__ == "__main__":
    raise SystemExit(main())
