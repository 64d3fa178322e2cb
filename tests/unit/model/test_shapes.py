"""The coloured-shapes domain: one generator for training, tests and the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipvec.model.shapes import (
    COLORS,
    HELD_OUT_SEED_START,
    SHAPES,
    SHAPES_MODEL,
    TEMPLATES,
    caption,
    classes,
    draw_shape,
)


def test_the_model_folder_is_the_committed_checkpoint():
    assert Path(__file__).resolve().parents[2] / "assets" / "shapes-clip" == SHAPES_MODEL
    assert (SHAPES_MODEL / "config.json").is_file() and (SHAPES_MODEL / "model.safetensors").is_file()


def test_classes_are_every_colour_and_shape_colour_major():
    cls = classes()
    assert len(cls) == len(COLORS) * len(SHAPES) == 30
    assert cls[: len(SHAPES)] == [("red", shape) for shape in SHAPES]
    assert len(set(cls)) == len(cls)


def test_captions_follow_the_templates():
    assert [caption("red", "circle", t) for t in range(len(TEMPLATES))] == [
        "a red circle",
        "a photo of a red circle",
        "red circle",
    ]
    with pytest.raises(ValueError, match="unknown class"):
        caption("pink", "circle")


def test_a_seed_draws_the_same_image_and_another_seed_another():
    first = np.asarray(draw_shape("blue", "star", size=64, seed=HELD_OUT_SEED_START))
    again = np.asarray(draw_shape("blue", "star", size=64, seed=HELD_OUT_SEED_START))
    other = np.asarray(draw_shape("blue", "star", size=64, seed=HELD_OUT_SEED_START + 1))
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_shape_is_drawn_in_its_colour(shape):
    pixels = np.asarray(draw_shape("red", shape, size=96, seed=HELD_OUT_SEED_START + 5)).astype(int)
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    assert 0.02 < red.mean() < 0.6  # a filled shape on a light background


def test_unknown_colours_and_shapes_are_refused():
    with pytest.raises(ValueError, match="unknown color"):
        draw_shape("pink", "circle", seed=HELD_OUT_SEED_START)
    with pytest.raises(ValueError, match="unknown shape"):
        draw_shape("red", "hexagon", seed=HELD_OUT_SEED_START)
