"""Folders and commands that a command-line test sets up both in-process (tests/unit/cli) and
as processes (tests/e2e), so that the two tiers check the same scene the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape

COPIES_SEED = HELD_OUT_SEED_START + 717_000
# What `clipvec duplicates --threshold 0.9` groups in write_resized_copies' folder.
COPY_GROUPS = [
    ["blue.png", "blue_small.jpg"],
    ["green.png", "green_small.jpg"],
    ["red.png", "red_small.jpg"],
]
# `clipvec search` moved from red circles towards blue ones: two blue circles come first.
ARITHMETIC_ARGS = ["a red circle", "--minus", "a red square", "--plus", "a blue square", "--top-k", "2"]


def write_resized_copies(images: Path) -> None:
    """Three shapes in ``images/trip/`` and a smaller JPEG copy of each in ``images/``."""
    (images / "trip").mkdir(parents=True)
    for i, (color, shape) in enumerate([("red", "circle"), ("blue", "square"), ("green", "triangle")]):
        picture = draw_shape(color, shape, size=128, seed=COPIES_SEED + i)
        picture.save(images / "trip" / f"{color}.png")
        picture.resize((96, 96)).save(images / f"{color}_small.jpg", quality=85)


def copy_groups(answer: dict[str, Any]) -> list[list[str]]:
    """The file names of each group of a ``duplicates --json`` answer, sorted."""
    return sorted([Path(m["path"]).name for m in g["images"]] for g in answer["groups"])


def draw_circles_and_squares(images: Path) -> None:
    """Red and blue circles and squares, two of each: ``{color}_{shape}_{i}.png``."""
    images.mkdir(parents=True, exist_ok=True)
    for i, (color, shape) in enumerate([(c, s) for c in ("red", "blue") for s in ("circle", "square")] * 2):
        draw_shape(color, shape, size=64, seed=HELD_OUT_SEED_START + 40 + i).save(
            images / f"{color}_{shape}_{i}.png"
        )
