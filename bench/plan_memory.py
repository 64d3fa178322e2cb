"""Issue 20 item 6: the import driver's memory for the plan of a large collection, before/after.

    python bench/plan_memory.py [--records 1000000] [--backends lite server] [--old-src DIR]
                                [--rounds 1] [--copy-every 100] [--keep DIR]

A collection of N synthetic records is written straight through ``ImageStore.upsert``
(paths ``dNNNN/fNNNNNNN.jpg``, every ``--copy-every``-th record also listing a copy, a
random 8-dimensional vector: the plan never reads vectors, and a small one keeps the fill
fast), and a listing that matches it file for file. Then, in a fresh child process per
run, ``Importer.local(...).run(source, prune=True)``: the whole incremental import a watch
pass does (plan, stage, merge, the prune's count), with nothing to read, so the plan is all
it does. The source is a ``FolderSource`` whose scan yields the synthetic listing (1 million
real files would take longer to make than to plan; the folder scan is not what is measured).
The model is never loaded (the loader raises).

Each child reports its peak RSS (``ru_maxrss``), its RSS after importing clipvec and
opening the store (the floor), and the run's wall time; ``--old-src`` runs the same child
with another checkout's ``src`` (e.g. ``git archive main src | tar -x -C /tmp/old``)
alternating, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIM = 8
MODEL = "bench-plan-memory"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path

def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

from clipvec.indexing.importer import Importer
from clipvec.sources import FolderSource, FoundFile
from clipvec.store import ImageStore

uri, records, copy_every, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def listing(n, copy_every):
    for i in range(n):
        yield FoundFile(f"d{i // 1000:04d}/f{i:07d}.jpg", 1000 + i % 5000, 1.7e9 + i)
        if copy_every and i % copy_every == 0:
            yield FoundFile(f"d{i // 1000:04d}/f{i:07d}-copy.jpg", 1000 + i % 5000, 1.7e9 + i)


class Synthetic(FolderSource):
    def scan(self, skipped=None):
        return listing(records, copy_every)


def no_model():
    raise SystemExit("the model was asked for: the plan was not a no-op")


store = ImageStore(uri, model_name="@MODEL@", dim=@DIM@, timeout=600)
floor = rss_mib()
t0 = time.perf_counter()
importer = Importer.local(no_model, store, remember_skips=False)
report = importer.run(Synthetic(Path(folder)), prune=True)
seconds = time.perf_counter() - t0
after = rss_mib()
store.close()
print(json.dumps({
    "seconds": seconds, "floor_mib": floor, "after_mib": after,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "unchanged": report.unchanged, "files_read": report.files_read, "pruned": report.pruned,
    "plan_s": report.seconds.get("plan", 0.0),
}))
""".replace("@MODEL@", MODEL).replace("@DIM@", str(DIM))


def fill(uri: str, n: int, copy_every: int) -> float:
    """N records as an import would leave them for the listing above; returns seconds."""
    import numpy as np

    sys.path[:0] = [str(REPO / "src")]
    from clipvec.store import ImageRecord, ImageStore

    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    # Unverified writes (the fill is not what is measured), resumed where a killed fill stopped.
    with ImageStore(uri, model_name=MODEL, dim=DIM, timeout=600, verify_writes=False) as store:
        batch: list[ImageRecord] = []
        start = store.count() // 2000 * 2000
        for i in range(start, n):
            name = f"d{i // 1000:04d}/f{i:07d}.jpg"
            paths = (
                [name, name.replace(".jpg", "-copy.jpg")] if copy_every and i % copy_every == 0 else [name]
            )
            vector = rng.random(DIM, dtype=np.float32)
            batch.append(
                ImageRecord(f"{i:064x}", paths, 1000 + i % 5000, 1.7e9 + i, 640, 480, "JPEG", vector)
            )
            if len(batch) == 2000:
                store.upsert(batch)
                batch = []
                if i % 50_000 < 2000:
                    print(f"  fill: {i + 1} records, {time.perf_counter() - t0:.0f}s", flush=True)
        if batch:
            store.upsert(batch)
        assert store.count() == n, store.count()
    return time.perf_counter() - t0


def run_child(src: Path, uri: str, args: argparse.Namespace, folder: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "CLIPVEC_MODEL": "unused"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, uri, str(args.records), str(args.copy_every), str(folder)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="*", default=["lite"])
    parser.add_argument("--old-src", help="another checkout's src folder, run side by side")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--copy-every", type=int, default=100)
    parser.add_argument("--keep", help="a folder for the collection, kept (and reused) between runs")
    parser.add_argument(
        "--no-fill", dest="fill", action="store_false", help="a kept Lite collection is complete"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(args.keep) if args.keep else Path(tmp_s)
        tmp.mkdir(parents=True, exist_ok=True)
        folder = tmp / "images"
        folder.mkdir(exist_ok=True)
        for kind in args.backends:
            if kind == "lite":
                uri = str(tmp / f"plan{args.records}.db")
                if args.fill:
                    print(
                        f"lite: {args.records} records filled in {fill(uri, args.records, args.copy_every):.0f}s"
                    )
                runs(uri, kind, args, folder)
            else:
                sys.path[:0] = [str(REPO / "tests" / "harness")]
                from milvus_server import MilvusServer

                with MilvusServer(data_dir=tmp / f"milvus{time.monotonic_ns()}") as server:
                    print(
                        f"server: {args.records} records filled in {fill(server.uri, args.records, args.copy_every):.0f}s"
                    )
                    runs(server.uri, kind, args, folder)


def runs(uri: str, kind: str, args: argparse.Namespace, folder: Path) -> None:
    versions = [("new", REPO / "src")] + ([("old", Path(args.old_src))] if args.old_src else [])
    for _ in range(args.rounds):
        for label, src in versions:
            r = run_child(src, uri, args, folder)
            print(
                f"{kind:6s} {label}: {args.records} records, peak RSS {r['peak_mib']:.0f} MiB "
                f"(floor {r['floor_mib']:.0f}, after {r['after_mib']:.0f}), {r['seconds']:.1f}s "
                f"(plan {r['plan_s']:.1f}s), unchanged {r['unchanged']}, read {r['files_read']}, "
                f"pruned {r['pruned']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
