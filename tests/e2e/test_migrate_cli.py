"""Issue 17.2 as users run it (Milvus Lite): ``clipvec import`` on a version-1 collection says
how to upgrade it in one line and still imports; ``clipvec migrate`` upgrades it in place, and
a second run finds nothing to do; the stored metadata then comes from the files."""

from __future__ import annotations

import hashlib

import numpy as np
from cli_process import run_clipvec
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
