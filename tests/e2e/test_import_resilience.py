"""A real import process killed with SIGKILL, and Milvus failing under it: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from import_process import run_import, start_import, wait_for_writes
from milvus_server import MilvusServer

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.store import ImageStore

REPO = Path(__file__).resolve().parents[2]
N_IMAGES = 96


@pytest.fixture
def folder(tmp_path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    colors, shapes = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle")
    for i in range(N_IMAGES):
        draw_shape(colors[i % 4], shapes[i % 3], size=160, seed=HELD_OUT_SEED_START + 800_000 + i).save(
            images / f"img_{i:03d}.png"
        )
    return images


def import_env(uri: str, collection: str, model: Path, images: Path) -> dict[str, str]:
    """The import of ``images`` as the images folder: its files are stored by their names."""
    return {
        **os.environ,
        "CLIPVEC_IMAGES_DIR": str(images),
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_MILVUS_URI": uri,
        "CLIPVEC_COLLECTION": collection,
        "CLIPVEC_UPSERT_BATCH": "8",
        "CLIPVEC_BATCH_SIZE": "8",
    }


def stored_names(uri: str, collection: str, model: Path) -> list[str]:
    with ImageStore(uri, collection=collection, model_name=str(model), dim=512) as store:
        records = list(store.iter_records())
        assert store.count() == len(records)
        return sorted(p for r in records for p in r.paths)


def test_sigkill_then_rerun_finishes_exactly(milvus_backend, folder, base_model_dir):
    uri, collection = milvus_backend
    env = import_env(uri, collection, base_model_dir, folder)
    proc = start_import(folder, env)
    wait_for_writes(proc, writes=2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    partial = stored_names(uri, collection, base_model_dir)
    assert len(partial) < N_IMAGES, "the import finished before it was killed; nothing was tested"
    assert len(partial) == len(set(partial))

    rerun = run_import(folder, env)
    assert rerun.returncode == 0, rerun.stderr
    # only what was not stored is encoded again
    assert f"imported {N_IMAGES - len(partial)}," in rerun.stdout, (len(partial), rerun.stdout)
    assert stored_names(uri, collection, base_model_dir) == sorted(
        f"img_{i:03d}.png" for i in range(N_IMAGES)
    )


def kill_hard(server: MilvusServer) -> None:
    """SIGKILL the whole server, as a crash or an OOM kill would."""
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    server.stop()  # tidy the harness state; the process is already gone


@pytest.mark.server
def test_milvus_dying_mid_import_is_a_clear_failure_and_repairable(
    folder, base_model_dir, milvus_private_server
):
    server = milvus_private_server
    env = import_env(server.uri, "dying", base_model_dir, folder)
    proc = start_import(folder, env)
    wait_for_writes(proc, writes=1)
    kill_hard(server)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 2, out[-2000:]
    assert server.uri.split("//")[1] in out or "Milvus" in out, out[-2000:]
    assert "Traceback" not in out, out[-3000:]

    down = subprocess.run(
        [sys.executable, "-m", "clipvec", "import", str(folder)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert down.returncode == 2 and "Traceback" not in down.stderr, down.stderr[-2000:]

    server.start()
    rerun = run_import(folder, env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert stored_names(server.uri, "dying", base_model_dir) == sorted(
        f"img_{i:03d}.png" for i in range(N_IMAGES)
    )
