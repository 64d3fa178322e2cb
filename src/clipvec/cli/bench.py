"""``clipvec bench``: the original code path and ours, side by side, on the same photos.

One run, one model folder, one set of JPEG photos (1 to 12 megapixels, built from the
photos that ship with scikit-image and cached):

* **original**: what the seed did for every image: ``PIL.Image.open``, ``CLIPProcessor``,
  ``model.get_image_features`` one image per call, fp32, no ``inference_mode``. It is
  slow, so it is timed on a subset; its fp32 vectors are the fidelity reference (for the
  images outside the subset the same processor and model compute it, batched).
* **ours**: files -> vectors through clipvec's code: threaded read + decode (JPEG draft)
  + numpy preprocessing, overlapped with batched encoding, at ``precision=auto``
  (bf16 on CPUs with native bf16) and at fp32.
* **import**: ``Importer`` into a fresh embedded Milvus Lite database, end to end.
* **text**: ``encode_texts`` latency for short single queries.

Prints a table and, last, one JSON line (``--json-only`` prints just that line).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CACHE = Path(".bench-cache")
PHOTO_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
NOISE_SIGMA = 5.0  # sensor-like noise: brings the JPEGs to ~0.25 bytes/pixel, like phone photos
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (2, 3), (9, 16))
TEXT_QUERIES = (
    "a photo of a cat",
    "a dog",
    "red car",
    "a rocket on the launch pad",
    "cup of coffee on a table",
    "astronaut in a white suit",
    "sunset over the sea",
    "a bowl of fruit",
    "two people walking in a park",
    "the night sky full of stars",
    "microscope image of tissue",
    "a city street at night",
)


# ---------------------------------------------------------------------- small helpers
def log(msg: str, *, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo", encoding="utf-8") as f:
        ram_gb = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {"cpu": model, "cores": cores, "ram_gb": ram_gb, "python": platform.python_version()}


# ---------------------------------------------------------------------- inputs
def build_photos(
    folder: Path,
    count: int,
    *,
    seed: int = 0,
    megapixels: tuple[float, float] = (1.0, 12.0),
    quiet: bool = False,
) -> list[Path]:
    """``count`` JPEG photos of 1 to 12 megapixels (cached): mosaics of real photos + sensor noise.

    scikit-image's photos are small, so each output tiles 1 to 3 x 1 to 3 random crops of
    them (flipped, tinted), upscaled to the target size, with mild Gaussian noise so that
    the JPEG (quality 90, 4:2:0) carries about as much entropy as a camera photo.
    """
    from PIL import Image
    from skimage import data as skdata

    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder.parent / ".gitignore"
    if folder.parent.name.startswith(".bench") and not ignore.exists():
        ignore.write_text("*\n")  # keep the cache out of git without touching the repo's .gitignore
    rng = np.random.default_rng(seed)
    # Even spread of sizes over [1, 12] MP, shuffled: every run with the same count sees the same mix.
    sizes = np.linspace(*megapixels, count) if count > 1 else np.array([sum(megapixels) / 2])
    rng.shuffle(sizes)
    sources: list[Image.Image] | None = None
    paths: list[Path] = []
    for i, mp in enumerate(sizes):
        aw, ah = ASPECTS[int(rng.integers(len(ASPECTS)))]
        height = int(round((mp * 1e6 * ah / aw) ** 0.5))
        width = int(round(height * aw / ah))
        path = folder / f"photo_{seed}_{i:04d}_{width}x{height}.jpg"
        tiles_x, tiles_y = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        tile_picks = [
            (int(rng.integers(len(PHOTO_SOURCES))), rng.random(4), bool(rng.integers(2)), rng.random(3))
            for _ in range(tiles_x * tiles_y)
        ]
        noise_seed = int(rng.integers(1 << 31))
        paths.append(path)
        if path.exists():
            continue
        if sources is None:
            sources = [Image.fromarray(getattr(skdata, name)()[..., :3]) for name in PHOTO_SOURCES]
        canvas = Image.new("RGB", (width, height))
        for t, (src_i, crop_r, flip, tint) in enumerate(tile_picks):
            tx, ty = t % tiles_x, t // tiles_x
            box = (tx * width // tiles_x, ty * height // tiles_y)
            size = ((tx + 1) * width // tiles_x - box[0], (ty + 1) * height // tiles_y - box[1])
            src = sources[src_i]
            cw = max(16, int(src.width * (0.5 + 0.5 * crop_r[0])))
            ch = max(16, int(src.height * (0.5 + 0.5 * crop_r[1])))
            left = int((src.width - cw) * crop_r[2])
            top = int((src.height - ch) * crop_r[3])
            tile = src.crop((left, top, left + cw, top + ch))
            if flip:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            tile = tile.resize(size, Image.Resampling.BICUBIC)
            gains = (0.85 + 0.3 * tint).astype(np.float32)
            arr = np.asarray(tile, dtype=np.float32) * gains
            canvas.paste(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), box)
        arr = np.asarray(canvas, dtype=np.float32)
        noise = np.random.default_rng(noise_seed).standard_normal(arr.shape, dtype=np.float32)
        arr += noise * NOISE_SIGMA
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
        tmp = path.with_suffix(".part")
        img.save(tmp, format="JPEG", quality=90)
        tmp.rename(path)
        log(f"  photo {i + 1}/{count}: {width}x{height} ({mp:.1f} MP)", quiet=quiet)
    return paths


def ensure_model(folder: Path, *, quiet: bool = False) -> Path:
    """A random-weight full-size ViT-B/32 folder, written once."""
    if (folder / "model.safetensors").exists():
        return folder
    from clipvec.model.factory import make_random_model

    log(f"writing a random-weight ViT-B/32 to {folder} (once)", quiet=quiet)
    tmp = folder.with_name(folder.name + ".partial")
    make_random_model(tmp, "base")
    tmp.rename(folder)
    return folder


# ---------------------------------------------------------------------- the original path
class OriginalPath:
    """The seed's code: CLIPProcessor + CLIPModel, one image per call, fp32, autograd on."""

    def __init__(self, model_dir: Path) -> None:
        from transformers import CLIPModel, CLIPProcessor

        self.model = CLIPModel.from_pretrained(str(model_dir))
        self.processor = CLIPProcessor.from_pretrained(str(model_dir))

    def encode_file(self, path: Path) -> np.ndarray:
        from PIL import Image

        image = Image.open(path)
        inputs = self.processor(images=image, return_tensors="pt")
        features = self.model.get_image_features(**inputs)
        features = getattr(features, "pooler_output", features)  # transformers 5: an output object
        vec = features.detach().float().numpy()[0]
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    def reference(self, paths: Sequence[Path], batch: int = 16) -> np.ndarray:
        """The same processor and fp32 model, batched without autograd (same vectors, faster)."""
        import torch
        from PIL import Image

        out = []
        for start in range(0, len(paths), batch):
            images = [Image.open(p) for p in paths[start : start + batch]]
            inputs = self.processor(images=images, return_tensors="pt")
            with torch.inference_mode():
                features = self.model.get_image_features(**inputs)
            features = getattr(features, "pooler_output", features).float()
            out.append((features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).numpy())
        return np.concatenate(out) if out else np.empty((0, 512), dtype=np.float32)


# ---------------------------------------------------------------------- our path
def encode_files(
    encoder: Any,
    paths: Sequence[Path],
    *,
    decode_workers: int,
    max_pixels: int = 100_000_000,
) -> np.ndarray:
    """Files -> unit vectors: threaded read + decode + preprocess, overlapped with batched encoding.

    The same stages as the importer and the service: ``prepare_image`` (sniff, header size
    check, JPEG draft, EXIF, numpy preprocessing) in ``decode_workers`` threads with a
    bounded look-ahead, while the calling thread encodes full batches.
    """
    from clipvec.images.prepare import prepare_image

    pre = encoder.preprocessor
    batch_size = encoder.batch_size
    out = np.empty((len(paths), encoder.dim), dtype=np.float32)

    def prepare(path: Path) -> np.ndarray:
        return prepare_image(path.read_bytes(), pre, max_pixels=max_pixels).pixels

    buf = np.empty((batch_size, 3, pre.crop_height, pre.crop_width), dtype=np.float32)
    with ThreadPoolExecutor(max(1, decode_workers), thread_name_prefix="bench-decode") as pool:
        pending = iter(paths)
        inflight: deque[Future[np.ndarray]] = deque()
        window = max(2 * batch_size, 4 * decode_workers)

        def top_up() -> None:
            while len(inflight) < window:
                nxt = next(pending, None)
                if nxt is None:
                    return
                inflight.append(pool.submit(prepare, nxt))

        top_up()
        done = filled = 0
        while inflight:
            buf[filled] = inflight.popleft().result()
            filled += 1
            top_up()
            if filled == batch_size or not inflight:
                out[done : done + filled] = encoder.encode_pixels(buf[:filled])
                done += filled
                filled = 0
    return out


def size_spread(paths: Sequence[Path], megapixels: Sequence[float], count: int) -> list[Path]:
    """``count`` of ``paths`` evenly spread over the size range (same size mix as the whole set)."""
    order = sorted(range(len(paths)), key=lambda i: megapixels[i])
    count = max(1, min(count, len(paths)))
    picks = sorted({order[round(k * (len(order) - 1) / max(1, count - 1))] for k in range(count)})
    return [paths[i] for i in picks]


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """Best of ``repeat`` wall-clock runs (the other engineers' load only ever slows a run down)."""
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def text_latencies(encoder: Any, queries: int) -> list[float]:
    for q in TEXT_QUERIES[:3]:  # warm-up
        encoder.encode_texts([q])
    times = []
    for i in range(queries):
        q = TEXT_QUERIES[i % len(TEXT_QUERIES)]
        t0 = time.perf_counter()
        encoder.encode_texts([q])
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


@dataclass
class ImportResult:
    files: int
    seconds: float
    open_seconds: float
    stages: dict[str, float]
    failed: int


def run_import(encoder: Any, paths: Sequence[Path], *, decode_workers: int, workdir: Path) -> ImportResult:
    """The real Importer, from a folder holding exactly ``paths``, into a fresh Milvus Lite db."""
    import shutil

    from clipvec.indexing.importer import Importer
    from clipvec.settings import Settings
    from clipvec.store import ImageStore

    workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="import-", dir=workdir) as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for path in paths:  # hard links: same bytes, no copy (a copy where links are impossible)
            try:
                os.link(path, folder / path.name)
            except OSError:
                shutil.copyfile(path, folder / path.name)
        settings = Settings(milvus_uri=str(Path(tmp) / "bench.db"), collection="bench")
        t0 = time.perf_counter()
        store = ImageStore.from_settings(settings, model_name=encoder.name, dim=encoder.dim)
        opened = time.perf_counter() - t0
        try:
            importer = Importer.local(
                encoder, store, decode_workers=decode_workers, batch_size=encoder.batch_size
            )
            t0 = time.perf_counter()
            report = importer.run(folder.resolve())
            seconds = time.perf_counter() - t0
        finally:
            store.close()
    return ImportResult(
        files=report.imported,
        seconds=seconds,
        open_seconds=opened,
        stages={k: round(v, 2) for k, v in report.seconds.items()},
        failed=len(report.failed),
    )


def run_ours(
    args: argparse.Namespace, paths: list[Path], model_dir: Path, result: dict[str, Any], *, quiet: bool
) -> dict[str, np.ndarray]:
    """Our path at the auto precision and fp32, text latency and the import; fills ``result``."""
    import torch

    from clipvec.model.encoder import ClipEncoder
    from clipvec.settings import Settings

    threads = args.threads or Settings().resolved_threads()
    workers = args.decode_workers or max(2, threads)
    encoder = ClipEncoder.load(
        str(model_dir), precision=args.precision, threads=threads, batch_size=args.batch_size
    )
    result.update(
        machine_info(),
        torch=torch.__version__,
        model=str(model_dir),
        torch_threads=torch.get_num_threads(),
        decode_workers=workers,
        batch_size=args.batch_size,
        precision=encoder.precision,
    )
    pre = encoder.preprocessor
    warm = np.zeros((args.batch_size, 3, pre.crop_height, pre.crop_width), np.float32)

    # oneDNN builds its kernels on the first call of each shape: warm up, then time.
    log(f"ours ({encoder.precision}): {len(paths)} images, best of {args.repeat}", quiet=quiet)
    encode_files(encoder, paths[: min(len(paths), 4)], decode_workers=workers)
    encoder.encode_pixels(warm)
    ours, secs = timed(lambda: encode_files(encoder, paths, decode_workers=workers), args.repeat)
    result["ours_img_s"] = round(len(paths) / secs, 2)
    runs: dict[str, np.ndarray] = {encoder.precision: ours}

    log("text queries", quiet=quiet)
    lat = text_latencies(encoder, args.text_queries)
    result["text_p50_ms"] = round(percentile(lat, 50), 2)
    result["text_p99_ms"] = round(percentile(lat, 99), 2)

    result["import_files_s"] = None
    if not args.skip_import:
        log("import into Milvus Lite", quiet=quiet)
        try:
            imp = run_import(encoder, paths, decode_workers=workers, workdir=args.cache)
        except Exception as exc:  # noqa: BLE001 - reported in the result; the other rows still count
            result["import_error"] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            result["import_files_s"] = round(imp.files / imp.seconds, 2) if imp.seconds else None
            result["import_files"] = imp.files
            result["import_failed"] = imp.failed
            result["import_seconds"] = round(imp.seconds, 2)
            result["import_store_open_s"] = round(imp.open_seconds, 2)
            result["import_e2e_files_s"] = round(imp.files / (imp.seconds + imp.open_seconds), 2)
            result["import_stages_s"] = imp.stages
    result["rss_ours_mb"] = round(rss_mb(), 1)

    # The fp32 row loads its own model (a bf16 encoder keeps its matmul weights in bf16):
    # drop this one first so that the two never share memory.
    encoder = None
    gc.collect()
    if result["precision"] == "fp32":
        result["ours_fp32_img_s"] = result["ours_img_s"]
    elif not args.skip_fp32:
        log("ours (fp32)", quiet=quiet)
        fp32 = ClipEncoder.load(str(model_dir), precision="fp32", threads=threads, batch_size=args.batch_size)
        encode_files(fp32, paths[: min(len(paths), 4)], decode_workers=workers)
        fp32.encode_pixels(warm)
        runs["fp32"], secs = timed(lambda: encode_files(fp32, paths, decode_workers=workers), args.repeat)
        result["ours_fp32_img_s"] = round(len(paths) / secs, 2)
    return runs


# ---------------------------------------------------------------------- the run
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="clipvec bench",
        description="Original code path vs clipvec's, on the same JPEG photos and model folder.",
    )
    p.add_argument("--images", type=int, default=48, help="photos to build and encode (default 48)")
    p.add_argument("--model", type=Path, help="CLIP model folder (default: a random ViT-B/32 in the cache)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache folder (default .bench-cache)")
    p.add_argument("--photos", type=Path, help="photo folder (default CACHE/photos)")
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
        "--repeat", type=int, default=3, help="timed runs of each path; the best counts (default 3)"
    )
    p.add_argument("--text-queries", type=int, default=100, help="single text queries timed (default 100)")
    p.add_argument("--skip-original", action="store_true", help="no original path (no ratio, no fidelity)")
    p.add_argument("--skip-fp32", action="store_true", help="no fp32 run of our path")
    p.add_argument("--skip-import", action="store_true", help="no Milvus import")
    p.add_argument("--json-only", action="store_true", help="print only the JSON line")
    p.add_argument("--json-out", type=Path, help="also write the JSON result to this file")
    argv = list(argv)
    if argv[:1] == ["--"]:  # ``clipvec bench -- ARGS`` passes the separator through
        argv = argv[1:]
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    quiet = args.json_only
    result: dict[str, Any] = {"bench": "clipvec", "load_avg_start": load_average()}

    photos_dir = args.photos or args.cache / "photos"
    log(f"photos: {photos_dir}", quiet=quiet)
    paths = build_photos(
        photos_dir, args.images, seed=args.seed, megapixels=tuple(args.megapixels), quiet=quiet
    )
    model_dir = args.model or ensure_model(args.cache / "vit-b-32-random", quiet=quiet)
    sizes = [tuple(int(v) for v in p.stem.rsplit("_", 1)[1].split("x")) for p in paths]
    mps = [w * h / 1e6 for w, h in sizes]

    result.update(
        images=len(paths),
        megapixels_min=round(min(mps), 2),
        megapixels_max=round(max(mps), 2),
        megapixels_mean=round(statistics.fmean(mps), 2),
    )
    runs = run_ours(args, paths, model_dir, result, quiet=quiet)
    gc.collect()

    # ---- the original path, in the same process after ours (its model replaces ours)
    if not args.skip_original:
        log(f"original path: {min(args.original_subset, len(paths))} images, one per call", quiet=quiet)
        original = OriginalPath(model_dir)
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
    result["rss_peak_mb"] = round(rss_mb(), 1)
    result["load_avg_end"] = load_average()

    if not quiet:
        print(format_table(result))
    line = json.dumps(result, sort_keys=False)
    if args.json_out:
        args.json_out.write_text(line + "\n")
    print(line, flush=True)
    return 0


def format_table(r: dict[str, Any]) -> str:
    """The human-readable summary printed before the JSON line."""

    def fmt(v: Any, spec: str = ".2f") -> str:
        return "-" if v is None else format(v, spec)

    orig = r.get("original_img_s")
    rows = [
        (
            "original (CLIPProcessor, 1/call, fp32)",
            orig,
            None,
            1.0 if orig else None,
            f"{r.get('original_images', 0)} img, mean {r.get('original_megapixels_mean', '-')} MP",
        ),
        (
            f"ours ({r['precision']}, batch {r['batch_size']})",
            r["ours_img_s"],
            r.get("fidelity_min_cos"),
            r.get("ratio"),
            f"{r['images']} img",
        ),
    ]
    if r["precision"] != "fp32" and "ours_fp32_img_s" in r:
        rows.append(
            (
                "ours (fp32)",
                r["ours_fp32_img_s"],
                r.get("fidelity_fp32_min_cos"),
                r.get("ratio_fp32"),
                f"{r['images']} img",
            )
        )
    if r.get("import_files_s") is not None:
        n = f"{r.get('import_files', 0)} files"
        rows.append(("import folder -> Milvus Lite (Importer.run)", r["import_files_s"], None, None, n))
        rows.append(
            (
                "  same, plus opening the Milvus Lite db",
                r["import_e2e_files_s"],
                None,
                None,
                f"{n}, open {r['import_store_open_s']:.1f} s",
            )
        )
    lines = [
        f"machine: {r['cpu']}, {r['cores']} cores, {r['ram_gb']} GB RAM; torch {r['torch']}, "
        f"{r['torch_threads']} torch threads, {r['decode_workers']} decode threads; "
        f"load avg {r['load_avg_start']} -> {r['load_avg_end']}",
        f"photos: {r['images']} JPEGs, {r['megapixels_min']}-{r['megapixels_max']} MP "
        f"(mean {r['megapixels_mean']})",
        "",
        f"{'path':<52} {'img/s':>8} {'min cos':>9} {'x orig':>7}  n",
        "-" * 88,
    ]
    for name, ips, cos, ratio, n in rows:
        lines.append(f"{name:<52} {fmt(ips):>8} {fmt(cos, '.6f'):>9} {fmt(ratio):>7}  {n}")
    lines += [
        "-" * 88,
        f"text query (1 per call): p50 {fmt(r.get('text_p50_ms'))} ms, p99 {fmt(r.get('text_p99_ms'))} ms",
        f"peak RSS: {fmt(r.get('rss_ours_mb'), '.0f')} MiB after our {r['precision']} rows, "
        f"{fmt(r.get('rss_peak_mb'), '.0f')} MiB with the original path loaded too",
    ]
    if r.get("import_error"):
        lines.append(f"import skipped: {r['import_error']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
