"""``clipvec demo`` (``make demo``): a one-minute demo that works offline on a fresh clone.

The real CLIP weights cannot be assumed (they come from the Hugging Face hub), so the demo
uses the small CLIP trained on coloured shapes that the tests use
(``tests/assets/shapes-clip``, whose images ``clipvec.model.shapes`` draws): it draws a folder of shapes,
imports it, then serves the search page, where "a red circle" finds the red circles.
Everything goes into one folder (``./demo`` by default), never into the user's data.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, classes, draw_shape
from clipvec.settings import Settings

COLLECTION = "shapes_demo"
# Seeds far from the model's training seeds (clipvec.model.shapes: HELD_OUT_SEED_START and up).
_SEED_OFFSET = 900_000


def draw_images(folder: Path, per_class: int) -> int:
    """Draw ``per_class`` images of every colour and shape into ``folder`` (kept if present)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, (color, shape) in enumerate(classes()):
        for k in range(per_class):
            path = folder / f"{color}_{shape}_{k + 1}.png"
            if not path.exists():
                seed = HELD_OUT_SEED_START + _SEED_OFFSET + index * 1000 + k
                draw_shape(color, shape, size=160, seed=seed).save(path)
            count += 1
    return count


def demo_settings(folder: Path) -> Settings:
    return Settings(
        model=str(SHAPES_MODEL),
        milvus_uri=str(folder / "milvus.db"),
        collection=COLLECTION,
        images_dir=str(folder / "images"),
        thumb_dir=str(folder / "thumbs"),
    )


def run_demo(args: argparse.Namespace, serve: Callable[[Settings, str, int], int]) -> int:
    """Draw, import, then hand over to ``serve`` (which replaces this process)."""
    if not SHAPES_MODEL.is_dir():
        print(
            f"clipvec: the demo needs a source checkout of clipvec ({SHAPES_MODEL} is missing)",
            file=sys.stderr,
        )
        return 2
    folder = args.dir.expanduser().resolve()
    settings = demo_settings(folder)
    count = draw_images(Path(settings.images_dir), args.per_class)
    print(f"demo: {count} images of coloured shapes in {settings.images_dir}", flush=True)

    from clipvec.cli.import_cmd import run_import

    imported = run_import(
        settings,
        argparse.Namespace(folder=Path(settings.images_dir), prune=True, errors_file=None, no_progress=True),
    )
    if imported != 0:
        return imported
    if args.no_serve:
        return 0
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(
        f'demo: open http://{host}:{args.port}/ui and search "a red circle" '
        "(the model knows 6 colours and 5 shapes; Ctrl-C stops it)",
        flush=True,
    )
    return serve(settings, args.host, args.port)
