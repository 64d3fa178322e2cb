"""``clipvec demo``: draws the shapes, imports them with the shapes CLIP, then hands over to serve.

The demo is prepared once for the module with ``--no-serve`` (1 image per class); the
hand-over to ``clipvec serve`` is checked with a recording ``os.execvpe``. The real page and
"a red circle" through HTTP are in tests/e2e/test_first_run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from clipvec.cli import demo, main, serve_cmd
from clipvec.model.facts import facts_at_hand
from clipvec.model.shapes import SHAPES_MODEL, classes
from clipvec.store import ImageStore


@dataclass(frozen=True)
class Prepared:
    cwd: Path
    folder: Path
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Prepared:
    """``clipvec demo --dir demo --per-class 1 --no-serve`` run from an empty folder."""
    cwd = tmp_path_factory.mktemp("demo-run")
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("CLIPVEC_")]:
            mp.delenv(name)
        mp.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["demo", "--dir", "demo", "--per-class", "1", "--no-serve"])
    return Prepared(cwd, cwd / "demo", code, out.getvalue(), err.getvalue())


def stored(folder: Path) -> int:
    facts = facts_at_hand(str(SHAPES_MODEL))
    with ImageStore(
        str(folder / "milvus.db"), collection=demo.COLLECTION, model_name=facts.name, dim=facts.dim
    ) as store:
        return store.count()


def test_no_serve_draws_and_imports_every_class_into_its_own_folder(prepared):
    assert prepared.code == 0, prepared.err
    images = prepared.folder / "images"
    assert sorted(p.name for p in images.glob("*.png")) == sorted(f"{c}_{s}_1.png" for c, s in classes())
    assert len(classes()) == 30  # 6 colours x 5 shapes
    lines = prepared.out.splitlines()
    assert lines[0] == f"demo: 30 images of coloured shapes in {images}"
    assert lines[1].startswith(f"{images}: imported 30, reused 0, unchanged 0, skipped 0, failed 0")
    assert lines[1].endswith("; the collection holds 30 images") and len(lines) == 2
    assert prepared.err == ""
    assert sorted(p.name for p in prepared.cwd.iterdir()) == ["demo"]  # nothing outside its folder
    assert {p.name for p in prepared.folder.iterdir()} >= {"images", "milvus.db"}
    assert stored(prepared.folder) == 30


def test_serving_the_demo_hands_its_settings_to_bentoml(prepared, run_cli, monkeypatch, no_model_load):
    """A second run keeps the drawn images, imports nothing new (no model), then execs BentoML."""
    seen: dict[str, object] = {}
    monkeypatch.setattr(serve_cmd.os, "execvpe", lambda file, cmd, env: seen.update(cmd=cmd, env=env))
    monkeypatch.chdir(prepared.cwd)
    result = run_cli("demo", "--dir", "demo", "--per-class", "1", "--host", "0.0.0.0", "--port", "3111")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "imported 0, reused 0, unchanged 30" in lines[1]
    assert lines[2] == (
        'demo: open http://127.0.0.1:3111/ui and search "a red circle" '
        "(the model knows 6 colours and 5 shapes; Ctrl-C stops it)"
    )
    env, cmd = seen["env"], seen["cmd"]
    assert env["CLIPVEC_MODEL"] == str(SHAPES_MODEL)
    assert env["CLIPVEC_MILVUS_URI"] == str(prepared.folder / "milvus.db")
    assert env["CLIPVEC_COLLECTION"] == "shapes_demo"
    assert env["CLIPVEC_IMAGES_DIR"] == str(prepared.folder / "images")
    assert env["CLIPVEC_THUMB_DIR"] == str(prepared.folder / "thumbs")
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[cmd.index("--port") + 1] == "3111"


def test_draw_images_keeps_what_is_there(tmp_path):
    assert demo.draw_images(tmp_path, 1) == 30
    first = tmp_path / "red_circle_1.png"
    first.write_bytes(b"kept")
    assert demo.draw_images(tmp_path, 2) == 60
    assert first.read_bytes() == b"kept" and len(list(tmp_path.iterdir())) == 60


def test_the_demo_needs_the_shapes_model(monkeypatch, tmp_path, capsys):
    missing = tmp_path / "no-checkout" / "shapes-clip"
    monkeypatch.setattr(demo, "SHAPES_MODEL", missing)
    args = argparse.Namespace(dir=tmp_path / "demo", per_class=1, no_serve=True, host="127.0.0.1", port=3000)
    assert demo.run_demo(args, serve=lambda *a: pytest.fail("served")) == 2
    assert capsys.readouterr().err == (
        f"clipvec: the demo needs a source checkout of clipvec ({missing} is missing)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_failed_import_stops_the_demo_before_serving(monkeypatch, tmp_path):
    import clipvec.cli.import_cmd as import_cmd

    monkeypatch.setattr(import_cmd, "run_import", lambda settings, args: 1)
    monkeypatch.setattr(demo, "draw_images", lambda folder, per_class: 0)
    args = argparse.Namespace(dir=tmp_path / "demo", per_class=1, no_serve=False, host="::", port=3000)
    assert demo.run_demo(args, serve=lambda *a: pytest.fail("served")) == 1


def test_demo_settings_keep_everything_in_the_folder(tmp_path):
    settings = demo.demo_settings(tmp_path)
    assert settings.model == str(SHAPES_MODEL) and settings.collection == "shapes_demo"
    assert settings.milvus_uri == str(tmp_path / "milvus.db")
    assert settings.images_dir == str(tmp_path / "images") and settings.thumb_dir == str(tmp_path / "thumbs")
