"""The import plan as the plan tests make it: a folder source, small limits, options passed on."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from clipvec.indexing.plan import Plan, make_plan
from clipvec.indexing.report import ImportReport
from clipvec.sources import FolderSource, Scanned

LIMIT = 1000  # max_file_bytes of these plans


def plan_of(
    store: Any,
    folder: Path,
    report: ImportReport,
    *,
    remember_skips: bool = True,
    scanned: Future[Scanned] | None = None,
    **options: Any,
) -> Plan:
    """``make_plan`` over ``folder`` (max_pixels 100, max_file_bytes ``LIMIT``); ``options``: chunk, in_memory_max."""
    return make_plan(
        store,
        FolderSource(folder),
        scanned,
        report,
        max_pixels=100,
        max_file_bytes=LIMIT,
        remember_skips=remember_skips,
        **options,
    )
