"""clipvec's path on the benchmark's photos: encoding, text queries, the import into Milvus Lite."""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.cli.bench.machine import log, machine_info, percentile, rss_mb

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


def encode_files(
    encoder: Any,
    paths: Sequence[Path],
    *,
    decode_workers: int,
    max_pixels: int = 100_000_000,
) -> np.ndarray:
    """Files -> unit vectors through the import's own local stage (clipvec.indexing.LocalStage).

    The same steps as an import (sniff, read, hash, header size check, JPEG draft decode,
    EXIF, numpy preprocessing in ``decode_workers`` threads with a bounded look-ahead,
    batched encoding), without Milvus. The files must share one folder.
    """
    from clipvec.indexing.local_stage import LocalStage
    from clipvec.indexing.report import ImportReport
    from clipvec.sources import FolderSource, FoundFile

    folders = {p.parent for p in paths}
    if len(folders) > 1:
        raise ValueError("the benchmark's photos must share one folder")
    source = FolderSource(next(iter(folders), Path(".")))
    found = [FoundFile(p.name, p.stat().st_size, p.stat().st_mtime) for p in paths]
    stage = LocalStage(
        encoder,
        max_pixels=max_pixels,
        decode_workers=decode_workers,
        batch_size=encoder.batch_size,
        max_file_bytes=max((f.size for f in found), default=1),  # every photo is read whole
    )
    out = np.empty((len(paths), encoder.dim), dtype=np.float32)
    for i, work in enumerate(stage.run(source, found, (), ImportReport())):
        if work.vector is None:
            problem = work.error or work.skip
            raise RuntimeError(f"{work.found.rel_path}: {getattr(problem, 'detail', problem)}")
        out[i] = work.vector
    return out


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
        store = ImageStore.from_settings(settings, **encoder.identity.store_options())
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


def query_vectors(encoder: Any) -> np.ndarray:
    """``TEXT_QUERIES``' vectors, one per call as queries come (the text fidelity's side of ours)."""
    return np.stack([encoder.encode_texts([q]).vectors[0] for q in TEXT_QUERIES])


def run_ours(
    args: argparse.Namespace,
    paths: list[Path],
    model_dir: Path,
    result: dict[str, Any],
    *,
    quiet: bool,
    texts: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Our path at the auto precision and fp32, text latency and the import; fills ``result``.

    Returns the image vectors per precision; ``texts`` (when given) gets the query vectors per precision.
    """
    texts = {} if texts is None else texts
    import torch

    from clipvec.model.encoder import ClipEncoder
    from clipvec.settings import Settings

    threads = args.threads or Settings().resolved_threads()
    workers = args.decode_workers or max(2, threads)
    runtime = getattr(args, "runtime", "torch")
    encoder = ClipEncoder.load(
        str(model_dir),
        precision=args.precision,
        threads=threads,
        batch_size=args.batch_size,
        runtime=runtime,
        export_cache=Settings().export_cache_dir(),
    )
    result.update(
        machine_info(),
        torch=torch.__version__,
        model=str(model_dir),
        torch_threads=torch.get_num_threads(),
        decode_workers=workers,
        batch_size=args.batch_size,
        precision=encoder.precision,
        runtime=encoder.runtime,
        family=encoder.family.name,
        text_padding=encoder.family.text_padding,
        text_tokens=encoder.context_length,
    )
    pre = encoder.preprocessor
    warm = np.zeros((args.batch_size, 3, pre.crop_height, pre.crop_width), np.float32)

    # oneDNN builds its kernels on the first call of each shape: warm up, then time.
    log(
        f"ours ({encoder.runtime} {encoder.precision}): {len(paths)} images, best of {args.repeat}",
        quiet=quiet,
    )
    encode_files(encoder, paths[: min(len(paths), 4)], decode_workers=workers)
    encoder.encode_pixels(warm)
    ours, secs = timed(lambda: encode_files(encoder, paths, decode_workers=workers), args.repeat)
    result["ours_img_s"] = round(len(paths) / secs, 2)
    runs: dict[str, np.ndarray] = {encoder.precision: ours}

    log("text queries", quiet=quiet)
    lat = text_latencies(encoder, args.text_queries)
    result["text_p50_ms"] = round(percentile(lat, 50), 2)
    result["text_p99_ms"] = round(percentile(lat, 99), 2)
    texts[encoder.precision] = query_vectors(encoder)

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
        texts["fp32"] = query_vectors(fp32)
    return runs
