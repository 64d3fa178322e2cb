"""Synthetic "coloured shapes" domain for the small trained CLIP in tests/assets/shapes-clip.

Each image shows one filled shape of one colour on a light, sometimes noisy background,
at a random position, scale and slight rotation. Captions read "a red circle". The same
generator trains the model (tools/train_shapes_clip.py), makes fresh held-out images in
the tests and draws ``clipvec demo``'s folder, so keep training and test seeds apart:
training uses seeds below ``HELD_OUT_SEED_START``, tests use seeds at or above it.

The model itself is a test asset of the source checkout, not part of the package:
``SHAPES_MODEL`` is where it lies (missing in an installed wheel, so check ``is_dir()``).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# src/clipvec/model/shapes.py -> the repository root is three folders up from this one.
SHAPES_MODEL = Path(__file__).resolve().parents[3] / "tests" / "assets" / "shapes-clip"

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 30),
    "green": (30, 150, 45),
    "blue": (35, 70, 215),
    "yellow": (235, 205, 25),
    "purple": (135, 45, 175),
    "orange": (245, 130, 15),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")

TEMPLATES: tuple[str, ...] = ("a {color} {shape}", "a photo of a {color} {shape}", "{color} {shape}")

# Seeds >= this are never used for training: tests draw their images from here on.
HELD_OUT_SEED_START = 10_000_000

_SUPERSAMPLE = 4


def caption(color: str, shape: str, template: int = 0) -> str:
    """The caption of one class: template 0 is "a red circle", 1 "a photo of a red circle", 2 "red circle"."""
    if color not in COLORS or shape not in SHAPES:
        raise ValueError(f"unknown class {color!r} {shape!r}")
    return TEMPLATES[template].format(color=color, shape=shape)


def classes() -> list[tuple[str, str]]:
    """Every (colour, shape) pair, in a fixed order (colour-major)."""
    return [(c, s) for c in COLORS for s in SHAPES]


def _rotate(
    points: list[tuple[float, float]], angle: float, cx: float, cy: float
) -> list[tuple[float, float]]:
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + (x - cx) * ca - (y - cy) * sa, cy + (x - cx) * sa + (y - cy) * ca) for x, y in points]


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        h = r * 0.85
        pts = [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    elif shape == "triangle":
        # Equilateral, pointing up, centred on its circumcircle.
        pts = [(cx + r * math.sin(a), cy - r * math.cos(a)) for a in (0, 2 * math.pi / 3, 4 * math.pi / 3)]
    elif shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.42
            a = k * math.pi / 5
            pts.append((cx + rad * math.sin(a), cy - rad * math.cos(a)))
    elif shape == "cross":
        w = r * 0.33
        pts = [
            (cx - w, cy - r), (cx + w, cy - r), (cx + w, cy - w), (cx + r, cy - w),
            (cx + r, cy + w), (cx + w, cy + w), (cx + w, cy + r), (cx - w, cy + r),
            (cx - w, cy + w), (cx - r, cy + w), (cx - r, cy - w), (cx - w, cy - w),
        ]  # fmt: skip
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return _rotate(pts, angle, cx, cy)


def draw_shape(color: str, shape: str, *, size: int = 96, seed: int) -> Image.Image:
    """One RGB image of a ``color`` ``shape``; everything else (place, scale, tilt, background) comes from ``seed``."""
    if color not in COLORS:
        raise ValueError(f"unknown color {color!r}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}")
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)

    # Light background: a near-grey tint, sometimes a gentle gradient, sometimes noise.
    base = rng.uniform(205, 250)
    bg = np.array([base + rng.uniform(-10, 10) for _ in range(3)], dtype=np.float32)
    img = np.broadcast_to(bg, (size, size, 3)).astype(np.float32)
    if rng.random() < 0.3:
        ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32) * rng.uniform(5, 15)
        img = img + (ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None])

    # Shape geometry, drawn supersampled for clean edges, then used as an alpha mask.
    r = rng.uniform(0.18, 0.38) * size
    cx = rng.uniform(r, size - r)
    cy = rng.uniform(r, size - r)
    angle = math.radians(rng.uniform(-15, 15))
    s = _SUPERSAMPLE
    mask = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "circle":
        draw.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)
    else:
        draw.polygon([(x * s, y * s) for x, y in _polygon(shape, cx, cy, r, angle)], fill=255)
    alpha = (
        np.asarray(mask.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)[..., None] / 255.0
    )

    fg = np.array([c + rng.uniform(-12, 12) for c in COLORS[color]], dtype=np.float32)
    img = img * (1.0 - alpha) + fg * alpha
    if rng.random() < 0.5:
        img = img + nrng.normal(0.0, rng.uniform(2, 10), size=img.shape).astype(np.float32)
    return Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB")
