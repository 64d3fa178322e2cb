"""Watch mode (issue 19) over real Milvus (Lite and the 2.3 server): every kind of change.

A ``FolderWatcher`` runs in a thread over a real folder, with the real importer and store;
the test changes the folder and waits (polling, generous timeouts) until the collection
shows the change. The passes' reports say what was read and encoded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from PIL import Image

from clipvec.errors import StoreUnavailable
from clipvec.indexing.importer import Importer
from clipvec.indexing.report import ImportReport
from clipvec.indexing.watcher import FolderWatcher
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.sources import Scanned, open_source
from clipvec.store import ImageStore

SEED = HELD_OUT_SEED_START + 700_000
WAIT = 240.0  # seconds a change may take to show on a loaded machine (a wait, never an assertion on speed)


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=16)


@pytest.fixture
def store(milvus_backend, encoder) -> Iterator[ImageStore]:
    uri, collection = milvus_backend
    with ImageStore(uri, collection=collection, model_name=encoder.name, dim=encoder.dim) as s:
        yield s


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "images"
    path.mkdir()
    return path


class Running:
    """A watcher in a thread, its passes' reports, stopped at the end of the test."""

    def __init__(self, folder: Path, encoder: ClipEncoder, store: ImageStore, settle: float) -> None:
        source = open_source(folder)
        importer = Importer.local(encoder, store, decode_workers=2, batch_size=16, upsert_batch=64)
        self.reports: list[ImportReport] = []

        def run_pass(prune: bool, scanned: Future[Scanned]) -> ImportReport:
            return importer.run(source, prune=prune, scanned=scanned)

        self.watcher = FolderWatcher(
            source, run_pass, settle=settle, interval=1.0, on_pass=self.reports.append
        )
        self.thread = threading.Thread(target=self.watcher.run, daemon=True)
        self.thread.start()

    def wait_passes(self, count: int) -> None:
        eventually(lambda: len(self.reports) >= count and self.idle(), f"{count} passes")

    def idle(self) -> bool:
        """Between passes: the report of the pass that made what the store shows is in ``reports``."""
        return self.watcher.status.state == "watching"

    def until(self, check: Callable[[], bool], what: str) -> None:
        """``check`` holds (the store shows a change) and the pass that made it has ended."""
        eventually(lambda: check() and self.idle(), what)

    def since(self, start: int) -> ImportReport:
        """The passes from ``start`` on, summed."""
        total = ImportReport()
        for r in self.reports[start:]:
            total.imported += r.imported
            total.reused += r.reused
            total.pruned += r.pruned
            total.files_read += r.files_read
            total.failed += r.failed
        return total

    def close(self) -> None:
        self.watcher.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


@pytest.fixture
def watching(folder, encoder, store) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(settle: float = 0.5) -> Running:  # short: each step of a test waits for one settle
        running = Running(folder, encoder, store, settle)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


def shape(path: Path, i: int, color: str = "red", kind: str = "circle") -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_shape(color, kind, size=64, seed=SEED + i).save(path)
    return path.read_bytes()


def by_path(store: ImageStore) -> dict[str, str]:
    """path -> content hash: what the collection holds."""
    return {p: r.content_hash for r in store.iter_records() for p in r.paths}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_follows_create_modify_touch_rename_move_and_delete(folder, store, watching):
    a = shape(folder / "a.png", 1)
    b = shape(folder / "b.png", 2, "blue", "square")
    c = shape(folder / "sub" / "c.png", 3, "green", "star")
    w = watching()
    w.until(
        lambda: by_path(store) == {"a.png": sha(a), "b.png": sha(b), "sub/c.png": sha(c)}, "start-up pass"
    )

    n = len(w.reports)
    d = shape(folder / "d.png", 4, "yellow", "cross")  # created
    w.until(lambda: by_path(store).get("d.png") == sha(d), "created file")
    assert w.since(n).imported == 1

    n = len(w.reports)
    a2 = shape(folder / "a.png", 5, "orange", "triangle")  # content changed: re-encoded
    w.until(lambda: by_path(store).get("a.png") == sha(a2), "modified file")
    assert w.since(n).imported == 1
    assert sha(a) not in by_path(store).values()  # the old content had only this path

    n = len(w.reports)
    os.utime(folder / "b.png", (time.time() + 10, time.time() + 10))  # touched: read, not re-encoded
    w.wait_passes(n + 1)
    assert (w.since(n).imported, by_path(store)["b.png"]) == (0, sha(b))

    n = len(w.reports)
    os.rename(folder / "d.png", folder / "renamed.png")  # the path follows, no encoding
    w.until(lambda: "d.png" not in by_path(store) and by_path(store).get("renamed.png") == sha(d), "rename")
    assert w.since(n).imported == 0

    n = len(w.reports)
    os.rename(folder / "sub", folder / "moved")  # a whole sub-folder
    w.until(lambda: by_path(store).get("moved/c.png") == sha(c) and "sub/c.png" not in by_path(store), "move")
    assert w.since(n).imported == 0

    (folder / "b.png").unlink()  # deleted: pruned, its record gone
    w.until(lambda: "b.png" not in by_path(store), "delete")
    assert by_path(store) == {"a.png": sha(a2), "renamed.png": sha(d), "moved/c.png": sha(c)}
    assert store.count() == 3

    shutil.rmtree(folder / "moved")  # a sub-folder deleted
    w.until(lambda: store.count() == 2, "sub-folder deleted")
    assert set(by_path(store)) == {"a.png", "renamed.png"}


def test_a_file_still_being_written_is_indexed_once_complete(folder, store, watching):
    shape(folder / "first.png", 10)
    w = watching(settle=2.0)
    w.wait_passes(1)
    n = len(w.reports)
    data = shape(folder.parent / "staged.png", 11, "blue", "star")
    with open(folder / "slow.png", "wb") as f:  # written in two parts, a pause shorter than settle
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(0.8)
        f.write(data[len(data) // 2 :])
    w.until(lambda: by_path(store).get("slow.png") == sha(data), "the slow file")
    done = w.since(n)
    assert (done.imported, done.failed, done.files_read) == (1, [], 1)  # read once, whole


def test_a_burst_is_indexed_in_a_few_batched_passes(folder, store, watching):
    shape(folder / "first.png", 30)  # an empty folder is not indexed (it may be an unmounted disk)
    w = watching(settle=2.0)
    w.wait_passes(1)
    n = len(w.reports)
    count = 600  # far more changes than passes: one pass per file would be 600
    for i in range(count):  # tiny distinct images
        Image.new("RGB", (8, 8), (i % 256, (i // 256) % 256, 7)).save(folder / f"burst-{i:04d}.png")
    w.until(lambda: store.count() == count + 1, f"{count} files stored")
    assert w.since(n).imported == count
    # One pass per settled batch of changes, not one per file (the machine may pause the writer).
    assert len(w.reports) - n <= 20


def test_a_folder_removed_or_emptied_keeps_the_collection_then_resumes(folder, store, watching, tmp_path):
    a = shape(folder / "a.png", 20)
    b = shape(folder / "b.png", 21, "blue", "square")
    w = watching()
    w.until(lambda: store.count() == 2, "start-up pass")
    kept = by_path(store)

    away = tmp_path / "away"
    os.rename(folder, away)  # the folder deleted (or its disk gone)
    eventually(lambda: w.watcher.status.state == "unavailable", "the watcher says the folder is missing")
    folder.mkdir()  # an empty mount point: the disk is not mounted
    time.sleep(3)  # several ticks of the watcher, each of which could have pruned
    assert w.watcher.status.state == "unavailable"
    assert by_path(store) == kept

    folder.rmdir()
    os.rename(away, folder)  # back, with a new file made meanwhile
    c = shape(folder / "c.png", 22, "green", "star")
    w.until(lambda: by_path(store) == {"a.png": sha(a), "b.png": sha(b), "c.png": sha(c)}, "resumed")
    eventually(lambda: w.watcher.status.state == "watching", "watching again")


@pytest.mark.server
def test_changes_made_while_milvus_is_down_are_retried_not_lost(folder, encoder, milvus_private_server):
    server = milvus_private_server
    a = shape(folder / "a.png", 40)
    with ImageStore(
        server.uri,
        collection="watched",
        model_name=encoder.name,
        dim=encoder.dim,
        timeout=5.0,
        connect_timeout=5.0,
    ) as store:
        w = Running(folder, encoder, store, settle=0.5)
        try:
            w.until(lambda: by_path(store) == {"a.png": sha(a)}, "start-up pass")
            server.stop()
            b = shape(folder / "b.png", 41, "blue", "square")  # changed while Milvus is down
            eventually(lambda: w.watcher.status.failed >= 1, "a failed pass")
            assert w.watcher.status.state == "retrying"
            server.start()

            def stored_now() -> dict[str, str]:
                try:
                    return by_path(store)
                except StoreUnavailable:  # the server is still loading the collection
                    return {}

            w.until(
                lambda: stored_now() == {"a.png": sha(a), "b.png": sha(b)}, "retried after Milvus is back"
            )
        finally:
            w.close()
