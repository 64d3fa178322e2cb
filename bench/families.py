"""Issue 18.6: speed, memory and fidelity per model family, one run, random weights at real sizes.

Builds a random-weight checkpoint of each family at its released architecture
(``clipvec make-model --family F --size full``) into a cache folder outside the repo, runs
``clipvec bench --model FOLDER`` on each (its own process: its peak RSS is that model's), and
prints a markdown table. The checkpoints (up to ~1.5 GB each) are deleted at the end unless
``--keep``; the photos stay in the cache for the next run.

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python bench/families.py --images 32

Random weights have the real architecture's speed and memory, not its meaning: fidelity is
clipvec's vectors against the family's own transformers path on the same weights, which is
what a wrong preprocessing or padding would ruin.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# (what make-model calls it, its size, what it stands for)
MODELS = {
    "clip": ("clip", "base", "CLIP ViT-B/32 (openai/clip-vit-base-patch32)"),
    "siglip": ("siglip", "full", "SigLIP base patch16-224 (google/siglip-base-patch16-224)"),
    "siglip2": ("siglip2", "full", "SigLIP 2 base patch16-224 (google/siglip2-base-patch16-224)"),
    "metaclip_2": ("metaclip_2", "full", "MetaCLIP 2 ViT-S/16 (facebook/metaclip-2-worldwide-s16)"),
    "chinese_clip": ("chinese_clip", "full", "Chinese-CLIP ViT-B/16 (OFA-Sys/chinese-clip-vit-base-patch16)"),
    "altclip": ("altclip", "full", "AltCLIP ViT-L/14 (BAAI/AltCLIP)"),
}
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clipvec-bench-families"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["clip", "siglip", "siglip2", "metaclip_2"], choices=MODELS)
    p.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help=f"outside the repo (default {DEFAULT_CACHE})"
    )
    p.add_argument("--images", type=int, default=32)
    p.add_argument("--megapixels", type=float, nargs=2, default=(1.0, 4.0))
    p.add_argument("--original-subset", type=int, default=4)
    p.add_argument("--text-queries", type=int, default=30)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the checkpoints (default: deleted at the end)")
    p.add_argument(
        "--from-json", type=Path, help="print the table of a past run's families.json, run nothing"
    )
    return p.parse_args()


def run(cmd: list[str]) -> None:
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def bench_one(args: argparse.Namespace, key: str) -> dict[str, Any]:
    family, size, _ = MODELS[key]
    folder = args.cache / "models" / f"{key}-{size}"
    if not (folder / "config.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        run([sys.executable, "-m", "clipvec", "make-model", "--family", family, "--size", size, str(folder)])
    out = args.cache / f"{key}.json"
    cmd = [sys.executable, "-m", "clipvec", "bench", "--model", str(folder), "--cache", str(args.cache)]
    cmd += ["--images", str(args.images), "--megapixels", *map(str, args.megapixels)]
    cmd += ["--original-subset", str(args.original_subset), "--text-queries", str(args.text_queries)]
    cmd += ["--repeat", str(args.repeat), "--threads", str(args.threads), "--precision", "bf16"]
    cmd += ["--skip-import", "--json-only", "--json-out", str(out)]
    t0 = time.perf_counter()
    run(cmd)
    result = json.loads(out.read_text())
    result["bench_seconds"] = round(time.perf_counter() - t0, 1)
    result["key"] = key
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    def cos(r: dict[str, Any], key: str) -> str:
        lo, mean = r.get(f"{key}_min_cos"), r.get(f"{key}_mean_cos")
        return "-" if lo is None else f"{lo:.6f} / {mean:.6f}"

    head = (
        "| model (random weights, real size) | family | img/s bf16 | img/s fp32 | img/s reference | "
        "text p50 ms (bf16) | peak RSS MiB (ours / +reference) | image cos bf16 min / mean | "
        "image cos fp32 min / mean | text cos bf16 min / mean | text cos fp32 min / mean | load avg |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        lines.append(
            f"| {MODELS[r['key']][2]} | {r['family']} | {r['ours_img_s']} | {r.get('ours_fp32_img_s', '-')} | "
            f"{r.get('original_img_s', '-')} | {r['text_p50_ms']} | "
            f"{r['rss_ours_mb']:.0f} / {r['rss_peak_mb']:.0f} | {cos(r, 'fidelity')} | "
            f"{cos(r, 'fidelity_fp32')} | {cos(r, 'text_fidelity')} | {cos(r, 'text_fidelity_fp32')} | "
            f"{r['load_avg_start']} -> {r['load_avg_end']} |"
        )
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        results = []
        for key in args.models:
            results.append(bench_one(args, key))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
        (args.cache / "families.json").write_text(json.dumps(results, indent=1) + "\n")
    first, last = results[0], results[-1]
    print(
        f"machine: {first['cpu']}, {first['cores']} cores, {first['ram_gb']} GB RAM; torch {first['torch']}, "
        f"{first['torch_threads']} threads; {first['images']} JPEGs {first['megapixels_min']}-"
        f"{first['megapixels_max']} MP; reference timed on {first.get('original_images', '-')} of them; "
        f"load avg {first['load_avg_start']} -> {last['load_avg_end']}\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
