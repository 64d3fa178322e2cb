"""Images for the scale-out tests: coloured shapes as bytes, in several formats."""

from __future__ import annotations

import io

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape

SEED = HELD_OUT_SEED_START + 1_200_000


def shape_bytes(color: str, shape: str, seed: int, fmt: str = "PNG", size: int = 96) -> bytes:
    buf = io.BytesIO()
    draw_shape(color, shape, size=size, seed=seed).save(buf, fmt)
    return buf.getvalue()


ITEMS = [
    ("red_circle.png", "red", "circle", "PNG"),
    ("blue_square.jpg", "blue", "square", "JPEG"),
    ("sub/green_star.png", "green", "star", "PNG"),
    ("sub/deeper/yellow_cross.webp", "yellow", "cross", "WEBP"),
    ("orange_triangle.bmp", "orange", "triangle", "BMP"),
]


def item_bytes(index: int) -> bytes:
    _, color, shape, fmt = ITEMS[index]
    return shape_bytes(color, shape, SEED + index, fmt)
