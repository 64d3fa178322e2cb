"""Issue 9 as the user meets it: ``clipvec import`` processes on a full disk, two at once, a no-op run.

The same rules are unit- and integration-tested in process; these run the real command,
its exit code and what it prints on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_process import run_clipvec as cli
from full_disk import fill

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape
from clipvec.store import ImageStore

REPO = Path(__file__).resolve().parents[2]
SEED = HELD_OUT_SEED_START + 930_000


def test_import_on_a_full_disk_exits_2_and_counts_nothing(small_disk, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(6):
        draw_shape("red", "circle", size=64, seed=SEED + i).save(images / f"r{i}.png")
    db = small_disk / "milvus.db"
    env = {"CLIPVEC_MODEL": str(SHAPES_MODEL), "CLIPVEC_MILVUS_URI": str(db)}
    ImageStore(str(db), model_name=str(SHAPES_MODEL), dim=64).close()  # the collection exists
    filler = fill(small_disk)
    done = cli(["import", str(images), "--no-progress"], env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no space left on" in done.stderr and "Milvus Lite" in done.stderr, done.stderr
    assert "imported" not in done.stdout and "Traceback" not in done.stderr
    filler.unlink()
    with ImageStore(str(db), model_name=str(SHAPES_MODEL), dim=64) as store:
        assert store.count() == 0


def test_two_imports_at_once_one_waits_and_both_succeed(tmp_path):
    folders = []
    for k, color in enumerate(("red", "blue")):
        folder = tmp_path / f"images_{color}"
        folder.mkdir()
        for i in range(4):
            draw_shape(color, "square", size=64, seed=SEED + 50 + 10 * k + i).save(folder / f"{color}{i}.png")
        folders.append(folder)
    db = tmp_path / "milvus.db"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": str(db),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "clipvec", "import", str(f), "--no-progress", "--wait", "180"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in folders
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with ImageStore(str(db), model_name=str(SHAPES_MODEL), dim=64) as store:
        assert store.count() == 8


def test_no_op_import_cli_does_not_load_the_model(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        draw_shape("red", "triangle", size=64, seed=SEED + 300 + i).save(folder / f"t{i}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 50)
    env = {"CLIPVEC_MODEL": str(SHAPES_MODEL), "CLIPVEC_MILVUS_URI": str(tmp_path / "milvus.db")}
    first = cli(["-v", "import", str(folder), "--no-progress"], env)
    assert first.returncode == 1 and "imported 3," in first.stdout, first.stderr
    assert first.stderr.count("broken.jpg") == 1, first.stderr  # reported once, not twice
    second = cli(["-v", "import", str(folder), "--no-progress"], env)
    # broken.jpg failed the first run; unchanged, it is a one-line reminder now (issue 22)
    assert second.returncode == 0 and "unchanged 3," in second.stdout, second.stderr
    assert "failed 0," in second.stdout and "skipped: 1 file known to be broken" in second.stderr
    assert "loaded " not in second.stderr, second.stderr  # the encoder logs "loaded <model>"
