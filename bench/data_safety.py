"""Issue 9's three figures: write-verification cost, no-op re-import at 100k files, import RSS.

    python bench/data_safety.py verify  [--images 400] [--rows 20000] [--backends lite server]
    python bench/data_safety.py noop    [--files 100000] [--backends lite server] [--old-src DIR]
    python bench/data_safety.py rss     [--old-src DIR]

``verify``: (a) ``clipvec.indexing.importer.Importer`` on a folder of small PNGs with the tiny random
CLIP (fast encoder: the worst case for the verification's share), verify on / off
alternating, img/s each; (b) ``ImageStore.upsert`` of random 512-d records in the
importer's batch size (256), rows/s with and without the read-back. Same process, same
backend, side by side.

``noop``: a folder of N tiny files and a collection that already lists every one of them
with its size and mtime (written straight through ``ImageStore.upsert``, so the first
import's encoding is not what is timed), then ``python -m clipvec import DIR`` as a user
runs it, wall time. A server is first left to finish indexing the fill (it would otherwise
use the CPU during the timed runs). ``--copy-every 100``: 1% of the records also list a copy
(a second path), which the import re-hashes on every run. ``--old-src`` runs the same command
with another checkout's ``src`` (the code before issue 9) side by side.

``rss``: three sparse 2 GB non-image files and 3 PNGs; the import's peak RSS
(``ru_maxrss`` of the child) with the default 200 MB limit, with the limit raised to 3 GB
(so the files are sniffed rather than skipped by size), and with ``--old-src``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests" / "harness")]

from clipvec.store import ImageRecord, ImageStore  # noqa: E402

TINY = REPO / ".test-cache" / "models" / "tiny-random-clip"


def tiny_model() -> Path:
    if not (TINY / "model.safetensors").exists():
        from clipvec.model.factory import make_random_model

        make_random_model(TINY, size="tiny", seed=0)
    return TINY


@contextlib.contextmanager
def backend(kind: str, tmp: Path):
    """(uri) of a fresh Lite file or a fresh private Milvus 2.3.5 server."""
    if kind == "lite":
        yield str(tmp / f"bench{time.monotonic_ns()}.db")
        return
    from milvus_server import MilvusServer

    with MilvusServer(data_dir=tmp / f"milvus{time.monotonic_ns()}") as server:
        yield server.uri


def pngs(folder: Path, n: int) -> None:
    from clipvec.model.shapes import draw_shape

    folder.mkdir(parents=True, exist_ok=True)
    colors, shapes = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle")
    for i in range(n):
        draw_shape(colors[i % 4], shapes[i % 3], size=96, seed=10_000_000 + i).save(folder / f"{i:05d}.png")


# ---------------------------------------------------------------------- verify
def bench_verify(args: argparse.Namespace) -> None:
    from clipvec.indexing.importer import Importer
    from clipvec.model.encoder import ClipEncoder

    encoder = ClipEncoder.load(str(tiny_model()), precision="fp32", batch_size=32)
    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "images"
        pngs(folder, args.images)
        rng = np.random.default_rng(0)
        for kind in args.backends:
            rates: dict[bool, list[float]] = {True: [], False: []}
            rows: dict[bool, list[float]] = {True: [], False: []}
            with backend(kind, tmp) as uri:  # one server (or one Lite file) for all rounds
                for n, verify in enumerate((True, False, True, False)):
                    with ImageStore(
                        uri,
                        collection=f"imp{n}",
                        model_name=encoder.name,
                        dim=encoder.dim,
                        verify_writes=verify,
                    ) as store:
                        t0 = time.perf_counter()
                        report = Importer.local(encoder, store, upsert_batch=256, remember_skips=False).run(
                            folder
                        )
                        rates[verify].append(report.imported / (time.perf_counter() - t0))
                    with ImageStore(
                        uri, collection=f"raw{n}", model_name="m", dim=512, verify_writes=verify
                    ) as store:
                        recs = [
                            ImageRecord(
                                f"k{i:07d}",
                                [f"p/{i}.jpg"],
                                1000,
                                1.0,
                                1,
                                1,
                                "JPEG",
                                rng.random(512, dtype=np.float32),
                            )
                            for i in range(args.rows)
                        ]
                        t0 = time.perf_counter()
                        for start in range(0, len(recs), 256):
                            store.upsert(recs[start : start + 256])
                        rows[verify].append(len(recs) / (time.perf_counter() - t0))
            for verify in (False, True):
                print(
                    f"verify {kind:6s} writes_verified={verify!s:5s} import "
                    f"{' / '.join(f'{r:.1f}' for r in rates[verify])} img/s ({args.images} PNGs, tiny model); "
                    f"upsert {' / '.join(f'{r:.0f}' for r in rows[verify])} rows/s ({args.rows} x 512-d, batches of 256)",
                    flush=True,
                )


# ---------------------------------------------------------------------- noop
def fill_collection(uri: str, model: str, dim: int, folder: Path, n: int, copy_every: int = 0) -> int:
    """Records for the ``n`` files of ``folder``, as an import leaves them; returns the record count.

    ``copy_every=100``: every 100th record also lists the next file as a copy of it (2 paths).
    """
    rng = np.random.default_rng(1)
    records = 0
    with ImageStore(uri, model_name=model, dim=dim, timeout=300) as store:
        batch: list[ImageRecord] = []
        for i in range(n):
            if copy_every and i % copy_every == 1:
                continue  # stored as the second path of record i - 1
            copy = copy_every and i % copy_every == 0
            names = [f"d{j // 1000:03d}/f{j:06d}.png" for j in ((i, i + 1) if copy else (i,))]
            stats = [(folder / name).stat() for name in names if (folder / name).exists()]
            names = names[: len(stats)]
            # copies are found by their bytes' hash, so those records carry the real one
            key = hashlib.sha256((folder / names[0]).read_bytes()).hexdigest() if copy else f"{i:064x}"
            vector = rng.random(dim, dtype=np.float32)
            batch.append(ImageRecord(key, names, stats[0].st_size, stats[0].st_mtime, 8, 8, "PNG", vector))
            if len(batch) == 512:
                store.upsert(batch)
                records += len(batch)
                batch = []
        if batch:
            store.upsert(batch)
            records += len(batch)
        assert store.count() == records
    return records


def settle(uri: str, model: str, dim: int, limit_s: float = 600) -> float:
    """Wait until a server has indexed every row (it builds the index in the background after
    a big write and uses most of the CPU meanwhile, which would be timed with the import)."""
    if "://" not in uri:
        return 0.0
    t0 = time.perf_counter()
    with ImageStore(uri, model_name=model, dim=dim, timeout=60) as store:
        client = store._client  # noqa: SLF001 - a benchmark looks inside
        client.flush(store.collection)  # seals the growing segments, which are then indexed
        while time.perf_counter() - t0 < limit_s:
            info = client.describe_index(store.collection, "vector")
            if (
                int(info.get("pending_index_rows", 0)) == 0
                and int(info.get("indexed_rows", 0)) >= store.count()
            ):
                break
            time.sleep(2)
    time.sleep(10)  # and the compaction that follows
    return time.perf_counter() - t0


def timed_import(folder: Path, env: dict[str, str], src: Path) -> tuple[float, int, str]:
    env = {
        **os.environ,
        **env,
        "PYTHONPATH": f"{src}:{os.environ.get('PYTHONPATH', '')}",
        "HF_HUB_OFFLINE": "1",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "clipvec", "import", str(folder), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        cwd=folder.parent,
    )
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode not in (0, 1):
        raise SystemExit(f"import failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, max(rss, before), done.stdout.strip().splitlines()[-1]


def bench_noop(args: argparse.Namespace) -> None:
    from clipvec.model.factory import make_random_model

    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        model = tmp / "vit-b-32"
        make_random_model(model, size="base", seed=0)  # the real model's size and load time
        folder = tmp / "images"
        t0 = time.perf_counter()
        for i in range(args.files):
            sub = folder / f"d{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(parents=True)
            j = i - 1 if args.copy_every and i % args.copy_every == 1 else i  # a copy of file i - 1
            (sub / f"f{i:06d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + j.to_bytes(8, "little"))
        print(f"noop: {args.files} files written in {time.perf_counter() - t0:.1f}s", flush=True)
        for kind in args.backends:
            with backend(kind, tmp) as uri:
                t0 = time.perf_counter()
                records = fill_collection(uri, str(model), 512, folder, args.files, args.copy_every)
                print(
                    f"noop {kind}: {records} records filled in {time.perf_counter() - t0:.1f}s, "
                    f"settled in {settle(uri, str(model), 512):.1f}s",
                    flush=True,
                )
                env = {"CLIPVEC_MODEL": str(model), "CLIPVEC_MILVUS_URI": uri}
                runs = [("new", REPO / "src")] + ([("old", Path(args.old_src))] if args.old_src else [])
                times: dict[str, list[float]] = {}
                for label, src in runs * args.rounds:
                    seconds, _, line = timed_import(folder, env, src)
                    times.setdefault(label, []).append(seconds)
                    print(f"noop {kind:6s} {label}: {seconds:.1f}s  | {line[:160]}", flush=True)
                for label, values in times.items():
                    print(
                        f"noop {kind:6s} {label}: median {statistics.median(values):.1f}s of {values}",
                        flush=True,
                    )


# ---------------------------------------------------------------------- rss
def bench_rss(args: argparse.Namespace) -> None:
    model = tiny_model()
    with tempfile.TemporaryDirectory(prefix="clipvec-bench-") as tmp_s:
        tmp = Path(tmp_s)
        folder = tmp / "images"
        pngs(folder, 3)
        for i in range(3):
            with open(folder / f"video{i}.mkv", "wb") as f:  # sparse: no disk used
                f.write(b"\x1aE\xdf\xa3")
                f.truncate(2 << 30)
        cases = [("new, default limit (200 MB)", REPO / "src", {})]
        cases.append(
            (
                "new, CLIPVEC_MAX_FILE_BYTES=3 GB (sniffed)",
                REPO / "src",
                {"CLIPVEC_MAX_FILE_BYTES": str(3 << 30)},
            )
        )
        if args.old_src:
            cases.append(("old code", Path(args.old_src), {}))
        for label, src, extra in cases:
            env = {
                "CLIPVEC_MODEL": str(model),
                "CLIPVEC_MILVUS_URI": str(tmp / f"rss{time.monotonic_ns()}.db"),
                **extra,
            }
            # each case in its own child so ru_maxrss is that import's alone
            code = (
                "import resource,subprocess,sys;"
                "subprocess.run(sys.argv[1:],capture_output=True);"
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
            )
            env_all = {
                **os.environ,
                **env,
                "PYTHONPATH": f"{src}:{os.environ.get('PYTHONPATH', '')}",
                "HF_HUB_OFFLINE": "1",
            }
            t0 = time.perf_counter()
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    code,
                    sys.executable,
                    "-m",
                    "clipvec",
                    "import",
                    str(folder),
                    "--no-progress",
                ],
                env=env_all,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - t0
            print(
                f"rss {label}: peak RSS {int(out.stdout.strip()) / 1024:.0f} MiB, {seconds:.1f}s", flush=True
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("verify")
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--backends", nargs="*", default=["lite", "server"])
    p = sub.add_parser("noop")
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--backends", nargs="*", default=["lite", "server"])
    p.add_argument("--rounds", type=int, default=2, help="timed runs of each code version, alternating")
    p.add_argument("--copy-every", type=int, default=0, help="every Nth record lists the next file as a copy")
    p.add_argument("--old-src", help="another checkout's src folder, run side by side")
    p = sub.add_parser("rss")
    p.add_argument("--old-src", help="another checkout's src folder, run side by side")
    args = parser.parse_args()
    {"verify": bench_verify, "noop": bench_noop, "rss": bench_rss}[args.what](args)


if __name__ == "__main__":
    main()
