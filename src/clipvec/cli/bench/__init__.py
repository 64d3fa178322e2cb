"""``clipvec bench``: the original code path and ours, side by side, on the same photos.

One run, one model folder of any family clipvec supports, one set of JPEG photos (1 to 12
megapixels, built from the photos that ship with scikit-image and cached):

* **original**: what the seed did for every image, with the family's own transformers classes
  (``original.py``): ``PIL.Image.open``, the checkpoint's image processor, the family's
  ``get_image_features`` one image per call, fp32, no ``inference_mode``. It is slow, so it is
  timed on a subset; its fp32 vectors are the fidelity reference (for the images outside the
  subset the same processor and model compute it, batched), and its tokenizer + text tower
  the reference of the text queries' vectors.
* **ours**: files -> vectors through clipvec's code: threaded read + decode (JPEG draft)
  + numpy preprocessing, overlapped with batched encoding, at ``precision=auto``
  (bf16 on CPUs with native bf16) and at fp32.
* **import**: ``Importer`` into a fresh embedded Milvus Lite database, end to end.
* **text**: ``encode_texts`` latency for short single queries.

``--runtime R --precision P`` runs our row with ONNX Runtime or OpenVINO (``model/runtimes``)
beside the original path: its fidelity columns are what to check before choosing a runtime's
quantised precision for one's own checkpoint (quantisation error depends on the weights).

``--photos DIR`` with images in it measures the user's own photos, as they are (all of
them, or the first ``--images N`` by name), and ``--model FOLDER`` their own checkpoint: what
to look at before choosing a ``--precision`` (the fidelity columns). An empty or missing
``DIR`` is filled with generated photos, as the default cache folder is.

Prints a table and, last, one JSON line (``--json``/``--json-only`` print just that line).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.cli.bench.inputs import DEFAULT_CACHE, build_photos, ensure_model, size_spread, user_photos
from clipvec.cli.bench.machine import load_average, log, machine_info, rss_mb
from clipvec.cli.bench.original import OriginalPath
from clipvec.cli.bench.ours import TEXT_QUERIES, encode_files, run_import, run_ours, timed
from clipvec.cli.bench.table import format_table
from clipvec.model.chatter import silence_transformers
from clipvec.model.checkpoint import family_at_hand

__all__ = [
    "DEFAULT_CACHE",
    "build_photos",
    "encode_files",
    "ensure_model",
    "load_average",
    "machine_info",
    "main",
    "run_import",
]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="clipvec bench",
        description="Original code path vs clipvec's, on the same JPEG photos and model folder.",
    )
    p.add_argument(
        "--images", type=int, help="photos to build and encode (default 48; with your --photos: all of them)"
    )
    p.add_argument(
        "--model",
        type=Path,
        help="model folder of any supported family (default: a random CLIP ViT-B/32 in the cache)",
    )
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache folder (default .bench-cache)")
    p.add_argument(
        "--photos",
        type=Path,
        help="a folder of your own photos, used as they are (default: photos generated in CACHE/photos)",
    )
    p.add_argument("--seed", type=int, default=0, help="photo generator seed")
    p.add_argument(
        "--megapixels",
        type=float,
        nargs=2,
        default=(1.0, 12.0),
        metavar=("MIN", "MAX"),
        help="photo sizes, evenly spread (default 1 12)",
    )
    p.add_argument(
        "--original-subset", type=int, default=12, help="images timed through the original path (default 12)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = cores available)")
    p.add_argument("--decode-workers", type=int, default=0, help="decode threads (0 = max(2, threads))")
    p.add_argument("--batch-size", type=int, default=32, help="encoder batch size (default 32)")
    p.add_argument("--precision", default="auto", help="our reduced-precision run (default auto)")
    p.add_argument(
        "--runtime",
        default="torch",
        choices=["torch", "onnxruntime", "openvino"],
        help="what runs our row (default torch; others export the model once into CLIPVEC_EXPORT_CACHE)",
    )
    p.add_argument(
        "--repeat", type=int, default=3, help="timed runs of each path; the best counts (default 3)"
    )
    p.add_argument("--text-queries", type=int, default=100, help="single text queries timed (default 100)")
    p.add_argument("--skip-original", action="store_true", help="no original path (no ratio, no fidelity)")
    p.add_argument("--skip-fp32", action="store_true", help="no fp32 run of our path")
    p.add_argument("--skip-import", action="store_true", help="no Milvus import")
    p.add_argument(
        "--json-only", "--json", action="store_true", help="print only the JSON line (for scripts)"
    )
    p.add_argument("--json-out", type=Path, help="also write the JSON result to this file")
    argv = list(argv)
    if argv[:1] == ["--"]:  # ``clipvec bench -- ARGS`` passes the separator through
        argv = argv[1:]
    args = p.parse_args(argv)
    args.images_given = args.images is not None
    if args.images is None:
        args.images = 48
    return args


def fidelity_of_texts(original: OriginalPath, texts: dict[str, np.ndarray], result: dict[str, Any]) -> None:
    """Min/mean cosine of our query vectors (per precision) to the family's tokenizer + text tower."""
    reference = original.reference_texts(
        TEXT_QUERIES, padding=result["text_padding"], max_length=result["text_tokens"]
    )
    for prec, vectors in texts.items():
        cos = np.sum(vectors * reference, axis=1)
        key = "text_fidelity" if prec == result["precision"] else f"text_fidelity_{prec}"
        result[f"{key}_min_cos"] = round(float(cos.min()), 6)
        result[f"{key}_mean_cos"] = round(float(cos.mean()), 6)
    if result["precision"] == "fp32":
        result["text_fidelity_fp32_min_cos"] = result["text_fidelity_min_cos"]
        result["text_fidelity_fp32_mean_cos"] = result["text_fidelity_mean_cos"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.model is not None:  # another family: refused in one line before the photos are made
        family_at_hand(str(args.model))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    silence_transformers()  # its own progress lines say what runs; no weight-loading bars
    quiet = args.json_only
    result: dict[str, Any] = {"bench": "clipvec", "load_avg_start": load_average()}

    photos_dir = args.photos or args.cache / "photos"
    log(f"photos: {photos_dir}", quiet=quiet)
    own = user_photos(photos_dir, args.images if args.images_given else None) if args.photos else []
    if own:  # the user's photos, as they are
        paths = [path for path, _ in own]
        sizes = [size for _, size in own]
        result["photos"] = str(photos_dir)
    else:
        paths = build_photos(
            photos_dir, args.images, seed=args.seed, megapixels=tuple(args.megapixels), quiet=quiet
        )
        sizes = [tuple(int(v) for v in p.stem.rsplit("_", 1)[1].split("x")) for p in paths]
    model_dir = args.model or ensure_model(args.cache / "vit-b-32-random", quiet=quiet)
    mps = [w * h / 1e6 for w, h in sizes]

    result.update(
        images=len(paths),
        megapixels_min=round(min(mps), 2),
        megapixels_max=round(max(mps), 2),
        megapixels_mean=round(statistics.fmean(mps), 2),
    )
    texts: dict[str, np.ndarray] = {}
    runs = run_ours(args, paths, model_dir, result, quiet=quiet, texts=texts)
    gc.collect()

    # ---- the original path, in the same process after ours (its model replaces ours)
    if not args.skip_original:
        log(f"original path: {min(args.original_subset, len(paths))} images, one per call", quiet=quiet)
        original = OriginalPath(model_dir)
        result["original_processor"] = original.processor_name
        subset = size_spread(paths, mps, args.original_subset)
        original.encode_file(subset[0])  # warm-up, like ours
        ref_head, secs = timed(lambda: np.stack([original.encode_file(p) for p in subset]), args.repeat)
        result["original_img_s"] = round(len(subset) / secs, 2)
        result["original_images"] = len(subset)
        log("fp32 reference for the remaining images", quiet=quiet)
        rest = [p for p in paths if p not in set(subset)]
        by_path = dict(zip(subset, ref_head, strict=True))
        by_path.update(zip(rest, original.reference(rest), strict=True))
        reference = np.stack([by_path[p] for p in paths])
        result["original_megapixels_mean"] = round(statistics.fmean(mps[paths.index(p)] for p in subset), 2)
        result["ratio"] = round(result["ours_img_s"] / result["original_img_s"], 2)
        if "ours_fp32_img_s" in result:
            result["ratio_fp32"] = round(result["ours_fp32_img_s"] / result["original_img_s"], 2)
        for prec, vectors in runs.items():
            cos = np.sum(vectors * reference, axis=1)
            key = "fidelity" if prec == result["precision"] else f"{prec}_fidelity"
            key = {"fp32_fidelity": "fidelity_fp32"}.get(key, key)
            result[f"{key}_min_cos"] = round(float(cos.min()), 6)
            result[f"{key}_mean_cos"] = round(float(cos.mean()), 6)
        if result["precision"] == "fp32":
            result["fidelity_fp32_min_cos"] = result["fidelity_min_cos"]
            result["fidelity_fp32_mean_cos"] = result["fidelity_mean_cos"]
        fidelity_of_texts(original, texts, result)
    result["rss_peak_mb"] = round(rss_mb(), 1)
    result["load_avg_end"] = load_average()

    if not quiet:
        print(format_table(result))
    line = json.dumps(result, sort_keys=False)
    if args.json_out:
        args.json_out.write_text(line + "\n")
    print(line, flush=True)
    return 0
