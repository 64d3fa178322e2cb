"""Import on a real two-node Ray cluster against the local importer, on Milvus Lite and the server.

The cluster is two ``ray start`` processes (head + worker, separate raylets, one CPU
each) for the whole module. Each import runs as the user would run it, ``clipvec import
FOLDER [--ray ADDRESS]`` in a child process, so the driver can also be killed.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from milvus_fixtures import drop_collections
from PIL import Image
from ray_cluster import RayCluster, ray_env
from scale_helpers import SEED, shape_bytes

from clipvec.store import ImageRecord, ImageStore

REPO = Path(__file__).resolve().parents[2]
COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle", "star")
N_KILL = 120


@pytest.fixture(scope="module")
def ray_cluster(test_output) -> Iterator[RayCluster]:
    pytest.importorskip("ray", reason="pip install -e '.[ray]'")  # make test installs it
    cluster = RayCluster(nodes=2, cpus_per_node=1, log_dir=test_output)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def make_folder(folder: Path, n: int) -> list[str]:
    """``n`` shapes in several formats, one copy of a file, a broken file and a text file."""
    names = []
    for i in range(n):
        color, shape = COLORS[i % len(COLORS)], SHAPES[i % len(SHAPES)]
        fmt, ext = [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")][i % 3]
        name = f"{color}/{shape}_{i:03d}.{ext}"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(shape_bytes(color, shape, SEED + 3000 + i, fmt, size=64 + i % 5 * 16))
        names.append(name)
    shutil.copy(folder / names[0], folder / "copy_of_first.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    (folder / "readme.txt").write_text("not an image")
    return sorted([*names, "copy_of_first.png"])


def absolute(folder: Path, names: list[str]) -> list[str]:
    """The stored paths of ``names`` in a folder outside the images folder (issue 22.4)."""
    return sorted(f"{folder.resolve()}/{name}" for name in names)


def env_for(uri: str, collection: str, model: Path) -> dict[str, str]:
    return {
        **ray_env(dict(os.environ)),
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_MILVUS_URI": uri,
        "CLIPVEC_COLLECTION": collection,
        "CLIPVEC_PRECISION": "fp32",
        "CLIPVEC_BATCH_SIZE": "8",
        "CLIPVEC_UPSERT_BATCH": "8",
    }


def clipvec(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clipvec", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def records(uri: str, collection: str, model: Path) -> dict[str, ImageRecord]:
    with ImageStore(uri, collection=collection, model_name=str(model), dim=512) as store:
        found = {r.content_hash: r for r in store.iter_records(with_vectors=True)}
        assert store.count() == len(found)
        return found


def test_ray_import_equals_local_import(milvus_backend, ray_cluster, tmp_path, tiny_model_dir):
    uri, collection = milvus_backend
    folder = tmp_path / "images"
    names = make_folder(folder, 30)

    local = clipvec(
        ["import", str(folder), "--no-progress"], env_for(uri, collection + "_local", tiny_model_dir)
    )
    assert local.returncode == 1, local.stderr[-3000:]  # broken.jpg
    # The same folder as the local run found it: without its memory of broken.jpg (which
    # would make it a known-broken reminder, exit 0, in the Ray run).
    (folder / ".clipvec-skipped.json").unlink()
    ray_env = env_for(uri, collection + "_ray", tiny_model_dir)
    ray = clipvec(["import", str(folder), "--no-progress", "--ray", ray_cluster.address], ray_env)
    assert ray.returncode == 1, ray.stderr[-3000:]

    # the same report: counts and the per-file error
    summary = "imported 30, reused 1, unchanged 0, skipped 1 (1 not_image), failed 1, pruned 0"
    assert summary in local.stdout and summary in ray.stdout, (local.stdout, ray.stdout)
    # the count printed after a run with parallel worker writes includes the workers' rows
    assert "the collection holds 30 images" in ray.stdout, ray.stdout
    assert "failed: broken.jpg: " in ray.stderr and "failed: broken.jpg: " in local.stderr

    # the same keys and paths (in the same order), vectors within cosine 0.9999
    want = records(uri, collection + "_local", tiny_model_dir)
    got = records(uri, collection + "_ray", tiny_model_dir)
    assert sorted(want) == sorted(got)
    # tmp_path/images is not the images folder (./images): stored by their absolute paths
    assert sorted(p for r in got.values() for p in r.paths) == absolute(folder, names)
    for key, record in want.items():
        other = got[key]
        assert (other.paths, other.size, other.width, other.height, other.format) == (
            record.paths,
            record.size,
            record.width,
            record.height,
            record.format,
        )
        assert abs(other.mtime - record.mtime) < 1e-3
        cosine = float(np.dot(record.vector, other.vector))
        assert cosine >= 0.9999, (key, record.paths, cosine)

    if milvus_backend.is_lite:
        return  # the rest is the importer's own logic, shared by both backends: once is enough
    # incremental on Ray as well: a rename is a reuse (not an encode), the rest is unchanged
    (folder / names[5]).rename(folder / "renamed.png")
    (folder / "broken.jpg").unlink()
    moved = clipvec(
        ["import", str(folder), "--no-progress", "--ray", ray_cluster.address, "--prune"], ray_env
    )
    assert moved.returncode == 0, moved.stderr[-3000:]
    assert "imported 0, reused 1, unchanged 30," in moved.stdout, moved.stdout
    paths = sorted(p for r in records(uri, collection + "_ray", tiny_model_dir).values() for p in r.paths)
    assert paths == absolute(folder, [*(n for n in names if n != names[5]), "renamed.png"])


def wait_until_partly_stored(proc: subprocess.Popen[str], uri: str, collection: str, model: Path) -> None:
    """Until the workers have stored some records (asked of the server, as often as it answers)."""
    deadline = time.monotonic() + 240
    store = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if store is None:
                try:  # the driver creates the collection first thing
                    store = ImageStore(uri, collection=collection, model_name=str(model), dim=512)
                except Exception:  # noqa: BLE001
                    time.sleep(0.5)
                    continue
            if store.count() > 0:
                return
            time.sleep(0.05)
    finally:
        if store is not None:
            store.close()
    raise AssertionError("the Ray import ended before it was seen writing")


def settled(uri: str, collection: str, model: Path) -> dict[str, ImageRecord]:
    """The stored records once the killed job's workers have stopped writing."""
    previous: dict[str, ImageRecord] | None = None
    while True:
        now = records(uri, collection, model)
        if previous is not None and sorted(now) == sorted(previous):
            return now
        previous = now
        time.sleep(3)


@pytest.mark.server
def test_killed_ray_driver_then_rerun_finishes_exactly(milvus_server, ray_cluster, tmp_path, tiny_model_dir):
    """Workers write to the server in parallel; the driver is SIGKILLed mid-run, then run again."""
    uri, collection = milvus_server.uri, "ray_killed_driver"
    folder = tmp_path / "images"
    folder.mkdir()
    bases = [Image.open(io.BytesIO(shape_bytes(COLORS[k], SHAPES[k % 4], SEED + 5000 + k))) for k in range(6)]
    for i in range(N_KILL):  # larger images: decoding keeps the run going long enough to be killed
        pixels = np.array(bases[i % 6].convert("RGB").resize((512, 512)))
        pixels[0, : i + 1] = 7  # a distinct content per file
        Image.fromarray(pixels).save(folder / f"img_{i:03d}.png")
    names = sorted(p.name for p in folder.iterdir())
    env = {**env_for(uri, collection, tiny_model_dir), "CLIPVEC_BATCH_SIZE": "4"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clipvec",
            "import",
            str(folder),
            "--no-progress",
            "--ray",
            ray_cluster.address,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_partly_stored(proc, uri, collection, tiny_model_dir)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    try:
        partial = settled(uri, collection, tiny_model_dir)
        assert 0 < len(partial) < len(names), "the kill did not land mid-import; nothing was tested"

        # Small batches made the kill land mid-run; the rerun may take big ones (each Ray block of
        # this pipeline costs ~2 s of scheduling and verified writes whatever its size).
        rerun_env = {**env, "CLIPVEC_BATCH_SIZE": "32"}
        rerun = clipvec(["import", str(folder), "--no-progress", "--ray", ray_cluster.address], rerun_env)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        # only what was not stored is encoded again; exactly one entry per image
        assert f"imported {len(names) - len(partial)}, reused 0, unchanged {len(partial)}," in rerun.stdout
        final = records(uri, collection, tiny_model_dir)
        assert sorted(p for r in final.values() for p in r.paths) == absolute(folder, names)
        assert len(final) == len(names)
    finally:
        drop_collections(uri, collection)
