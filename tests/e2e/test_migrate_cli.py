"""Issue 17.2 as users run it (Milvus Lite): ``clipvec import`` on a version-1 collection says
how to upgrade it in one line and still imports; ``clipvec migrate`` upgrades it in place, and
a second run finds nothing to do; the stored metadata then comes from the files."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys

import numpy as np
from cli_process import REPO, run_clipvec
from photo_corpus import photos
from v1_collection import create_v1_collection

from clipvec.model.facts import require_facts
from clipvec.model.shapes import SHAPES_MODEL
from clipvec.store import ImageRecord, ImageStore

PICKED = ["canon_paris.jpg", "nikon_sydney.tif", "phone_quito.png", "no_exif.webp"]


def test_import_hints_and_migrate_upgrades(tmp_path):
    facts = require_facts(str(SHAPES_MODEL))
    images, db = tmp_path / "images", tmp_path / "milvus.db"
    images.mkdir()
    corpus = {p.name: p for p in photos()}
    vectors = np.random.default_rng(3).standard_normal((len(PICKED), facts.dim)).astype(np.float32)
    records = []
    for i, name in enumerate(PICKED):
        data = corpus[name].data
        (images / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        records.append(
            ImageRecord(
                digest, [name], len(data), 1.0, 48, 40, "JPEG", vectors[i] / np.linalg.norm(vectors[i])
            )
        )
    create_v1_collection(str(db), "images", records, model=facts.name, dim=facts.dim)
    (images / "lens_only.jpg").write_bytes(corpus["zero_date.jpg"].data)  # new: imported as a version-1 row
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": str(db),
        "CLIPVEC_IMAGES_DIR": str(images),
    }

    imported = run_clipvec(["import", "--no-progress"], env)
    assert imported.returncode == 0, imported.stderr
    hints = [line for line in imported.stderr.splitlines() if "clipvec migrate" in line]
    assert hints == [
        "clipvec: collection 'images' has schema version 1: run `clipvec migrate` to add date, camera, "
        "lens and place to its records (no re-encoding)"
    ]

    migrated = run_clipvec(["migrate", "--no-progress"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated collection 'images'" in migrated.stdout and "5 images" in migrated.stdout
    assert "metadata read from 5 files" in migrated.stdout

    with ImageStore(str(db), collection="images", **facts.identity().store_options()) as store:
        assert store.schema_version == 2 and store.count() == 5
        stored = {r.path: r.meta for r in store.iter_records()}
    assert stored == {
        **{n: corpus[n].expect for n in PICKED},
        "lens_only.jpg": corpus["zero_date.jpg"].expect,
    }

    again = run_clipvec(["migrate"], env)
    assert again.returncode == 0 and "already has schema version 2 (5 images)" in again.stdout
    plain = run_clipvec(["import", "--no-progress"], env)
    assert plain.returncode == 0 and "clipvec migrate" not in plain.stderr


def test_a_killed_migration_resumes(milvus_backend, tmp_path):
    """``clipvec migrate`` SIGKILLed after its first written batch, then run again (Lite and server)."""
    facts = require_facts(str(SHAPES_MODEL))
    images = tmp_path / "images"
    images.mkdir()
    photo = photos()[0]
    (images / photo.name).write_bytes(photo.data)
    vectors = np.random.default_rng(4).standard_normal((700, facts.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [
        ImageRecord(hashlib.sha256(photo.data).hexdigest(), [photo.name], 1, 1.0, 48, 40, "JPEG", vectors[0])
    ]
    records += [
        ImageRecord(f"{i:064x}", [f"gone/{i}.jpg"], 1, 1.0, 4, 4, "JPEG", vectors[i]) for i in range(1, 700)
    ]
    uri, collection = milvus_backend
    create_v1_collection(uri, collection, records, model=facts.name, dim=facts.dim)
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": uri,
        "CLIPVEC_COLLECTION": collection,
        "CLIPVEC_IMAGES_DIR": str(images),
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "clipvec", "migrate"],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stderr is not None
        seen: list[str] = []
        while not any("migrating:" in line for line in seen):
            line = first.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        if first.stderr is not None:
            first.stderr.close()
    again = run_clipvec(["migrate", "--no-progress"], env)
    assert again.returncode == 0, again.stderr
    assert "700 images (count checked before and after" in again.stdout
    counts = re.search(
        r"(\d+) staged by an earlier run\); metadata read from (\d+) files, unknown for (\d+) gone",
        again.stdout,
    )
    assert counts, again.stdout
    staged, read, gone = map(int, counts.groups())
    assert staged >= 256 and staged + read + gone == 700  # what the killed run staged is not read again
    with ImageStore(uri, collection=collection, **facts.identity().store_options()) as store:
        assert store.schema_version == 2 and store.count() == 700
        assert store.get_by_path(photo.name).meta == photo.expect
