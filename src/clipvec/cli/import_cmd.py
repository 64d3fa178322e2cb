"""``clipvec import DIR|s3://bucket/prefix [--ray ADDRESS]`` (and ``python3 milvus_import.py``).

Exit 0 all good, 1 some files failed (files that failed in an earlier run and are unchanged
are reminded of, not failed again), 2 could not run. torch and the model are loaded only
when a file needs encoding: a re-import with nothing to do takes the time of the scan and
of reading the collection. The local and the Ray import print the same report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from clipvec.cli.progress import ProgressBar
from clipvec.errors import ClipvecError
from clipvec.indexing.importer import Importer
from clipvec.indexing.plan import gc_paused
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.locations import is_s3_uri
from clipvec.model.facts import facts_at_hand, require_facts
from clipvec.settings import Settings
from clipvec.sources import IMAGES_FOLDER_ROOT, Source, open_source, root_name, scan_ahead
from clipvec.sources.roots import shown_root
from clipvec.store import ImageStore

if TYPE_CHECKING:
    from clipvec.model.encoder import ClipEncoder

SKIPPED_SHOWN = 20  # skipped files listed on stderr; --errors-file has them all
ROOTS_SHOWN = 5  # other folders named when an import adds to a collection that holds them


def run_import(settings: Settings, args: argparse.Namespace) -> int:
    """``clipvec import``: the local import, or the Ray one with ``--ray``."""
    if getattr(args, "ray", None) is not None:
        return _run_ray_import(settings, args)
    source = import_source(settings, args)
    if source is None:
        return 2
    scanned = scan_ahead(source)  # while the store opens
    store, importer = open_local_import(settings, float(getattr(args, "wait", 0) or 0))
    bar = ProgressBar(disabled=getattr(args, "no_progress", False))
    try:
        say_what_it_adds_to(store, source, settings)
        report = importer.run(
            source, prune=args.prune, progress=bar.update, on_total=bar.set_total, scanned=scanned
        )
        total = store.count()
    finally:
        bar.close()
        store.close()
    return print_report(report, source, total, args.errors_file)


def open_local_import(settings: Settings, wait: float = 0.0) -> tuple[ImageStore, Importer]:
    """The store and a local importer for it (``clipvec import`` and ``clipvec watch``).

    ``wait``: how long to wait for a Milvus Lite file another process holds (else StoreLocked).
    """
    # The checkpoint's config.json alone says which collection fits: a re-import with nothing
    # to do never loads the model (seconds). A hub id not cached yet is loaded (downloaded) now.
    facts = facts_at_hand(settings.model)
    identity = facts.identity() if facts else None
    loaded: ClipEncoder | None = None
    if identity is None:
        from clipvec.model.encoder import ClipEncoder

        loaded = ClipEncoder.from_settings(settings)
        identity = loaded.identity

    def load_encoder() -> ClipEncoder:
        from clipvec.model.encoder import ClipEncoder

        encoder = loaded or ClipEncoder.from_settings(settings)
        if (encoder.name, encoder.dim) != (identity.name, identity.dim):
            raise ClipvecError(
                f"model {encoder.name} has dim {encoder.dim}, its config.json said {identity.dim}"
            )
        return encoder

    with gc_paused():  # the scan runs meanwhile
        store = ImageStore.from_settings(settings, **identity.store_options(), lock_wait=wait)
    importer = Importer.local(
        load_encoder,
        store,
        max_pixels=settings.max_pixels,
        decode_workers=settings.resolved_decode_workers(),
        batch_size=settings.batch_size,
        upsert_batch=settings.upsert_batch,
        max_file_bytes=settings.max_file_bytes,
        # Known without the model: the model loads while the first new photos decode.
        preprocessor=facts.preprocessor() if facts is not None and loaded is None else None,
    )
    return store, importer


def _run_ray_import(settings: Settings, args: argparse.Namespace) -> int:
    """Same exits and output as the local import: 0 ok, 1 some files failed, 2 could not run."""
    from clipvec.indexing.ray_cluster import connect, disconnect, root_cause
    from clipvec.indexing.ray_stage import RayStage
    from clipvec.model.checkpoint import resolve_model

    source = import_source(settings, args)
    if source is None:
        return 2
    # The driver needs the model's facts (dimension, preprocessing), never its weights; a hub
    # id not cached yet is downloaded here once, as `clipvec serve` does (ModelLoadError: exit 2).
    if facts_at_hand(settings.model) is None:
        resolve_model(settings.model)
    facts = require_facts(settings.model)
    connect(args.ray, ship_code=settings.ray_ship_code)  # no cluster: nothing opened or created
    try:
        store = ImageStore.from_settings(settings, **facts.identity().store_options())
    except BaseException:
        disconnect()
        raise
    try:
        say_what_it_adds_to(store, source, settings)
        no_progress = getattr(args, "no_progress", False)
        stage = RayStage(
            settings,
            store,
            facts.preprocessor(),
            encoders=settings.ray_encoders,
            decode_cpus=settings.ray_decode_cpus,
            show_progress=not no_progress and sys.stderr.isatty(),
        )
        importer = Importer(
            store,
            stage,
            max_pixels=settings.max_pixels,
            upsert_batch=settings.upsert_batch,
            max_file_bytes=settings.max_file_bytes,
        )
        bar = ProgressBar(disabled=no_progress)
        try:
            report = importer.run(source, prune=args.prune, progress=bar.update, on_total=bar.set_total)
            store.expect_foreign_writes()  # the workers' rows, not only the driver's
            total = store.count()
        except ClipvecError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed Ray task: one clear line, not a traceback
            cause = root_cause(exc)
            if isinstance(cause, ClipvecError):
                raise cause from exc
            first = str(cause).splitlines()[0][:500] if str(cause) else ""
            print(
                f"clipvec: the Ray import stopped: {type(cause).__name__}: {first}"
                "; what was stored is kept, run it again to finish",
                file=sys.stderr,
            )
            return 2
        finally:
            bar.close()
            disconnect()
    finally:
        store.close()
    return print_report(report, source, total, args.errors_file)


def import_source(settings: Settings, args: argparse.Namespace) -> Source | None:
    """The folder or ``s3://`` prefix to import (argument, else CLIPVEC_IMAGES_DIR); None: said why."""
    location = str(args.folder or settings.images_dir)
    if not is_s3_uri(location) and not Path(location).is_dir():
        print(
            f"clipvec: {location} is not a folder (set CLIPVEC_IMAGES_DIR or pass a folder)", file=sys.stderr
        )
        return None
    return open_source(location, settings.images_dir)


def say_what_it_adds_to(store: ImageStore, source: Source, settings: Settings) -> None:
    """On stderr, before a long import: the other folders this collection already holds (issue 22),
    and how to upgrade it when it has an older schema (issue 17; the import still works).

    Folders mix in one collection by design (each record keeps where its file is), but a
    user who imports ``~/Pictures`` should hear that ``./images`` is in there too.
    """
    if store.migrate_hint:
        print(f"clipvec: {store.migrate_hint}", file=sys.stderr)
    this = root_name(source.stored_prefix)
    roots = store.roots()
    others = [shown_root(name, settings.images_dir) for name in roots if name != this]
    if not roots and this != IMAGES_FOLDER_ROOT and (count := store.count()):
        print(
            f"adding {source.display} to collection {store.collection!r}, which holds {count} images "
            "from earlier imports; --collection NAME keeps it apart",
            file=sys.stderr,
        )
    if not others:
        return
    where = ", ".join(others[:ROOTS_SHOWN]) + (
        f" and {len(others) - ROOTS_SHOWN} more" if len(others) > ROOTS_SHOWN else ""
    )
    print(
        f"adding {source.display} to collection {store.collection!r} ({store.count()} images), "
        f"which also holds images from {where}; --collection NAME keeps it apart",
        file=sys.stderr,
    )


def print_report(report: ImportReport, source: Source, total: int, errors_file: Path | None) -> int:
    """Failures and skips on stderr, the summary on stdout; the exit code (1 if any file failed)."""
    for failure in report.failed:
        print(f"failed: {source.below(failure.path)}: {failure.detail}", file=sys.stderr)
    for skip in report.skipped_files[:SKIPPED_SHOWN]:
        print(f"skipped: {source.below(skip.path)}: {skip.reason}: {skip.detail}", file=sys.stderr)
    if report.skipped > SKIPPED_SHOWN:
        print(
            f"skipped: ... and {report.skipped - SKIPPED_SHOWN} more (--errors-file lists all)",
            file=sys.stderr,
        )
    if report.known_broken:
        print(
            f"skipped: {_files(len(report.known_broken))} known to be broken (reported by an earlier run, "
            "unchanged since; they fail again only if changed; --errors-file lists them)",
            file=sys.stderr,
        )
    if report.relocated:
        print(
            f"{_files(report.relocated)} stored by an older clipvec without {source.display}/ "
            "now carry it (the page finds them again)",
            file=sys.stderr,
        )
    if report.gone:
        exist = "exists" if report.gone == 1 else "exist"
        print(f"{_files(report.gone)} no longer {exist}; --prune removes them", file=sys.stderr)
    if errors_file:
        write_errors(errors_file, report.failed, report.skipped_files, report.known_broken, source.below)
    print(f"{source.display}: {report.summary()}; the collection holds {total} images")
    return 1 if report.failed else 0


def _files(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")


def write_errors(
    path: Path,
    failures: Iterable[FileFailure],
    skipped: Iterable[FileFailure] = (),
    known_broken: Iterable[FileFailure] = (),
    shown: Callable[[str], str] = str,
) -> None:
    """JSON lines: ``{"path", "error", "detail", "status": "failed" | "skipped" | "known_broken"}``."""
    with open(path, "w", encoding="utf-8") as f:
        for status, items in (("failed", failures), ("skipped", skipped), ("known_broken", known_broken)):
            for item in items:
                line = {
                    "path": shown(item.path),
                    "error": item.reason,
                    "detail": item.detail,
                    "status": status,
                }
                f.write(json.dumps(line) + "\n")
