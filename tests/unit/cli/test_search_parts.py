"""Query arithmetic on the command line, in this process (issue 17.5): ``--plus``/``--minus``
texts and ``--like``/``--unlike`` images, on a real import (Milvus Lite, shapes model).

tests/e2e/test_newcomer_cli.py runs one such search as a process.
"""

from __future__ import annotations

import json

import pytest
from cli_scenes import ARITHMETIC_ARGS, draw_circles_and_squares

from clipvec.model.shapes import SHAPES_MODEL


@pytest.fixture
def circles_and_squares(tmp_path, monkeypatch, run_cli) -> None:
    """Red and blue circles and squares, two of each, imported from ./images (the working folder)."""
    draw_circles_and_squares(tmp_path / "images")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPVEC_MODEL", str(SHAPES_MODEL))
    imported = run_cli("import", "--no-progress")
    assert imported.code == 0, imported.err


def hit_names(out: str) -> list[str]:
    return [hit["path"].rsplit("_", 1)[0] for hit in json.loads(out)["hits"]]


def test_minus_and_plus_texts_move_the_query(circles_and_squares, run_cli):
    moved = run_cli("search", *ARITHMETIC_ARGS, "--json")
    assert moved.code == 0, moved.err
    assert hit_names(moved.out) == ["blue_circle"] * 2


def test_like_a_stored_file_uses_its_vector_and_leaves_it_out(circles_and_squares, run_cli):
    like = run_cli("search", "--like", "images/red_square_1.png", "--top-k", "1", "--json")
    assert like.code == 0, like.err
    assert [h["path"] for h in json.loads(like.out)["hits"]] == ["red_square_5.png"]


def test_an_example_that_is_neither_stored_nor_a_file_is_exit_2(circles_and_squares, run_cli):
    missing = run_cli("search", "--like", "nowhere.png")
    assert missing.code == 2
    assert "nowhere.png is neither an image of the collection nor a readable file" in missing.err
