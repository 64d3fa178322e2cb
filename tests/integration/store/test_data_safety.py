"""Issue 9: stored data is never lost, hidden or mixed (full disk, the Lite lock, damaged files,
odd names, huge non-images, no-op re-imports, starting over). Real Milvus Lite, and the
2.3.5 server where the case applies to it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from cli_process import run_clipvec as cli
from full_disk import fill

from clipvec.cli.import_cmd import write_errors
from clipvec.errors import ModelMismatch, StorageFull, StoreDamaged, StoreLocked
from clipvec.indexing.importer import Importer
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape
from clipvec.sources import escape_path, unescape_path
from clipvec.store import ImageRecord, ImageStore

REPO = Path(__file__).resolve().parents[3]
SEED = HELD_OUT_SEED_START + 930_000
DIM = 8


def records(start: int, n: int, dim: int = DIM) -> list[ImageRecord]:
    rng = np.random.default_rng(start)
    return [
        ImageRecord(f"h{i:06d}", [f"p{i}.png"], 1, 1.0, 1, 1, "PNG", rng.random(dim, dtype=np.float32))
        for i in range(start, start + n)
    ]


# ---------------------------------------------------------------------- 1. full disk
@pytest.mark.parametrize("precheck", [True, False], ids=["space-check", "read-back"])
def test_full_disk_write_is_an_error_never_a_lost_success(small_disk, precheck):
    db = small_disk / "milvus.db"
    with ImageStore(str(db), model_name="m", dim=DIM) as store:
        store.upsert(records(0, 30))
        filler = fill(small_disk)
        if not precheck:  # Lite's own failure, only seen by reading the file back
            store._writer.check_space = lambda size: None
        for attempt in range(3):
            with pytest.raises(StorageFull) as err:
                store.upsert(records(100 + 10 * attempt, 10))
            assert "no space left on" in err.value.detail and "Milvus Lite" in err.value.detail
            assert err.value.status == 507 and err.value.code == "storage_full"
    filler.unlink()
    with ImageStore(str(db), model_name="m", dim=DIM) as store:
        assert store.count() == 30  # exactly what was acknowledged
        store.upsert(records(200, 5))  # space again: writes work again
        assert store.count() == 35


# ---------------------------------------------------------------------- 2. the Lite lock
HOLDER = """
import sys
from clipvec.store import ImageStore
s = ImageStore(sys.argv[1], model_name="m", dim=8)
s.upsert([__import__("clipvec.store").store.ImageRecord("held", ["held.png"], 1, 1.0, 1, 1, "PNG", [0.5] * 8)])
print("open", flush=True)
sys.stdin.read()
s.close()
"""


@contextlib.contextmanager
def holder(db: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "open"
        yield proc
    finally:
        if proc.poll() is None:
            proc.communicate("", timeout=60)


def test_second_opener_is_refused_every_time(tmp_path):
    db = tmp_path / "milvus.db"
    with holder(db):
        for _ in range(3):  # milvus-lite alone let the second try in, beside the holder
            with pytest.raises(StoreLocked) as err:
                ImageStore(str(db), model_name="m", dim=DIM, connect_timeout=3)
            assert "in use by another process (pid" in err.value.detail and "--wait" in err.value.detail
        assert db.exists()
    with ImageStore(str(db), model_name="m", dim=DIM) as store:  # the holder is gone: it opens
        assert store.count() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["milvus.db"]  # no lock files left


def test_a_waiting_opener_gets_in_when_the_holder_leaves(tmp_path):
    db = tmp_path / "milvus.db"
    opened: list[int] = []
    with holder(db) as proc:

        def wait_and_open() -> None:
            with ImageStore(str(db), model_name="m", dim=DIM, lock_wait=120) as store:
                opened.append(store.count())

        waiter = threading.Thread(target=wait_and_open)
        waiter.start()
        time.sleep(2)
        assert not opened and waiter.is_alive()
        proc.stdin.close()
        proc.wait(timeout=60)
    waiter.join(timeout=120)
    assert opened == [1]


# ---------------------------------------------------------------------- 3. damaged Lite files
def damaged_copy(tmp_path: Path) -> Path:
    db = tmp_path / "milvus.db"
    with ImageStore(str(db), model_name="m", dim=DIM) as store:
        store.upsert(records(0, 61))
    size = db.stat().st_size
    with open(db, "r+b") as f:  # overwrite pages in the middle of the file
        f.seek(size // 2)
        f.write(bytes(range(256)) * 32)
    return db


def test_damaged_lite_file_is_an_error_never_an_empty_collection(tmp_path):
    db = damaged_copy(tmp_path)
    before = db.read_bytes()
    with pytest.raises(StoreDamaged) as err:
        ImageStore(str(db), model_name="m", dim=DIM)
    assert "is damaged" in err.value.detail and "Restore a copy" in err.value.detail
    assert err.value.status == 503
    assert db.read_bytes() == before  # nothing was written to it

    env = {"CLIPVEC_MODEL": str(SHAPES_MODEL), "CLIPVEC_MILVUS_URI": str(db)}
    imported = cli(["import", str(tmp_path)], env)
    assert imported.returncode == 2 and "is damaged" in imported.stderr, imported.stderr
    assert "Traceback" not in imported.stderr and db.read_bytes() == before


def test_zero_byte_lite_file_is_refused(tmp_path):
    db = tmp_path / "milvus.db"
    db.touch()
    with pytest.raises(StoreDamaged) as err:
        ImageStore(str(db), model_name="m", dim=DIM)
    assert "0 bytes" in err.value.detail
    assert db.stat().st_size == 0


# ---------------------------------------------------------------------- 5.-7. the importer
@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


class Loader:
    """An encoder loader that counts how often the importer asked for the model."""

    def __init__(self, encoder: ClipEncoder) -> None:
        self.encoder, self.calls = encoder, 0

    def __call__(self) -> ClipEncoder:
        self.calls += 1
        return self.encoder


def bytes_read() -> int:
    """Bytes this process has read with read() calls so far (/proc/self/io rchar)."""
    text = Path("/proc/self/io").read_text()
    return int(re.search(r"^rchar: (\d+)", text, re.M).group(1))


def test_non_utf8_names_are_imported_under_an_escaped_path(milvus_backend, encoder, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    odd = os.fsdecode(b"caf\xe9 \\ \xff.png")
    for i, name in enumerate([odd, "plain.png", "z.png"]):
        draw_shape("green", "circle", size=64, seed=SEED + 100 + i).save(folder / name)
    uri, collection = milvus_backend
    with ImageStore(uri, collection=collection, model_name=encoder.name, dim=encoder.dim) as store:
        report = Importer.local(encoder, store, upsert_batch=16).run(folder)
        assert (report.imported, report.failed) == (3, [])
        paths = sorted(p for r in store.iter_records() for p in r.paths)
        assert paths == ["caf\\xe9 \\\\ \\xff.png", "plain.png", "z.png"]
        assert (folder / unescape_path(paths[0])).is_file()  # reversible: the exact name back
        again = Importer.local(encoder, store).run(folder)
        assert (again.imported, again.unchanged) == (0, 3)
    for name in ["a.png", "ü/ß.jpg", "back\\slash", os.fsdecode(b"\x80\\x41")]:
        assert unescape_path(escape_path(name)) == name


def test_big_non_images_cost_nothing_and_odd_entries_are_listed(encoder, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        draw_shape("blue", "star", size=64, seed=SEED + 200 + i).save(folder / f"s{i}.png")
    for i in range(3):  # sparse: 2 GB each, no disk used; over the 200 MB limit
        with open(folder / f"video{i}.mkv", "wb") as f:
            f.write(b"\x1aE\xdf\xa3")
            f.truncate(2 << 30)
    with open(folder / "backup.tar", "wb") as f:  # under the limit: sniffed, never read
        f.write(b"not an image at all")
        f.truncate(150 << 20)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x13" * 200)
    (folder / "empty.jpg").touch()
    os.mkfifo(folder / "pipe.png")
    (folder / "dangling.png").symlink_to(folder / "missing.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    loader = Loader(encoder)
    with ImageStore(str(tmp_path / "milvus.db"), model_name=encoder.name, dim=encoder.dim) as store:
        read0 = bytes_read()
        report = Importer.local(loader, store).run(folder)
        assert bytes_read() - read0 < 20 << 20  # not the 150 MB tar, not the 6 GB of video
        assert report.imported == 3
        assert [(f.path, f.reason) for f in report.failed] == [("broken.png", "undecodable_image")]
        reasons = {f.path: f.reason for f in report.skipped_files}
        assert reasons == {
            "backup.tar": "not_image",
            "dangling.png": "dangling_symlink",
            "empty.jpg": "empty_file",
            "loop.png": "symlink_loop",
            "pipe.png": "not_a_file",
            **{f"video{i}.mkv": "too_large" for i in range(3)},
        }
        assert "skipped 8 (" in report.summary() and "3 too_large" in report.summary()
        errors = tmp_path / "errors.jsonl"
        write_errors(errors, report.failed, report.skipped_files)
        assert len(errors.read_text().splitlines()) == 9

        # unchanged folder: no model, no file read, the same report
        loader.calls = 0
        again = Importer.local(loader, store).run(folder)
        assert (again.files_read, loader.calls, again.model_loaded) == (0, 0, False)
        # the broken file is remembered: reported as known broken, not failed again (issue 22.6)
        assert (again.unchanged, again.skipped, len(again.failed)) == (3, 8, 0)
        assert [f.path for f in again.known_broken] == ["broken.png"]


def test_copies_are_read_once_not_on_every_run(encoder, tmp_path):
    """A record keeps its first path's mtime only; the copies' are in the skip memory."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    draw_shape("green", "circle", size=64, seed=SEED + 400).save(folder / "a.png")
    for copy in ("b.png", "sub/c.png"):
        shutil.copyfile(folder / "a.png", folder / copy)
        os.utime(folder / copy, (1_700_000_000, 1_700_000_000 + len(copy)))
    with ImageStore(str(tmp_path / "milvus.db"), model_name=encoder.name, dim=encoder.dim) as store:
        first = Importer.local(encoder, store).run(folder)
        assert (first.imported, first.reused, first.files_read) == (1, 2, 3)
        again = Importer.local(encoder, store).run(folder)
        assert (again.unchanged, again.files_read) == (3, 0)
        os.utime(folder / "b.png", (1_700_000_100, 1_700_000_100))  # touched: read again, same bytes
        touched = Importer.local(encoder, store).run(folder)
        assert (touched.unchanged, touched.files_read, touched.imported) == (3, 1, 0)
        draw_shape("red", "square", size=64, seed=SEED + 401).save(folder / "sub/c.png")  # new bytes
        changed = Importer.local(encoder, store).run(folder)
        assert (changed.imported, changed.files_read) == (1, 1)
        paths = sorted(sorted(r.paths) for r in store.iter_records())
        assert paths == [["a.png", "b.png"], ["sub/c.png"]]
        assert Importer.local(encoder, store).run(folder).files_read == 0


# ---------------------------------------------------------------------- 8. Milvus's own tools
def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- pymilvus-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its pymilvus snippet"
    return match.group(1)


def test_readme_pymilvus_snippet_reads_the_collection(tmp_path):
    with ImageStore(str(tmp_path / "milvus.db"), model_name="m", dim=DIM) as store:
        store.upsert(records(0, 3))
    code = readme_snippet()
    assert len([line for line in code.splitlines() if line.strip()]) == 3  # three lines of code
    done = subprocess.run(  # a plain interpreter: nothing of clipvec is imported
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "'count(*)': 3" in done.stdout, done.stdout


def test_no_pkg_resources_stand_in():
    for module in (REPO / "src" / "clipvec").rglob("*.py"):  # no fake pkg_resources planted anywhere
        text = module.read_text()
        assert not ("sys.modules" in text and "pkg_resources" in text), module
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'"setuptools[^"]*<81', pyproject)


# ---------------------------------------------------------------------- 9. starting over
def test_drop_starts_over_and_the_mismatch_message_names_it(milvus_backend, tmp_path):
    uri, collection = milvus_backend
    with ImageStore(uri, collection=collection, model_name="model-a", dim=DIM) as store:
        store.upsert(records(0, 4))
    with pytest.raises(ModelMismatch) as err:
        ImageStore(uri, collection=collection, model_name="model-b", dim=DIM)
    assert f"clipvec drop --collection {collection}" in err.value.detail

    env = {"CLIPVEC_MILVUS_URI": uri}
    kept = subprocess.run(
        [sys.executable, "-m", "clipvec", "drop", "--collection", collection],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert kept.returncode == 1 and "without --yes" in kept.stderr, kept.stderr
    dropped = cli(["drop", "--collection", collection, "--yes"], env)
    assert dropped.returncode == 0 and "deleted" in dropped.stdout, dropped.stderr
    with ImageStore(uri, collection=collection, model_name="model-b", dim=DIM) as store:
        assert store.count() == 0


def test_paths_per_record_are_capped(tmp_path):
    with ImageStore(str(tmp_path / "milvus.db"), model_name="m", dim=DIM) as store:
        record = records(0, 1)[0]
        record.paths = [f"copy{i}.png" for i in range(150)]
        store.upsert([record])
        stored = store.get([record.content_hash])[record.content_hash]
        assert stored.paths == [f"copy{i}.png" for i in range(100)]
