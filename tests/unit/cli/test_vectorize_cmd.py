"""``clipvec vectorize --text T | --image FILE`` in this process, with the small shapes CLIP."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clipvec.images import prepare_image
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

MODEL = ["--model", str(SHAPES_MODEL)]


@pytest.fixture(scope="module")
def encoder() -> ClipEncoder:
    return ClipEncoder.load(str(SHAPES_MODEL))


def test_text_vector_as_json(run_cli, encoder):
    """The in-process half of tests/e2e/test_newcomer_cli.py::test_model_loading_is_quiet.

    (Library warnings and log records do not reach capsys' stderr here; the process test sees them.)
    """
    result = run_cli("vectorize", "--text", "a red circle", *MODEL)
    assert result.code == 0, result.err
    assert result.err == ""
    answer = json.loads(result.out)
    assert set(answer) == {"vector", "dim", "model", "truncated"}
    assert answer["dim"] == 64 and len(answer["vector"]) == 64
    assert answer["model"] == encoder.shown_name and answer["truncated"] is False
    assert np.linalg.norm(answer["vector"]) == pytest.approx(1.0, abs=1e-3)
    expected, _ = encoder.encode_text("a red circle")
    assert np.allclose(answer["vector"], expected, atol=1e-5)


def test_a_text_longer_than_the_context_is_cut_and_says_so(run_cli):
    result = run_cli("vectorize", "--text", " ".join(["red"] * 200), *MODEL)
    assert result.code == 0 and json.loads(result.out)["truncated"] is True


def test_image_vector_as_json_equals_the_encoder_s(run_cli, encoder, tmp_path):
    path = tmp_path / "circle.png"
    draw_shape("red", "circle", size=80, seed=HELD_OUT_SEED_START + 810_000).save(path)
    result = run_cli("vectorize", "--image", path, *MODEL)
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert set(answer) == {"vector", "dim", "model", "format"}
    assert answer["format"] == "PNG" and answer["dim"] == 64
    prepared = prepare_image(path.read_bytes(), encoder.preprocessor, max_pixels=100_000_000)
    expected = encoder.encode_pixels(prepared.pixels[None])[0]
    assert np.allclose(answer["vector"], expected, atol=1e-5)


@pytest.mark.parametrize("text", ["", "  \n"])
def test_an_empty_text_is_exit_2_without_a_model(text, run_cli, no_model_load):
    result = run_cli("vectorize", "--text", text, *MODEL)
    assert (result.code, result.out, result.err) == (2, "", "clipvec: the text is empty\n")


def test_an_unreadable_image_is_exit_2(run_cli, tmp_path):
    result = run_cli("vectorize", "--image", tmp_path / "gone.png", *MODEL)
    assert result.code == 2 and result.out == ""
    assert result.err == f"clipvec: cannot read {tmp_path / 'gone.png'}: No such file or directory\n"


def test_a_file_that_is_not_an_image_is_one_line_exit_2(run_cli, tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list\n")
    result = run_cli("vectorize", "--image", path, *MODEL)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: ") and result.err.count("\n") == 1, result.err


def test_an_image_over_max_pixels_is_refused(run_cli, tmp_path):
    path = tmp_path / "big.png"
    draw_shape("blue", "square", size=64, seed=HELD_OUT_SEED_START + 810_001).save(path)
    result = run_cli("vectorize", "--image", path, "--max-pixels", "100", *MODEL)
    assert result.code == 2 and result.out == "" and result.err.startswith("clipvec: "), result.err


def test_a_model_that_cannot_load_is_exit_2(run_cli, tmp_path):
    result = run_cli("vectorize", "--text", "a dog", "--model", tmp_path / "no-model")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("clipvec: cannot load the CLIP model"), result.err


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ([], "one of the arguments --text --image is required"),
        (["--text", "a", "--image", "b.png"], "argument --image: not allowed with argument --text"),
    ],
)
def test_exactly_one_of_text_and_image(args, complaint, run_cli, capsys, no_model_load):
    with pytest.raises(SystemExit) as exited:
        run_cli("vectorize", *args)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err
