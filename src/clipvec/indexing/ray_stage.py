"""``clipvec import SOURCE --ray [ADDRESS]``: the import's stage as a Ray Data pipeline on a cluster.

The driver plans, merges and writes exactly as a local import does (the same
:class:`~clipvec.indexing.importer.Importer`); only the stage that turns files into vectors
runs on the cluster, so keys, paths, renames, copies, ``--prune``, resume, progress and
per-file errors follow the same code:

1. **list** on the driver (folder or ``s3://``), compare with the collection, keep only
   the files to read (unchanged ones are never read);
2. **read + hash + decode + preprocess**: Ray Data CPU tasks (``ray_decode_cpus`` each),
   with the local stage's rules (the first 4 KB decide whether a file is an image; a
   content already stored stops after hashing: its vector is reused);
3. **encode**: an actor pool of :class:`~clipvec.model.encoder.ClipEncoder`, one actor per
   CPU slot (one torch thread each) or per GPU;
4. **write**: against a Milvus server every encoder actor upserts its own batch (workers
   write in parallel: their rows come back marked ``stored``); with a Milvus Lite file the
   driver is the only writer. The driver then fixes what only it can know (a content seen
   at several paths in one run, a file whose content changed) with the importer's own
   logic; each of its writes comes after the workers' writes of the same rows, because a
   row reaches the driver only once its batch is written.

Rows come back in input order (``preserve_order``), so the paths of a content seen at
several places are stored in the same order as by the local importer. A killed driver
loses at most the rows in flight: a re-run finds what was written and encodes the rest.

Workers need clipvec and its dependencies (``pip install 'clipvec[ray]'`` in the cluster
image); with ``CLIPVEC_RAY_SHIP_CODE=1`` the driver also ships its own clipvec package with
the job (``py_modules``, ~7 s more per run here), so driver and workers run the same code.
AWS_* and HF_* variables of the driver are passed to the workers (on Kubernetes prefer the
pods' own credentials: leave them unset).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Collection, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.errors import ClipvecError, UnsupportedImageFormat
from clipvec.images.photo_meta import UNKNOWN_META, PhotoMeta
from clipvec.images.prepare import FileTooLarge, NotAnImage, prepare_image, read_image_file
from clipvec.images.preprocess import Preprocessor
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.stage import Work
from clipvec.model.facts import recorded_model_name
from clipvec.settings import Settings
from clipvec.sources import FoundFile, Source, as_read
from clipvec.store import ImageRecord, ImageStore

log = logging.getLogger(__name__)

_TEXT_COLUMNS = ("hash", "skip", "error", "detail", "format", "meta", "pixels")


# ---------------------------------------------------------------------- read, hash, decode (Ray tasks)
def _known(hashes: np.ndarray, digest: bytes) -> bool:
    """Is ``digest`` in the sorted array of stored sha256 digests (``S32``)?"""
    if hashes.size == 0:
        return False
    i = int(np.searchsorted(hashes, np.bytes_(digest)))
    # An ``S32`` item comes back without its trailing zero bytes (1 in 256 digests has one).
    return i < hashes.size and hashes[i] == digest.rstrip(b"\0")


def read_decode_batch(
    batch: dict[str, np.ndarray],
    *,
    source: Source,
    preprocessor: Preprocessor,
    max_pixels: int,
    max_file_bytes: int,
    known: np.ndarray,
) -> dict[str, np.ndarray]:
    """Ray task: path -> first bytes -> bytes -> sha256 -> (unless stored already) model pixels."""
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("hash", "skip", "error", "detail", "format", "width", "height", "meta", "pixels", "seconds")
    }
    cols["size"], cols["mtime"] = [], []  # of the file read (fstat), not the one scanned (issue 21)
    for path, size, mtime in zip(batch["path"], batch["size"], batch["mtime"], strict=True):
        t0 = time.perf_counter()
        read = FoundFile(str(path), int(size), float(mtime))
        row: dict[str, Any] = {
            "hash": "",
            "skip": "",
            "error": "",
            "detail": "",
            "format": "",
            "width": 0,
            "height": 0,
            "meta": "",  # PhotoMeta.to_json(): the batches are columns of plain values
            "pixels": b"",
        }
        try:
            with source.open(str(path)) as f:
                read = as_read(read, f)
                data = read_image_file(f, max_bytes=max_file_bytes)
        except (NotAnImage, FileTooLarge) as err:
            row.update(skip=err.code, detail=err.detail)
        except OSError as exc:
            row.update(error="unreadable", detail=f"cannot read: {exc.strerror or exc}")
        else:
            digest = hashlib.sha256(data).digest()
            row["hash"] = digest.hex()
            if not _known(known, digest):  # a stored content stops here: the driver reuses its vector
                try:
                    prepared = prepare_image(data, preprocessor, max_pixels=max_pixels)
                    row.update(format=prepared.format, width=prepared.width, height=prepared.height)
                    row["meta"] = prepared.meta.to_json()
                    row["pixels"] = prepared.pixels.tobytes()
                except UnsupportedImageFormat as err:
                    row.update(skip=err.skip_reason, detail=err.detail)
                except ClipvecError as err:
                    row.update(error=err.code, detail=err.detail)
        row["seconds"] = time.perf_counter() - t0
        row["size"], row["mtime"] = read.size, read.mtime
        for key, value in row.items():
            cols[key].append(value)
    out = dict(batch)
    for key, values in cols.items():
        out[key] = np.asarray(values, dtype=object if key in _TEXT_COLUMNS else None)
    return out


# ---------------------------------------------------------------------- encode, write (Ray actors)
class EncodeActor:
    """Ray actor: one ClipEncoder (one torch thread per CPU slot, or a GPU) and, for a server, a store."""

    def __init__(
        self,
        *,
        model: str,
        device: str,
        precision: str,
        threads: int,
        batch_size: int,
        store: dict[str, Any] | None,
        runtime: str = "torch",
        export_cache: str | None = None,
    ) -> None:
        from clipvec.model.encoder import ClipEncoder

        self.encoder = ClipEncoder.load(
            model,
            device=device,
            precision=precision,
            threads=threads,
            batch_size=batch_size,
            runtime=runtime,
            export_cache=Path(export_cache) if export_cache else None,
        )
        self.store = ImageStore(**store) if store else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["path"])
        crop = self.encoder.preprocessor
        rows = [i for i in range(n) if batch["pixels"][i]]
        vectors: list[bytes] = [b""] * n
        stored = np.zeros(n, dtype=bool)
        encode_seconds = 0.0
        if rows:
            pixels = np.stack(
                [
                    np.frombuffer(batch["pixels"][i], dtype=np.float32).reshape(
                        3, crop.crop_height, crop.crop_width
                    )
                    for i in rows
                ]
            )
            t0 = time.perf_counter()
            encoded = self.encoder.encode_pixels(pixels)
            encode_seconds = time.perf_counter() - t0
            for row, i in enumerate(rows):
                vectors[i] = encoded[row].astype(np.float32).tobytes()
            if self.store is not None:
                self.store.upsert([_record(batch, i, encoded[row]) for row, i in enumerate(rows)])
                stored[rows] = True
        out = {k: v for k, v in batch.items() if k != "pixels"}
        out["vector"] = np.asarray(vectors, dtype=object)
        out["stored"] = stored
        out["encode_seconds"] = np.full(n, encode_seconds / max(1, len(rows)) if rows else 0.0)
        return out


def _record(batch: dict[str, np.ndarray], i: int, vector: np.ndarray) -> ImageRecord:
    return ImageRecord(
        content_hash=str(batch["hash"][i]),
        paths=[str(batch["path"][i])],
        size=int(batch["size"][i]),
        mtime=float(batch["mtime"][i]),
        width=int(batch["width"][i]),
        height=int(batch["height"][i]),
        format=str(batch["format"][i]),
        vector=vector,
        meta=_meta(batch, i),
    )


def _meta(batch: dict[str, np.ndarray], i: int) -> PhotoMeta:
    text = str(batch["meta"][i]) if "meta" in batch else ""
    return PhotoMeta.from_json(text) if text else UNKNOWN_META


# ---------------------------------------------------------------------- the stage
class RayStage:
    """Reads, decodes and encodes on a Ray cluster (``connect`` first, see :mod:`.ray_cluster`)."""

    model_loaded = False  # the encoders live in the actors, not on the driver

    def __init__(
        self,
        settings: Settings,
        store: ImageStore,
        preprocessor: Preprocessor,
        *,
        encoders: int = 0,
        decode_cpus: float = 0.25,
        block_rows: int = 0,
        show_progress: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.preprocessor = preprocessor  # the model's, read by the driver (tasks need no model files)
        self.encoders = encoders
        self.decode_cpus = decode_cpus
        self.block_rows = block_rows or settings.batch_size
        self.show_progress = show_progress

    def _store_spec(self) -> dict[str, Any] | None:
        """Where workers write: a server only (a Lite file has one writer, the driver)."""
        if self.store.is_lite:
            return None
        return {
            "uri": self.store.uri,
            "collection": self.store.collection,
            # What the driver's check accepted: workers need no model folder to agree with it.
            "model_name": self.store.recorded_model_name,
            "model_id": self.store.model_id,
            "family": self.store.family,
            "dim": self.store.dim,
            "metric": self.store.metric,
            "token": self.settings.milvus_token,
        }

    def _pool(self) -> tuple[int, float, int]:
        """(actors, CPUs per actor, GPUs per actor): one per GPU if the encoder runs on GPUs, else per CPU."""
        import ray

        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        device = self.settings.device
        use_gpu = device.startswith("cuda") or (device == "auto" and gpus > 0)
        if use_gpu:
            return max(1, self.encoders or gpus), 1.0 - self.decode_cpus, 1
        cpus = int(resources.get("CPU", 1))
        return max(1, self.encoders or cpus), 1.0 - self.decode_cpus, 0

    def run(
        self, source: Source, todo: list[FoundFile], known: Collection[str], report: ImportReport
    ) -> Iterator[Work]:
        if not todo:
            return
        import ray

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = self.show_progress
        actors, actor_cpus, actor_gpus = self._pool()
        # 32 bytes per stored content, without a Python object per content on the way.
        stored = np.sort(np.fromiter((bytes.fromhex(h) for h in known if len(h) == 64), dtype="S32"))
        by_rel = {f.rel_path: f for f in todo}
        rows = [{"path": f.rel_path, "size": f.size, "mtime": f.mtime} for f in todo]
        # Small blocks stream well; past ~1000 the planning costs more than it gains.
        blocks = max(1, min(math.ceil(len(rows) / self.block_rows), 1000))
        s = self.settings
        model = recorded_model_name(s.model)  # a local folder as an absolute path: workers have another cwd
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map_batches(
            read_decode_batch,
            batch_size=self.block_rows,
            batch_format="numpy",
            num_cpus=self.decode_cpus,
            fn_kwargs={
                "source": source,
                "preprocessor": self.preprocessor,
                "max_pixels": s.max_pixels,
                "max_file_bytes": s.max_file_bytes,
                "known": stored,
            },
        )
        device = "cuda" if actor_gpus else "cpu"
        ds = ds.map_batches(
            EncodeActor,
            batch_size=s.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=actor_cpus,
            num_gpus=actor_gpus,
            fn_constructor_kwargs={
                "model": model,
                "device": device,
                "precision": s.precision,
                "threads": 0 if actor_gpus else max(1, math.ceil(actor_cpus)),
                "batch_size": s.batch_size,
                "store": self._store_spec(),
                "runtime": s.runtime,
                "export_cache": str(s.export_cache_dir()),
            },
        )
        log.info("ray import: %d files, %d encoder actors (%s)", len(rows), actors, device)
        started = time.perf_counter()
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
            for i in range(len(batch["path"])):
                yield _work(batch, i, by_rel[str(batch["path"][i])], report)
        report.seconds["ray"] += time.perf_counter() - started


def _work(batch: dict[str, np.ndarray], i: int, found: FoundFile, report: ImportReport) -> Work:
    read = replace(found, size=int(batch["size"][i]), mtime=float(batch["mtime"][i]))
    work = Work(read, content_hash=str(batch["hash"][i]))
    report.seconds["decode"] += float(batch["seconds"][i])
    report.seconds["encode"] += float(batch["encode_seconds"][i])
    if batch["error"][i]:
        work.error = ClipvecError(str(batch["detail"][i]), code=str(batch["error"][i]))
    elif batch["skip"][i]:
        work.skip = FileFailure(found.rel_path, str(batch["skip"][i]), str(batch["detail"][i]))
    elif batch["vector"][i]:
        work.vector = np.frombuffer(batch["vector"][i], dtype=np.float32).copy()
        work.format = str(batch["format"][i])
        work.width, work.height = int(batch["width"][i]), int(batch["height"][i])
        work.meta = _meta(batch, i)
        work.stored = bool(batch["stored"][i])
    return work
