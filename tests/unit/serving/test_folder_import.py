"""The service imports its own images folder (clipvec.serving.folder_import), on a real Lite file.

While a service holds a Milvus Lite file no other process may open it, so ``POST /import``
is how a running service's folder gets imported. Checked here on the worker's core: a run
in the background with progress, one run at a time, the same report as the CLI, a broken
file reported without failing the run, a store that cannot be opened answered at once, and
a shutdown in the middle that keeps what was written.
"""

from __future__ import annotations

import threading
import time

import pytest
from serving_fixtures import jpeg_bytes, open_core, png_bytes, unreachable_uri

from clipvec.errors import StoreUnavailable
from clipvec.search import SearchOptions


def wait_finished(core, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = core.import_status()
        if status["state"] != "running":
            return status
        time.sleep(0.05)
    raise AssertionError(f"the import did not finish: {core.import_status()}")


@pytest.fixture
def core(serving_encoder, tiny_model_dir, tmp_path):
    with open_core(serving_encoder, tiny_model_dir, tmp_path) as core:
        (tmp_path / "images").mkdir()
        yield core


def put(core, name: str, data: bytes) -> None:
    path = core.images.root / name  # the folder source's root
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_imports_the_folder_in_the_background_and_reports_like_the_cli(core):
    assert core.import_status()["state"] == "idle"
    for i in range(5):
        put(core, f"a/photo{i}.jpg", jpeg_bytes(200 + 10 * i, 160, seed=i))
    put(core, "copy.jpg", jpeg_bytes(200, 160, seed=0))  # same bytes as a/photo0.jpg
    put(core, "broken.png", png_bytes((255, 0, 0))[:60])  # a truncated PNG: reported, not fatal
    put(core, "notes.txt", b"not an image")

    started, status = core.import_folder()
    assert started is True and status["state"] == "running" and status["runs"] == 1
    done = wait_finished(core)
    assert done["state"] == "done", done
    assert (done["total"], done["done"]) == (8, 8)
    result = done["result"]
    assert (result["imported"], result["reused"], result["failed"], result["skipped"]) == (5, 1, 1, 1)
    assert result["failures"][0]["path"] == "broken.png"
    assert result["summary"].startswith("imported 5, reused 1, unchanged 0, skipped 1")
    assert done["finished_at"] >= done["started_at"]

    # What the answer says is stored is searchable through the same worker.
    hits = core.search_image(jpeg_bytes(230, 160, seed=3), SearchOptions(top_k=1))["hits"]
    assert hits[0]["path"] == "a/photo3.jpg" and hits[0]["score"] > 0.999
    assert core.collection_info()["count"] == 5

    # A second run reads nothing it already has.
    core.import_folder()
    again = wait_finished(core)
    assert again["runs"] == 2
    assert (again["result"]["imported"], again["result"]["unchanged"]) == (0, 6), again


def test_one_run_at_a_time(core, monkeypatch):
    for i in range(3):
        put(core, f"p{i}.jpg", jpeg_bytes(seed=i))
    release = threading.Event()
    original = core.imports._total

    def held_total(files: int) -> None:  # the run waits after its scan until released
        original(files)
        release.wait(30)

    monkeypatch.setattr(core.imports, "_total", held_total)
    first, _ = core.import_folder()
    second, status = core.import_folder()
    assert (first, second) == (True, False)
    assert status["state"] == "running" and status["runs"] == 1
    release.set()
    assert wait_finished(core)["state"] == "done"


def test_a_store_that_cannot_be_opened_is_answered_at_once(serving_encoder, tiny_model_dir, tmp_path):
    with open_core(
        serving_encoder, tiny_model_dir, tmp_path, milvus_uri=unreachable_uri(), store_timeout=1.0
    ) as core:
        with pytest.raises(StoreUnavailable):
            core.import_folder()
        assert core.import_status()["state"] == "idle"


def test_shutdown_during_a_run_keeps_what_was_written(serving_encoder, tiny_model_dir, tmp_path):
    (tmp_path / "images").mkdir()
    with open_core(serving_encoder, tiny_model_dir, tmp_path, batch_size=2, upsert_batch=2) as core:
        for i in range(12):
            put(core, f"p{i:02}.jpg", jpeg_bytes(seed=i))
        seen = threading.Event()
        original = core.imports._progress

        def progress(files: int) -> None:
            original(files)
            if core.imports.status.done >= 4:
                seen.set()
                time.sleep(0.2)  # slow enough that the stop lands mid-run

        core.imports._progress = progress  # type: ignore[method-assign]
        core.import_folder()
        assert seen.wait(60)
        core.imports.stop()
        status = core.import_status()
        assert status["state"] == "stopped", status
        assert status["error"]["error"] == "stopped"
        stored = core.collection_info()["count"]
        assert 0 < stored < 12

    # A new service on the same file finishes the job.
    with open_core(serving_encoder, tiny_model_dir, tmp_path) as core:
        core.import_folder()
        done = wait_finished(core)
        assert done["state"] == "done", done
        assert done["result"]["imported"] == 12 - stored
        assert core.collection_info()["count"] == 12


def test_serve_watch_passes_are_import_runs_never_two_at_once(serving_encoder, tiny_model_dir, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(jpeg_bytes(200, 160, seed=1))
    with open_core(serving_encoder, tiny_model_dir, tmp_path, watch=True, watch_settle=0.3) as core:
        deadline = time.monotonic() + 120
        while core.import_status()["watch"]["passes"] < 1:  # the start-up pass
            assert time.monotonic() < deadline, core.import_status()
            time.sleep(0.05)
        status = core.import_status()
        assert status["runs"] == 1 and status["result"]["imported"] == 1, status

        put(core, "b.jpg", jpeg_bytes(180, 160, seed=2))
        core.import_folder()  # POST /import while the watcher has a change to index
        most = 0
        while core.collection_info()["count"] < 2 or core.import_status()["watch"]["passes"] < 2:
            assert time.monotonic() < deadline + 120, core.import_status()
            runs = [t for t in threading.enumerate() if t.name == "clipvec-import" and t.is_alive()]
            most = max(most, len(runs))
            time.sleep(0.01)
        assert most <= 1
        assert wait_finished(core)["state"] == "done"
