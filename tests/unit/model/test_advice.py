"""The one message for a model that cannot load."""

from __future__ import annotations

from pathlib import Path

from clipvec.model import shapes
from clipvec.model.advice import model_help

REPO = Path(__file__).resolve().parents[3]


def test_the_message_says_what_went_wrong_then_the_ways_out(monkeypatch):
    monkeypatch.chdir(REPO)
    lines = model_help("org/clip", "it is not in the cache. ").splitlines()
    assert lines[0] == "cannot load the CLIP model 'org/clip': it is not in the cache."
    assert "clipvec make-model ./random-clip && CLIPVEC_MODEL=./random-clip make run" in lines[3]
    assert "CLIPVEC_MODEL=tests/assets/shapes-clip make run   (or: make demo)" in lines[4]  # relative to here
    assert lines[-1].startswith("Online, CLIPVEC_MODEL may also be a Hugging Face id")


def test_the_shapes_model_is_shown_absolute_from_elsewhere_and_left_out_when_missing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert f"CLIPVEC_MODEL={shapes.SHAPES_MODEL} make run" in model_help("m", "why")
    monkeypatch.setattr(shapes, "SHAPES_MODEL", tmp_path / "not-installed")  # a wheel has no tests/
    text = model_help("m", "why")
    assert "shapes" not in text and len(text.splitlines()) == 5
