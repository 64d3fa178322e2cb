"""Source -> Milvus: the incremental, resumable import, with per-file error isolation.

One run is **plan -> stage -> merge -> write** (clip-retrieval's reader / mapper / writer
split, each timed in the report):

* **plan** (:mod:`.plan`): scan the source and compare with what the collection holds. A
  file whose path, size and mtime are already stored is *unchanged* and never read.
* **stage** (:mod:`.stage`): read each remaining file once, hash it (sha256 is the primary
  key), and decode + encode only contents the collection does not have: in this process
  (:class:`~.local_stage.LocalStage`) or on a Ray cluster (:class:`~.ray_stage.RayStage`).
* **merge** (:mod:`.merge`): a renamed or copied file is found by its hash and reuses its
  vector; a changed file leaves its old record.
* **write** (:mod:`.writer`): batched, verified upserts; ``--prune`` drops vanished paths.

Everything lives in Milvus keyed by content hash, so a run killed at any moment is
repaired by running again: what was written is skipped, the rest is done, nothing is
duplicated. A file that cannot be read or decoded is reported and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from clipvec.indexing.local_stage import DEFAULT_MAX_FILE_BYTES, LocalStage
from clipvec.indexing.merge import Merger
from clipvec.indexing.plan import gc_paused, make_plan
from clipvec.indexing.report import ImportReport
from clipvec.indexing.stage import Stage
from clipvec.indexing.writer import RecordWriter
from clipvec.sources import Scanned, Source, open_source, root_name
from clipvec.store import ImageStore

if TYPE_CHECKING:
    from clipvec.images.preprocess import Preprocessor
    from clipvec.model.encoder import ClipEncoder


class Importer:
    """Imports sources into one store through one stage."""

    def __init__(
        self,
        store: ImageStore,
        stage: Stage,
        *,
        max_pixels: int = 100_000_000,
        upsert_batch: int = 256,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        remember_skips: bool = True,
    ) -> None:
        self.store = store
        self.stage = stage
        self.max_pixels = max_pixels  # the skip memory is kept per max_pixels (it decides what fails)
        self.upsert_batch = upsert_batch
        self.max_file_bytes = max_file_bytes
        self.remember_skips = remember_skips

    @classmethod
    def local(
        cls,
        encoder: ClipEncoder | Callable[[], ClipEncoder],
        store: ImageStore,
        *,
        max_pixels: int = 100_000_000,
        decode_workers: int = 2,
        batch_size: int = 32,
        upsert_batch: int = 256,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        remember_skips: bool = True,
        preprocessor: Preprocessor | None = None,
    ) -> Importer:
        """An importer that encodes in this process; ``encoder`` may be a loader (called only if needed).

        ``preprocessor`` (the loader's model's): the model then loads while new files decode.
        """
        stage = LocalStage(
            encoder,
            max_pixels=max_pixels,
            decode_workers=decode_workers,
            batch_size=batch_size,
            max_file_bytes=max_file_bytes,
            preprocessor=preprocessor,
        )
        return cls(
            store,
            stage,
            max_pixels=max_pixels,
            upsert_batch=upsert_batch,
            max_file_bytes=max_file_bytes,
            remember_skips=remember_skips,
        )

    @property
    def encoder_loaded(self) -> bool:
        return self.stage.model_loaded

    def run(
        self,
        root: Path | str | Source,
        *,
        prune: bool = False,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        scanned: Future[Scanned] | None = None,
    ) -> ImportReport:
        """Import ``root`` (a folder, an ``s3://`` prefix or a Source); ``scanned``: its scan, already started."""
        report = ImportReport()
        t0 = time.perf_counter()
        source: Source = root if hasattr(root, "owns") else open_source(root)  # type: ignore[assignment]
        self.store.record_root(root_name(source.stored_prefix))  # before any record of it is written
        with gc_paused():
            plan = make_plan(
                self.store,
                source,
                scanned,
                report,
                max_pixels=self.max_pixels,
                max_file_bytes=self.max_file_bytes,
                remember_skips=self.remember_skips,
            )
        report.seconds["plan"] = time.perf_counter() - t0
        if on_total is not None:
            on_total(len(plan.found))
        if progress is not None and report.unchanged:
            progress(report.unchanged)

        writer = RecordWriter(self.store, self.upsert_batch, report)
        merger = Merger(plan, writer, report, source.owns, source.legacy_path)
        for work in self.stage.run(source, plan.todo, plan.by_hash.keys(), report):
            report.files_read += 1
            if progress is not None:
                progress(1)
            merger.add(work)
        writer.finish()  # nothing is reported imported that is not stored
        plan.memory.save(merger.seen)
        if prune:
            # Nothing of this source vanished in the run's own view of the collection: no second
            # read of every record (a watch pass after a small change is then one read, not two).
            if merger.gone():
                report.pruned = writer.prune(merger.seen, source.owns)
            else:
                report.seconds["prune"] += 0.0
        else:
            report.gone = merger.gone()
        report.model_loaded = self.encoder_loaded
        plan.close()  # its index file (an error leaves that to the garbage collector)
        report.seconds["total"] = time.perf_counter() - t0
        return report
