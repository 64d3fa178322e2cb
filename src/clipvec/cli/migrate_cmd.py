"""``clipvec migrate``: upgrade a collection to the current schema in place (issue 17.2).

Exit 0: upgraded, or already current; 1: it could not finish (run it again to resume).
"""

from __future__ import annotations

import sys

from clipvec.settings import Settings


def run_migrate(settings: Settings, *, quiet: bool = False) -> int:
    from clipvec.indexing.migrate import migrate

    where = f"collection {settings.collection!r} at {settings.milvus_uri}"

    def progress(done: int, total: int) -> None:
        if not quiet:
            print(f"migrating: {done}/{total} records", file=sys.stderr, flush=True)

    report = migrate(settings, on_batch=progress)
    if report.already:
        print(f"{where} already has schema version 2 ({report.records} images); nothing to do")
        return 0
    resumed = f", {report.staged_before} staged by an earlier run" if report.staged_before else ""
    print(
        f"migrated {where} to schema version 2: {report.records} images (count checked before and after{resumed}); "
        f"metadata read from {report.read} files, unknown for {report.gone} gone, {report.changed} changed "
        f"and {report.unreadable} unreadable files"
    )
    return 0
