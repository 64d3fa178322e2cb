"""An import whose model cannot load while it already decodes (issue 20.1: the model loads in a thread).

The run stops with the model's message once and exit 2, and no photo is remembered as broken:
once the model is fixed, the next import imports them. (Before, every new photo failed with
the model's message, exit 1, and the skip memory kept them as broken files, never imported
again while unchanged.)
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
from import_process import run_import
from PIL import Image

SKIP_MEMORY = ".clipvec-skipped.json"


def test_a_model_that_fails_to_load_stops_the_import_and_poisons_no_photo(tiny_model_dir, tmp_path):
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    broken = {**config, "vision_config": {**config["vision_config"], "intermediate_size": 65}}
    (model / "config.json").write_text(json.dumps(broken))  # weights of another shape: the load fails
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(photos / f"{i}.jpg")
    env = {
        **os.environ,
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_MILVUS_URI": str(tmp_path / "m.db"),
        "HF_HUB_OFFLINE": "1",
    }

    failed = run_import(photos, env)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert failed.stderr.count("cannot load the CLIP model") == 1, failed.stderr
    assert "Ways out" in failed.stderr
    remembered = (
        json.loads((photos / SKIP_MEMORY).read_text())["files"] if (photos / SKIP_MEMORY).exists() else {}
    )
    assert remembered == {}

    (model / "config.json").write_text(json.dumps(config))  # the model fixed (another one: a new collection)
    fixed = run_import(photos, {**env, "CLIPVEC_COLLECTION": "fixed"})
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "imported 3," in fixed.stdout
