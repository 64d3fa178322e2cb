"""The one message for a model that cannot load."""

from __future__ import annotations

from pathlib import Path

from clipvec.model import advice, shapes
from clipvec.model.advice import model_help
from clipvec.shell import shown_command

REPO = Path(__file__).resolve().parents[3]


def test_the_message_says_what_went_wrong_then_the_ways_out(monkeypatch):
    monkeypatch.chdir(REPO)
    lines = model_help("org/clip", "it is not in the cache. ").splitlines()
    assert lines[0] == "cannot load the CLIP model 'org/clip': it is not in the cache."
    clipvec = shown_command()
    assert (
        f"{clipvec} make-model ./random-clip && {clipvec} init --model ./random-clip && make run" in lines[3]
    )
    assert (
        f"{clipvec} init --model tests/assets/shapes-clip && make run   (or: make demo)" in lines[4]
    )  # relative
    assert lines[-1].startswith("For one run: CLIPVEC_MODEL=... or --model. Online, the model may also be")


def test_the_shapes_model_is_shown_absolute_from_elsewhere_and_left_out_when_missing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert f"init --model {shapes.SHAPES_MODEL} && make run" in model_help("m", "why")
    monkeypatch.setattr(shapes, "SHAPES_MODEL", tmp_path / "not-installed")  # a wheel has no tests/
    text = model_help("m", "why")
    assert "shapes" not in text and len(text.splitlines()) == 5


def test_the_ways_out_run_as_printed_and_stick(monkeypatch, tmp_path):
    """The commands name the clipvec that runs from here, and write clipvec.toml (init)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(advice, "shown_command", lambda name="clipvec": ".venv/bin/clipvec")
    text = model_help("m", "why")
    assert (
        ".venv/bin/clipvec make-model ./random-clip && .venv/bin/clipvec init --model ./random-clip && make run"
        in text
    )
    assert "CLIPVEC_MODEL=./random-clip make run" not in text  # that lasted one run
    (tmp_path / "clipvec.toml").write_text('model = "./broken"\n')
    assert ".venv/bin/clipvec init --force --model ./random-clip" in model_help("m", "why")
