"""``clipvec duplicates`` as users run it: a real import, then the command as a process (Milvus Lite).

One run per outcome (groups found, refused, missing); every option is tested in this process
in tests/unit/cli/test_duplicates_cmd.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_process import run_clipvec

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

SEED = HELD_OUT_SEED_START + 717_000


def test_duplicates_lists_resized_and_reencoded_copies(tmp_path):
    images = tmp_path / "images"
    (images / "trip").mkdir(parents=True)
    for i, (color, shape) in enumerate([("red", "circle"), ("blue", "square"), ("green", "triangle")]):
        picture = draw_shape(color, shape, size=128, seed=SEED + i)
        picture.save(images / "trip" / f"{color}.png")
        picture.resize((96, 96)).save(images / f"{color}_small.jpg", quality=85)
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": str(tmp_path / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    imported = run_clipvec(["import", "--no-progress"], env)
    assert imported.returncode == 0, imported.stderr

    found = run_clipvec(["duplicates", "--threshold", "0.9", "--json"], env)
    assert found.returncode == 0, found.stderr
    answer = json.loads(found.stdout)
    assert answer["images"] == 6 and answer["group_count"] == 3
    groups = sorted([Path(m["path"]).name for m in g["images"]] for g in answer["groups"])
    assert groups == [
        ["blue.png", "blue_small.jpg"],
        ["green.png", "green_small.jpg"],
        ["red.png", "red_small.jpg"],
    ]

    refused = run_clipvec(["duplicates", "--threshold", "1.5"], env)
    assert refused.returncode == 2 and "threshold must be" in refused.stderr
    missing = run_clipvec(["duplicates"], {**env, "CLIPVEC_MILVUS_URI": str(tmp_path / "none.db")})
    assert missing.returncode == 1 and not (tmp_path / "none.db").exists()
