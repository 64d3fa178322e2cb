"""The command line as a newcomer meets it (issue 10): quiet, honest, and its data in one place."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

REPO = Path(__file__).resolve().parents[2]


def clipvec(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPVEC_")}
    return subprocess.run(
        [sys.executable, "-m", "clipvec", *args],
        cwd=cwd,
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


def test_model_loading_is_quiet(tmp_path):
    quiet = clipvec(["vectorize", "--text", "a red circle", "--model", str(SHAPES_MODEL)], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["dim"] == 64


def test_import_and_search_are_quiet(tmp_path):
    """Only our own lines: no library notices (milvus-lite's pkg_resources warning) without -v."""
    (tmp_path / "pics").mkdir()
    draw_shape("red", "circle", size=64, seed=HELD_OUT_SEED_START).save(tmp_path / "pics" / "red.png")
    model = ["--model", str(SHAPES_MODEL)]
    imported = clipvec(["import", "pics", "--no-progress", *model], tmp_path)
    assert imported.returncode == 0 and "imported 1," in imported.stdout, imported.stderr
    assert imported.stderr == ""
    found = clipvec(["search", "a red circle", *model], tmp_path)
    assert found.returncode == 0 and "ID: red.png, Score: " in found.stdout, found.stderr
    assert found.stderr == ""


def test_make_model_is_quiet_and_readable_by_the_group(tmp_path):
    made = clipvec(["make-model", "--size", "tiny", "clip"], tmp_path, preexec_fn=lambda: os.umask(0o022))
    assert made.returncode == 0, made.stderr
    assert "torchvision" not in made.stderr and "Writing model shards" not in made.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "clip").iterdir()}
    assert modes["model.safetensors"] == 0o644, modes
    assert set(modes.values()) == {0o644}


def test_make_run_binds_this_machine_only_unless_told(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed-run").touch()

    def dry_run(*extra: str) -> str:
        made = subprocess.run(
            ["make", "-n", "-s", "-C", str(REPO), "run", f"VENV={venv}", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        return made.stdout

    assert "serve --host 127.0.0.1 --port 3000" in dry_run()
    assert "serve --host 0.0.0.0 --port 8080" in dry_run("HOST=0.0.0.0", "PORT=8080")
