"""The import's read/decode/encode stage in this process: threads read ahead, one encoder batches."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from clipvec.errors import ClipvecError, UnsupportedImageFormat
from clipvec.images.prepare import FileTooLarge, NotAnImage, PreparedImage, prepare_image, read_image_file
from clipvec.indexing.lookahead import ordered_map
from clipvec.indexing.model_loading import BackgroundLoad
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.stage import Work
from clipvec.sources import FoundFile, Source, as_read

if TYPE_CHECKING:
    from clipvec.images.preprocess import Preprocessor
    from clipvec.model.encoder import ClipEncoder

DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024


class LocalStage:
    """Decoding runs ahead in ``decode_workers`` threads (bounded window); encoding in batches."""

    def __init__(
        self,
        encoder: ClipEncoder | Callable[[], ClipEncoder],
        *,
        max_pixels: int = 100_000_000,
        decode_workers: int = 2,
        batch_size: int = 32,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        preprocessor: Preprocessor | None = None,
    ) -> None:
        """``encoder`` may be a loader: then the model is loaded only if a file needs it.

        ``preprocessor``: the loader's model's (its checkpoint says it without loading it); then
        the model loads in a thread (``BackgroundLoad``) while the first new files decode.
        """
        self._loading: BackgroundLoad[ClipEncoder] | None = None
        if hasattr(encoder, "encode_pixels"):
            self._encoder: ClipEncoder | None = encoder  # type: ignore[assignment]
        else:
            self._encoder, self._loading = None, BackgroundLoad(encoder)  # type: ignore[arg-type]
        self._preprocessor = preprocessor if self._loading is not None else None
        self._encoder_lock = threading.Lock()
        self.max_pixels = max_pixels
        self.decode_workers = max(1, decode_workers)
        self.batch_size = batch_size
        self.max_file_bytes = max_file_bytes

    @property
    def encoder(self) -> ClipEncoder:
        with self._encoder_lock:
            if self._encoder is None:
                assert self._loading is not None
                encoder = self._loading.result()
                if self._preprocessor is not None and encoder.preprocessor != self._preprocessor:
                    raise ClipvecError(
                        f"the model's image preprocessing ({encoder.preprocessor}) is not its "
                        f"checkpoint's ({self._preprocessor}): nothing was encoded"
                    )
                self._encoder = encoder
            return self._encoder

    def _decode_preprocessor(self) -> Preprocessor:
        """What new content is decoded for: known before the model when the checkpoint said it."""
        if self._encoder is None and self._preprocessor is not None:
            assert self._loading is not None
            self._loading.start()  # this file needs the model: load it while it decodes
            return self._preprocessor
        return self.encoder.preprocessor

    @property
    def model_loaded(self) -> bool:
        return self._encoder is not None

    def run(
        self, source: Source, todo: list[FoundFile], known: Collection[str], report: ImportReport
    ) -> Iterator[Work]:
        """Yield finished work in order; decoding runs ahead in threads, encoding in batches."""
        window = max(2 * self.batch_size, 4 * self.decode_workers)
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="clipvec-read") as pool:
            batch: list[tuple[Work, PreparedImage | None, float]] = []
            for done in ordered_map(pool, lambda f: self._read_one(source, f, known), todo, window):
                batch.append(done)
                if sum(prepared is not None for _, prepared, _ in batch) >= self.batch_size:
                    yield from self._encode(batch, report)
                    batch = []
            yield from self._encode(batch, report)
        if self._loading is not None and self._loading.started:
            _ = self.encoder  # a load begun for files that then failed: its error is the import's, as before

    def _read_one(
        self, source: Source, found: FoundFile, known: Collection[str]
    ) -> tuple[Work, PreparedImage | None, float]:
        """(work, its pixels if it is a new image, decode seconds)."""
        t0 = time.perf_counter()
        work = Work(found)
        try:
            with source.open(found.rel_path) as f:
                work.found = as_read(found, f)  # the file read, not the one scanned (issue 21)
                data = read_image_file(f, max_bytes=self.max_file_bytes)
        except (NotAnImage, FileTooLarge) as err:
            work.skip = FileFailure(found.rel_path, err.code, err.detail)
            return work, None, 0.0
        except OSError as exc:
            work.error = ClipvecError(f"cannot read: {exc.strerror or exc}", code="unreadable")
            return work, None, 0.0
        work.content_hash = hashlib.sha256(data).hexdigest()
        if work.content_hash in known:
            return work, None, 0.0  # known content: its stored vector is reused
        prepared = None
        try:
            prepared = prepare_image(data, self._decode_preprocessor(), max_pixels=self.max_pixels)
        except UnsupportedImageFormat as err:
            work.skip = FileFailure(found.rel_path, err.skip_reason, err.detail)
        except ClipvecError as err:
            work.error = err
        return work, prepared, time.perf_counter() - t0

    def _encode(
        self, batch: list[tuple[Work, PreparedImage | None, float]], report: ImportReport
    ) -> Iterator[Work]:
        ready = [(work, prepared) for work, prepared, _ in batch if prepared is not None]
        if ready:
            if self._encoder is None:  # what the import waited for the model still loading, apart
                t0 = time.perf_counter()
                _ = self.encoder
                report.seconds["model"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            vectors = self.encoder.encode_pixels(np.stack([prepared.pixels for _, prepared in ready]))
            report.seconds["encode"] += time.perf_counter() - t0
            for (work, prepared), vector in zip(ready, vectors, strict=True):
                work.vector = vector
                work.format, work.width, work.height = prepared.format, prepared.width, prepared.height
                work.meta = prepared.meta
        report.seconds["decode"] += sum(seconds for _, _, seconds in batch) / self.decode_workers
        yield from (work for work, _, _ in batch)
