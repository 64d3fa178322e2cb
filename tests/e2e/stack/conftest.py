"""The full stack (etcd + S3 + Milvus) started by ``tools/stack.sh``, once for this folder.

Every test module here is marked ``stack`` (``pytest -m stack`` runs them alone). The
stack runs on free ports with its data under the session's tmp folder; the fixture stops
it with ``stack.sh down`` and, should that fail, kills the pids it recorded, never
anything else (other Milvus servers run on the same machine).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_process import ServiceProcess
from stack_harness import COLLECTION, COLORS, PER_CLASS, REPO, SHAPE_NAMES, SHAPES_CLIP, Stack, clipvec_env

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    handle = Stack(tmp_path_factory.mktemp("stack"))
    up = handle.sh("up", timeout=600)
    handle.up_output = up.stdout  # type: ignore[attr-defined]
    try:
        yield handle
    finally:
        try:
            handle.sh("down", timeout=180)
        finally:
            handle.kill_all_recorded()


@pytest.fixture(scope="package")
def shapes_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 small coloured shapes named after what they show (red_circle_0.png, ...)."""
    folder = tmp_path_factory.mktemp("stack-images")
    seed = HELD_OUT_SEED_START + 1_300_000
    for color in COLORS:
        for shape in SHAPE_NAMES:
            for i in range(PER_CLASS):
                seed += 1
                draw_shape(color, shape, size=128, seed=seed).save(folder / f"{color}_{shape}_{i}.png")
    return folder


@pytest.fixture(scope="package")
def imported(stack: Stack, shapes_folder: Path) -> subprocess.CompletedProcess[str]:
    """The original import script run against the stack (the README's command)."""
    done = subprocess.run(
        [sys.executable, "milvus_import.py", "--no-progress"],
        cwd=REPO,
        env=clipvec_env(stack, CLIPVEC_IMAGES_DIR=str(shapes_folder)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="package")
def service(stack: Stack, imported, shapes_folder: Path, test_output: Path):
    """``bentoml serve`` on the stack's Milvus, searching the imported shapes."""
    env = {
        "CLIPVEC_MILVUS_URI": stack.uri,
        "CLIPVEC_MODEL": str(SHAPES_CLIP),
        "CLIPVEC_COLLECTION": COLLECTION,
        "CLIPVEC_IMAGES_DIR": str(shapes_folder),
        "CLIPVEC_THREADS": "1",
    }
    log = test_output / "stack-service.log"  # kept after the run (tmp folders rotate)
    log.unlink(missing_ok=True)
    with ServiceProcess(env, log) as svc:
        yield svc
