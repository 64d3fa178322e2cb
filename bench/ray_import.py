"""Local import against Ray import with 1 and 2 nodes, on the same photos, in one run (issue 12).

    python bench/ray_import.py [--images 240] [--warmup 16] [--model FOLDER] [--json-only]

1. the same JPEG photos as the other benchmarks (``build_photos``: 1-12 MP mosaics of
   real photos), a random-weight full-size ViT-B/32 (the real model's speed), auto
   precision;
2. one real Milvus 2.3.5 server (``tests/harness/milvus_server.py``), a fresh collection per run;
3. three configurations, each run as users run it (``clipvec import FOLDER [--ray ADDR]``
   in a child process, wall clock): the local importer; Ray with one node of 2 CPUs; Ray
   with two nodes of 1 CPU (``tests/harness/ray_cluster.py``: separate ``ray start`` raylets);
4. each configuration imports ``--warmup`` photos, then all of them, into fresh
   collections. The headline rate is images / wall time of the full run (start-up
   included). The *steady rate* (images - warmup) / (T_all - T_warmup) would take the
   fixed start-up out, but only when the machine is quiet: under other people's load the
   warm-up run can take longer than the full one, and it is then reported as n/a.

Overhead per image = 1/rate_ray - 1/rate_local (wall rates). Prints a markdown table and
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from clipvec.cli.bench import DEFAULT_CACHE, build_photos, ensure_model, load_average, machine_info

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "harness"))  # the same Milvus and Ray launchers the tests use
from milvus_server import MilvusServer  # noqa: E402
from ray_cluster import RayCluster, ray_env  # noqa: E402


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def timed_import(folder: Path, env: dict[str, str], ray: str | None) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "clipvec", "import", str(folder), "--no-progress"]
    if ray:
        cmd += ["--ray", ray]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return seconds, out.stdout.strip().splitlines()[-1]


def measure(
    name: str,
    folders: tuple[Path, Path],
    n: tuple[int, int],
    base_env: dict[str, str],
    ray: str | None,
    quiet: bool,
) -> dict[str, Any]:
    small, full = folders
    t_small, _ = timed_import(small, {**base_env, "CLIPVEC_COLLECTION": f"bench_{name}_warm"}, ray)
    t_full, summary = timed_import(full, {**base_env, "CLIPVEC_COLLECTION": f"bench_{name}_all"}, ray)
    if f"imported {n[1]}," not in summary:
        raise RuntimeError(f"{name}: unexpected summary {summary}")
    # Under a noisy load the warm-up can take longer than the full run: then there is no steady rate.
    steady = (n[1] - n[0]) / (t_full - t_small) if t_full > t_small else None
    result = {
        "config": name,
        "images": n[1],
        "wall_s": round(t_full, 2),
        "warmup_wall_s": round(t_small, 2),
        "end_to_end_files_s": round(n[1] / t_full, 2),
        "steady_files_s": round(steady, 2) if steady else None,
        "startup_s": round(t_small - n[0] / steady, 2) if steady else None,
        "summary": summary,
    }
    log(f"{name}: {result}", quiet)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--warmup", type=int, default=16)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    quiet = args.json_only

    photos = build_photos(args.cache / "photos", args.images, quiet=quiet)
    model = args.model or ensure_model(args.cache / "vit-b-32-random", quiet=quiet)
    work = Path(tempfile.mkdtemp(prefix="clipvec-raybench-"))
    small, full = work / "small", work / "all"
    small.mkdir()
    full.mkdir()
    for i, path in enumerate(photos):
        os.symlink(path.resolve(), full / path.name)
        if i < args.warmup:
            os.symlink(path.resolve(), small / path.name)
    load_before = load_average()
    results: list[dict[str, Any]] = []
    server = MilvusServer(data_dir=work / "milvus")
    server.start()
    try:
        env = {
            **ray_env(dict(os.environ)),  # the clusters' token
            "HF_HUB_OFFLINE": "1",
            "CLIPVEC_MODEL": str(model),
            "CLIPVEC_MILVUS_URI": server.uri,
        }
        counts = (args.warmup, args.images)
        results.append(measure("local", (small, full), counts, env, None, quiet))
        for nodes, cpus in ((1, 2), (2, 1)):
            with RayCluster(nodes=nodes, cpus_per_node=cpus, log_dir=work) as cluster:
                name = f"ray_{nodes}node{'s' if nodes > 1 else ''}_{cpus}cpu"
                results.append(measure(name, (small, full), counts, env, cluster.address, quiet))
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)

    local = results[0]["end_to_end_files_s"]
    for r in results:  # end to end: start-up included, the same photos, the same run
        r["vs_local"] = round(r["end_to_end_files_s"] / local, 3)
        r["overhead_ms_per_image"] = round(1000 / r["end_to_end_files_s"] - 1000 / local, 1)
    report = {
        "machine": machine_info(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "results": results,
    }
    if not quiet:
        print(format_table(report))
    print(json.dumps(report))
    return 0


def format_table(report: dict[str, Any]) -> str:
    lines = [
        "| import | files/s (wall, start-up included) | vs local | overhead per image vs local | warm-up run | steady files/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        steady = (
            f"{r['steady_files_s']:.2f}" if r["steady_files_s"] else "n/a (warm-up slower than the full run)"
        )
        lines.append(
            f"| {r['config']} | {r['end_to_end_files_s']:.2f} ({r['wall_s']:.1f} s) | {100 * r['vs_local']:.0f}% | "
            f"{r['overhead_ms_per_image']:+.0f} ms | {r['warmup_wall_s']:.1f} s | {steady} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
