"""``clipvec drop``: delete a collection, after asking (how a collection of another model is started over)."""

from __future__ import annotations

import sys

from clipvec.settings import Settings


def run_drop(settings: Settings, yes: bool) -> int:
    """Exit 0 dropped, 1 kept or absent."""
    from clipvec.store import drop_collection

    where = f"collection {settings.collection!r} at {settings.milvus_uri}"

    def confirm(count: int | None) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            print(f"clipvec: not deleting {where} without --yes (no terminal to ask)", file=sys.stderr)
            return False
        held = "an unknown number of" if count is None else str(count)
        answer = input(f"Delete {where} with {held} images? The image files stay. [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    if drop_collection(
        settings.milvus_uri, settings.collection, token=settings.milvus_token, confirm=confirm
    ):
        print(f"deleted {where}")
        return 0
    print(f"{where}: nothing deleted")
    return 1
