"""``clipvec import SOURCE --ray [ADDRESS]``: the import as a Ray Data pipeline on a cluster.

The driver plans exactly as the local importer does (it *is* the local importer: this
class only replaces the stage that turns files into vectors), so keys, paths, renames,
copies, ``--prune``, resume, progress and per-file errors follow the same code. The
stage runs on the cluster:

1. **list** on the driver (folder or ``s3://``), compare with the collection, keep only
   the files to read (unchanged ones are never read);
2. **read + hash + decode + preprocess**: Ray Data CPU tasks (``ray_decode_cpus`` each);
   a file whose content is already stored stops after hashing (its vector is reused);
3. **encode**: an actor pool of :class:`~clipvec.model.encoder.ClipEncoder`, one actor per CPU
   slot (one torch thread each) or per GPU;
4. **write**: against a Milvus server every encoder actor upserts its own batch (workers
   write in parallel); with a Milvus Lite file the driver is the only writer. The driver
   then fixes what only it can know (a content seen at several paths in one run, a file
   whose content changed) with the importer's own logic; each of its writes comes after
   the workers' writes of the same rows, because a row reaches the driver only once its
   batch is written.

Rows come back in input order (``preserve_order``), so the paths of a content seen at
several places are stored in the same order as by the local importer. A killed driver
loses at most the rows in flight: a re-run finds what was written and encodes the rest.

Workers need clipvec and its dependencies (``pip install 'clipvec[ray]'`` in the cluster
image); with ``CLIPVEC_RAY_SHIP_CODE=1`` the driver also ships its own clipvec package with
the job (``py_modules``, ~7 s more per run here), so driver and workers run the same code. AWS_* and HF_* variables of the driver are passed
to the workers (on Kubernetes prefer the pods' own credentials: leave them unset).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from clipvec.errors import ClipvecError, UnsupportedImageFormat
from clipvec.images.decode import SUPPORTED_FORMATS, decode_image, sniff_format
from clipvec.images.prepare import PreparedImage, prepare_decoded
from clipvec.images.preprocess import Preprocessor
from clipvec.indexing.importer import (
    FileFailure,
    Importer,
    ImportReport,
    _progress_bar,
    _Work,
    _write_errors,
    import_source,
)
from clipvec.model.facts import recorded_model_name, require_facts
from clipvec.settings import Settings
from clipvec.sources import FoundFile, Source
from clipvec.store import ImageRecord, ImageStore

log = logging.getLogger(__name__)

# Variables the workers need to read the same sources and models as the driver.
PASSED_ENV_PREFIXES = ("AWS_", "HF_", "TRANSFORMERS_", "HUGGINGFACE_")
_NO_PIXELS = np.empty((0,), dtype=np.float32)


class RayUnavailable(ClipvecError):
    status, code = 503, "ray_unavailable"


# ---------------------------------------------------------------------- model facts, no weights
def model_facts(model: str) -> tuple[int, int, str | None]:
    """(projection dim, input image size, local folder) from the config alone; ``ModelLoadError`` if not at hand.

    The driver needs the dimension to open the collection and check the model, but not
    the weights: only the encoder actors load those. New code: ``clipvec.model.facts.require_facts``.
    """
    return (facts := require_facts(model)).dim, facts.image_size, str(facts.folder)


@functools.lru_cache(maxsize=4)
def preprocessor_for(model: str) -> Preprocessor:
    return require_facts(model).preprocessor()


# ---------------------------------------------------------------------- stage 2: read, hash, decode
def _known(hashes: np.ndarray, digest: bytes) -> bool:
    """Is ``digest`` in the sorted array of stored sha256 digests (``S32``)?"""
    if hashes.size == 0:
        return False
    i = int(np.searchsorted(hashes, np.bytes_(digest)))
    return i < hashes.size and hashes[i] == digest


def read_decode_batch(
    batch: dict[str, np.ndarray], *, source: Source, model: str, max_pixels: int, known: np.ndarray
) -> dict[str, np.ndarray]:
    """Ray task: path -> bytes -> sha256 -> (unless stored already) decoded, preprocessed pixels."""
    preprocessor = preprocessor_for(model)
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("hash", "not_image", "error", "detail", "format", "width", "height", "pixels", "seconds")
    }
    for path in batch["path"]:
        t0 = time.perf_counter()
        row: dict[str, Any] = {
            "hash": "",
            "not_image": False,
            "error": "",
            "detail": "",
            "format": "",
            "width": 0,
            "height": 0,
            "pixels": b"",
        }
        try:
            data = source.read(str(path))
        except OSError as exc:
            row.update(error="unreadable", detail=f"cannot read: {exc.strerror or exc}")
        else:
            digest = hashlib.sha256(data).digest()
            row["hash"] = digest.hex()
            if _known(known, digest):
                pass  # stored already: the driver reuses its vector
            elif sniff_format(data) not in SUPPORTED_FORMATS:
                row["not_image"] = True
            else:
                try:
                    decoded = decode_image(data, max_pixels=max_pixels, min_side=preprocessor.min_decode_side)
                    prepared = prepare_decoded(decoded, preprocessor)
                    row.update(format=prepared.format, width=prepared.width, height=prepared.height)
                    row["pixels"] = prepared.pixels.tobytes()
                except UnsupportedImageFormat:
                    row["not_image"] = True
                except ClipvecError as err:
                    row.update(error=err.code, detail=err.detail)
        row["seconds"] = time.perf_counter() - t0
        for key, value in row.items():
            cols[key].append(value)
    out = dict(batch)
    for key, values in cols.items():
        out[key] = np.asarray(
            values, dtype=object if key in ("hash", "error", "detail", "format", "pixels") else None
        )
    return out


# ---------------------------------------------------------------------- stages 3+4: encode, write
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
    ) -> None:
        from clipvec.model.encoder import ClipEncoder

        self.encoder = ClipEncoder.load(
            model, device=device, precision=precision, threads=threads, batch_size=batch_size
        )
        self.store = ImageStore(**store) if store else None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["path"])
        crop = self.encoder.preprocessor
        rows = [i for i in range(n) if batch["pixels"][i]]
        vectors: list[bytes] = [b""] * n
        written = np.zeros(n, dtype=bool)
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
                self.store.upsert(
                    [
                        ImageRecord(
                            content_hash=str(batch["hash"][i]),
                            paths=[str(batch["path"][i])],
                            size=int(batch["size"][i]),
                            mtime=float(batch["mtime"][i]),
                            width=int(batch["width"][i]),
                            height=int(batch["height"][i]),
                            format=str(batch["format"][i]),
                            vector=encoded[row],
                        )
                        for row, i in enumerate(rows)
                    ]
                )
                written[rows] = True
        out = {k: v for k, v in batch.items() if k != "pixels"}
        out["vector"] = np.asarray(vectors, dtype=object)
        out["written"] = written
        out["encode_seconds"] = np.full(n, encode_seconds / max(1, len(rows)) if rows else 0.0)
        return out


# ---------------------------------------------------------------------- the importer
class RayImporter(Importer):
    """The local importer with its read/decode/encode stage replaced by a Ray Data pipeline."""

    def __init__(
        self,
        settings: Settings,
        store: ImageStore,
        *,
        encoders: int = 0,
        decode_cpus: float = 0.25,
        block_rows: int = 0,
        show_progress: bool = False,
    ) -> None:
        super().__init__(
            None,  # type: ignore[arg-type] - the encoders live in the actors, not on the driver
            store,
            max_pixels=settings.max_pixels,
            decode_workers=1,
            batch_size=settings.batch_size,
            upsert_batch=settings.upsert_batch,
        )
        self.settings = settings
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
            "model_name": self.store.model_name,
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

    def _read_ahead(
        self, todo: list[FoundFile], by_hash: dict[str, ImageRecord], report: ImportReport
    ) -> Iterator[_Work]:
        if not todo:
            return
        import ray

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = self.show_progress
        actors, actor_cpus, actor_gpus = self._pool()
        known = np.array(sorted(bytes.fromhex(h) for h in by_hash if len(h) == 64), dtype="S32")
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
            fn_kwargs={"source": self.source, "model": model, "max_pixels": s.max_pixels, "known": known},
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
            },
        )
        log.info("ray import: %d files, %d encoder actors (%s)", len(rows), actors, device)
        started = time.perf_counter()
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
            for i in range(len(batch["path"])):
                yield self._work(batch, i, by_rel[str(batch["path"][i])], report)
        report.seconds["ray"] += time.perf_counter() - started

    def _work(self, batch: dict[str, np.ndarray], i: int, found: FoundFile, report: ImportReport) -> _Work:
        work = _Work(found, content_hash=str(batch["hash"][i]))
        report.seconds["decode"] += float(batch["seconds"][i])
        report.seconds["encode"] += float(batch["encode_seconds"][i])
        if batch["error"][i]:
            work.error = ClipvecError(str(batch["detail"][i]), code=str(batch["error"][i]))
        elif bool(batch["not_image"][i]):
            work.skip = FileFailure(found.rel_path, "not_image", "content is not an image")
        elif batch["vector"][i]:
            work.vector = np.frombuffer(batch["vector"][i], dtype=np.float32).copy()
            work.prepared = PreparedImage(
                _NO_PIXELS, str(batch["format"][i]), int(batch["width"][i]), int(batch["height"][i])
            )
            work.written = bool(batch["written"][i])
        return work


def _root_cause(exc: BaseException) -> BaseException:
    """The user-code error inside Ray's wrappers (RayTaskError, UserCodeException)."""
    seen = exc
    for _ in range(10):
        inner = getattr(seen, "cause", None) or seen.__cause__
        if inner is None or inner is seen:
            break
        seen = inner
    return seen


# ---------------------------------------------------------------------- connecting
def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV_PREFIXES)}


def connect(address: str | None, *, ship_code: bool = False) -> None:
    """Join the Ray cluster at ``address`` (None/"auto": RAY_ADDRESS, else a local Ray)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("--ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')") from exc
    import clipvec

    if address in (None, "", "auto"):
        address = os.environ.get("RAY_ADDRESS") or None
    runtime_env: dict[str, Any] = {"env_vars": worker_env()}
    if ship_code:  # workers then run the driver's clipvec, whatever the cluster has installed
        runtime_env["py_modules"] = [str(Path(clipvec.__file__).resolve().parent)]
    try:
        ray.init(
            address=address,
            runtime_env=runtime_env,
            logging_level=logging.WARNING,
            log_to_driver=True,
            include_dashboard=False if address is None else None,
            ignore_reinit_error=True,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to join is one clear message
        raise RayUnavailable(
            f"cannot connect to the Ray cluster at {address or 'a local Ray'}: {exc}"
        ) from exc
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def run_ray_import_cli(settings: Settings, args: Any) -> int:
    """Same exits and output as the local ``clipvec import``: 0 ok, 1 some files failed, 2 could not run."""
    source = import_source(settings, args)
    if source is None:
        return 2
    dim, _, _ = model_facts(settings.model)
    store = ImageStore.from_settings(settings, model_name=recorded_model_name(settings.model), dim=dim)
    try:
        connect(args.ray, ship_code=settings.ray_ship_code)
        import ray

        no_progress = getattr(args, "no_progress", False)
        importer = RayImporter(
            settings,
            store,
            encoders=settings.ray_encoders,
            decode_cpus=settings.ray_decode_cpus,
            show_progress=not no_progress and sys.stderr.isatty(),
        )
        bar = _progress_bar(disabled=no_progress)
        try:
            report = importer.run(source, prune=args.prune, progress=bar.update, on_total=bar.set_total)
            store.expect_foreign_writes()  # the workers' rows, not only the driver's
            total = store.count()
        except ClipvecError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed Ray task: one clear line, not a traceback
            cause = _root_cause(exc)
            if isinstance(cause, ClipvecError):
                raise cause from exc
            print(
                f"clipvec: the Ray import stopped: {type(cause).__name__}: {str(cause).splitlines()[0][:500] if str(cause) else ''}"
                "; what was stored is kept, run it again to finish",
                file=sys.stderr,
            )
            return 2
        finally:
            bar.close()
            ray.shutdown()
    finally:
        store.close()
    for failure in report.failed:
        print(f"failed: {failure.path}: {failure.detail}", file=sys.stderr)
    if args.errors_file:
        _write_errors(args.errors_file, report.failed, report.skipped_files)
    print(f"{source.display}: {report.summary()}; the collection holds {total} images")
    return 1 if report.failed else 0
