"""``clipvec duplicates [--threshold 0.95] [--path-prefix P] [--limit N] [--json]``.

Groups of stored images at least ``--threshold`` alike (cosine of their vectors):
resized, re-encoded, cropped and burst shots (:mod:`clipvec.search.duplicates`). No model
is loaded: the checkpoint's config.json names the collection, the stored vectors do the
rest. Nothing is deleted. Exit 0 done (with or without groups), 1 the collection is empty
or missing, 2 bad arguments or the store cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import time

from clipvec.cli.reading import open_to_read
from clipvec.model.facts import require_facts
from clipvec.search.duplicates import DuplicateGroup, DuplicateOptions, find_duplicates, iso_date
from clipvec.settings import Settings
from clipvec.store import PATHS_KEPT


def run_duplicates(settings: Settings, args: argparse.Namespace) -> int:
    # Checked before the store opens: a bad flag costs nothing.
    options = DuplicateOptions.checked(args.threshold, args.path_prefix, args.limit)
    threshold, prefix = options.threshold, options.path_prefix

    identity = require_facts(settings.model).identity()
    started = time.perf_counter()
    store = open_to_read(settings, **identity.store_options())
    if store is None:
        return 1
    with store:
        found = find_duplicates(store.iter_records(with_vectors=True), threshold, path_prefix=prefix)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(found.as_json(options, paths_shown=PATHS_KEPT, members_shown=None)))
    else:
        groups = found.groups if options.limit is None else found.groups[: options.limit]
        _print_groups(groups, len(found.groups), found.compared, threshold, seconds)
    return 0


def _print_groups(
    groups: list[DuplicateGroup], total: int, compared: int, threshold: float, seconds: float
) -> None:
    more = f" (the {len(groups)} biggest shown)" if len(groups) < total else ""
    print(
        f"{total} group{'' if total == 1 else 's'} of near-duplicates (cosine >= {threshold:g}) among {compared} images, "
        f"found in {seconds:.1f} s{more}; nothing was deleted."
    )
    for number, group in enumerate(groups, 1):
        print(f"\ngroup {number}: {len(group.records)} images")
        for record in group.records:
            date = (iso_date(record.mtime) or "date unknown")[:19].replace("T", " ")
            size = f"{record.width}x{record.height}"
            line = f"  {size:>11}  {_bytes(record.size):>9}  {record.format:<5}  {date:<19}  {record.path}"
            if len(record.paths) > 1:
                line += f"  (+{len(record.paths) - 1} identical: {', '.join(record.paths[1:4])}"
                line += ", ...)" if len(record.paths) > 4 else ")"
            print(line)


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
