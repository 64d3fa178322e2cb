"""``clipvec watch`` and ``clipvec serve --watch`` as real processes (issue 19).

A watcher killed with SIGKILL mid-write and restarted catches up exactly (each path's record
is its file's content, nothing doubled or left over); on a Lite file it holds the lock like
an import; the service keeps its images folder indexed while it runs.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from import_process import wait_for_writes

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.store import ImageStore

REPO = Path(__file__).resolve().parents[2]
SEED = HELD_OUT_SEED_START + 900_000
WAIT = 240.0  # a wait on a loaded machine, never an assertion on speed


def draw(path: Path, i: int) -> None:
    colors, shapes = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle")
    draw_shape(colors[i % 4], shapes[i % 3], size=96, seed=SEED + i).save(path)


def watch_env(uri: str, collection: str, model: Path, images: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_IMAGES_DIR": str(images),
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_MILVUS_URI": uri,
        "CLIPVEC_COLLECTION": collection,
        "CLIPVEC_UPSERT_BATCH": "8",
        "CLIPVEC_BATCH_SIZE": "8",
        "CLIPVEC_WATCH_SETTLE": "1",
    }


def start_watch(folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A verbose watcher; its log and its summary lines are read from ``stdout``."""
    return subprocess.Popen(
        [sys.executable, "-m", "clipvec", "-v", "watch", str(folder)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = WAIT) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"no {needle!r} in the watcher's output:\n" + "".join(seen[-30:]))


def stored(uri: str, collection: str, model: Path) -> dict[str, str]:
    """path -> content hash, with each content stored once."""
    with ImageStore(uri, collection=collection, model_name=str(model), dim=512) as store:
        records = list(store.iter_records())
        assert store.count() == len(records)
    paths = [p for r in records for p in r.paths]
    assert len(paths) == len(set(paths)), paths
    return {p: r.content_hash for r in records for p in r.paths}


def on_disk(folder: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in folder.iterdir() if f.is_file()}


def test_killed_watcher_restarted_catches_up_exactly(milvus_backend, tmp_path, tiny_model_dir):
    uri, collection = milvus_backend
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(64):
        draw(folder / f"img_{i:03d}.png", i)
    env = watch_env(uri, collection, tiny_model_dir, folder)

    first = start_watch(folder, env)
    try:
        wait_for_writes(first, writes=2)  # killed in the middle of its start-up pass
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.stdout is not None
        first.stdout.close()
    # While no one watches: files deleted, renamed and added.
    (folder / "img_000.png").unlink()
    (folder / "img_063.png").unlink()
    os.rename(folder / "img_001.png", folder / "renamed.png")
    for i in range(100, 103):
        draw(folder / f"new_{i}.png", i)

    second = start_watch(folder, env)
    try:
        wait_for_line(second, "the collection holds")
        if milvus_backend.is_lite:  # one writer per Lite file: an import beside it is refused
            refused = subprocess.run(
                [sys.executable, "-m", "clipvec", "import", str(folder), "--no-progress"],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=WAIT,
            )
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "in use by another process" in refused.stderr and "Traceback" not in refused.stderr
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0  # a clean stop (its Lite lock released)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(30)
        assert second.stdout is not None
        second.stdout.close()
    assert stored(uri, collection, tiny_model_dir) == on_disk(folder)


@pytest.fixture(scope="module")
def watched_service(services):
    return services.watching("watch", lambda images: draw(images / "seed.png", 200))


def paths_found(svc, probe: Path) -> list[str]:
    answer = requests.post(
        f"{svc.url}/search_image?top_k=5",
        data=probe.read_bytes(),
        headers={"Content-Type": "image/png"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return [hit["path"] for hit in answer.json()["hits"]]


def eventually(check, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.3)


def test_serve_watch_indexes_new_renamed_and_deleted_files(watched_service, tiny_model_dir):
    svc, images = watched_service, watched_service.images
    eventually(lambda: "seed.png" in paths_found(svc, images / "seed.png"), "the start-up pass")

    draw(images / "added.png", 201)
    eventually(lambda: paths_found(svc, images / "added.png")[:1] == ["added.png"], "a new file")
    os.rename(images / "added.png", images / "moved.png")
    eventually(lambda: paths_found(svc, images / "moved.png")[:1] == ["moved.png"], "a renamed file")
    probe = images.parent / "probe.png"
    draw(probe, 200)
    (images / "seed.png").unlink()
    eventually(lambda: "seed.png" not in paths_found(svc, probe), "a deleted file")

    status = requests.post(f"{svc.url}/import_status", timeout=30).json()
    assert status["watch"]["passes"] >= 4 and status["watch"]["state"] == "watching", status

    # One writer per Lite file: the service holds it, an import beside it is refused.
    refused = subprocess.run(
        [sys.executable, "-m", "clipvec", "import", str(images), "--no-progress"],
        cwd=REPO,
        env={**svc.env},
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "in use by another process" in refused.stderr, refused.stderr
