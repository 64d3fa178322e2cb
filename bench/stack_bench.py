"""The full stack (etcd + S3 + Milvus, tools/stack.sh) against the plain Milvus standalone.

    python bench/stack_bench.py [--n 10000] [--queries 200] [--images 480] [--model DIR]

Side by side in one run, on the same machine:

* ``standalone``: the Milvus 2.3.5 binary with embedded etcd and local disk
  (``tests/harness/milvus_server.py``, what the test suite uses);
* ``stack``: the same binary with external etcd and S3 storage (SeaweedFS), started by
  ``tools/stack.sh up`` from an empty data folder on free ports.

For each: start-up time (to the first successful client call), ``clipvec import`` of a
folder of small PNGs (files/s, wall time of the CLI minus the same CLI on an empty folder,
i.e. without process start and model load; the tiny random CLIP by default so that the
store's write path, not the encoder, sets the pace), and search latency at ``--n``
vectors (``bench/store_latency.py``'s code: ImageStore.search, HNSW, after flush and index
build). Prints a table and one JSON line.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "harness"))
sys.path.insert(0, str(ROOT / "bench"))

from import_process import run_import  # noqa: E402
from milvus_server import MilvusServer  # noqa: E402
from service_process import free_port  # noqa: E402
from store_latency import bench_one, machine_info  # noqa: E402


def make_folder(folder: Path, n: int) -> None:
    from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape

    folder.mkdir(parents=True, exist_ok=True)
    colors, shapes = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle")
    for i in range(n):
        draw_shape(colors[i % 4], shapes[i % 3], size=128, seed=HELD_OUT_SEED_START + 2_000_000 + i).save(
            folder / f"img_{i:04d}.png"
        )


def timed_import(uri: str, collection: str, folder: Path, model: Path) -> float:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_MILVUS_URI": uri,
        "CLIPVEC_COLLECTION": collection,
    }
    t0 = time.perf_counter()
    done = run_import(folder, env, timeout=1800)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-2000:]}")
    return seconds


def measure(kind: str, uri: str, start_s: float, args, folder: Path, empty: Path) -> dict[str, object]:
    overhead = timed_import(uri, "bench_empty", empty, args.model)
    wall = timed_import(uri, "bench_import", folder, args.model)
    row: dict[str, object] = {
        "backend": kind,
        "start_s": round(start_s, 1),
        "import_files": args.images,
        "import_wall_s": round(wall, 1),
        "import_overhead_s": round(overhead, 1),
        "import_files_per_s": round(args.images / max(wall - overhead, 1e-3), 1),
        "import_wall_files_per_s": round(args.images / wall, 2),
    }
    row.update(bench_one(uri, f"bench_{args.n}", args.n, args.queries, 10, "server", "clustered"))
    row["backend"] = kind
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def run_stack(data: Path, args, folder: Path, empty: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CLIPVEC_STACK_ETCD_PORT": str(free_port()),
        "CLIPVEC_STACK_S3_PORT": str(free_port()),
        "CLIPVEC_STACK_MILVUS_PORT": str(free_port()),
        "CLIPVEC_STACK_HEALTH_PORT": str(free_port()),
    }
    sh = ["bash", str(ROOT / "tools" / "stack.sh")]
    t0 = time.perf_counter()
    up = subprocess.run([*sh, "up", "--data", str(data)], env=env, capture_output=True, text=True)
    start_s = time.perf_counter() - t0
    try:
        if up.returncode != 0:
            raise RuntimeError(f"stack.sh up failed:\n{up.stdout}\n{up.stderr}")
        uri = f"http://127.0.0.1:{env['CLIPVEC_STACK_MILVUS_PORT']}"
        return measure("stack", uri, start_s, args, folder, empty)
    finally:
        subprocess.run([*sh, "down", "--data", str(data)], env=env, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="vectors for the search latency")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--images", type=int, default=480, help="files imported")
    parser.add_argument("--model", type=Path, default=None, help="CLIP folder (default: tiny random CLIP)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="stack-bench-") as tmp:
        tmp_path = Path(tmp)
        if args.model is None:
            from clipvec.model.factory import make_random_model

            args.model = tmp_path / "tiny-clip"
            make_random_model(args.model, size="tiny", seed=0)
        folder, empty = tmp_path / "images", tmp_path / "empty"
        make_folder(folder, args.images)
        empty.mkdir()

        results = []
        with MilvusServer(data_dir=tmp_path / "standalone") as server:
            results.append(
                measure("standalone", server.uri, server.start_seconds or 0.0, args, folder, empty)
            )
        results.append(run_stack(tmp_path / "stack", args, folder, empty))

    info = machine_info()
    print(
        f"\nmachine: {info['cpu']}, {info['cores']} cores, {info['mem_gb']} GB, load {os.getloadavg()[0]:.1f}"
    )
    head = (
        f"{'backend':<11} {'start s':>7} {'import wall s':>13} {'net files/s':>11} {'upsert rows/s':>13} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'recall':>6}"
    )
    print(head + f"   (search: {args.n} vectors, HNSW, top-10)")
    print("-" * len(head))
    for r in results:
        print(
            f"{r['backend']:<11} {r['start_s']:>7} {r['import_wall_s']:>13} {r['import_files_per_s']:>11} "
            f"{r['insert_rows_per_s']:>13} "
            f"{r['search_p50_ms']:>7} {r['search_p99_ms']:>7} {r['recall_at_10']:>6}"
        )
    print(json.dumps({"machine": info, "load_1m": os.getloadavg()[0], "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
