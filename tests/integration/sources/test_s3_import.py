"""Import from S3 (a real SeaweedFS server) into real Milvus: URIs as paths, incremental, prune.

Milvus Lite only: what S3 changes is the source side; the store code is the same for both
backends (tests/integration/store), and the Ray tests import into the server too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from milvus_fixtures import MilvusBackend, unique_collection
from scale_helpers import ITEMS, SEED, item_bytes, shape_bytes

from clipvec.indexing.importer import Importer
from clipvec.model.encoder import ClipEncoder
from clipvec.sources import S3Source, version_stamp
from clipvec.store import ImageStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


@pytest.fixture
def milvus_backend(tmp_path) -> MilvusBackend:
    return MilvusBackend(str(tmp_path / "milvus.db"), unique_collection())


@pytest.fixture
def store(milvus_backend, encoder):
    uri, collection = milvus_backend
    with ImageStore(uri, collection=collection, model_name=encoder.name, dim=encoder.dim) as s:
        yield s


def contents(store: ImageStore) -> dict[str, list[str]]:
    return {r.content_hash: sorted(r.paths) for r in store.iter_records()}


def all_paths(store: ImageStore) -> list[str]:
    return sorted(p for paths in contents(store).values() for p in paths)


def upload(fs, prefix: str) -> list[str]:
    """The five shapes under ``photos/<prefix>/`` plus junk; returns the image URIs."""
    for i, (name, *_rest) in enumerate(ITEMS):
        fs.pipe(f"photos/{prefix}/{name}", item_bytes(i))
    fs.pipe(f"photos/{prefix}/.hidden/secret.png", shape_bytes("red", "star", SEED + 99))
    fs.pipe(f"photos/{prefix}/._red_circle.png", b"\0\5\26\7" + b"\0" * 100)
    fs.pipe(f"photos/{prefix}/notes.txt", b"not an image")
    fs.pipe(f"photos/{prefix}/empty.png", b"")
    return sorted(f"s3://photos/{prefix}/{name}" for name, *_ in ITEMS)


def importer(encoder, store) -> Importer:
    return Importer.local(encoder, store, decode_workers=2, batch_size=8, upsert_batch=16)


def test_s3_import_incremental_rename_change_prune(s3_env, s3_server, milvus_backend, encoder, store):
    fs = s3_server.filesystem()
    prefix = f"inc-{milvus_backend.collection}"
    uris = upload(fs, prefix)
    source = f"s3://photos/{prefix}"

    report = importer(encoder, store).run(source)
    # skipped: notes.txt (not an image) and empty.png (0 bytes), listed as for folders
    assert (report.imported, report.skipped, len(report.failed)) == (5, 2, 0), report.summary()
    assert {f.reason for f in report.skipped_files} == {"not_image", "empty_file"}
    assert all_paths(store) == uris
    record = next(r for r in store.iter_records() if r.path.endswith("blue_square.jpg"))
    assert (record.format, record.width, record.height) == ("JPEG", 96, 96)

    # unchanged bucket: nothing read again (the listing's size + stamp match)
    again = importer(encoder, store).run(source + "/")
    assert (again.imported, again.reused, again.unchanged) == (0, 0, 5), again.summary()

    # another prefix in the same collection must survive everything below
    other = f"s3://photos/{prefix}-other/red_circle.png"
    fs.pipe(other[len("s3://") :], shape_bytes("purple", "circle", SEED + 500))
    importer(encoder, store).run(f"s3://photos/{prefix}-other")

    # rename (copy + delete), change content, delete
    fs.copy(f"photos/{prefix}/red_circle.png", f"photos/{prefix}/renamed_red.png")
    fs.rm(f"photos/{prefix}/red_circle.png")
    fs.pipe(f"photos/{prefix}/sub/green_star.png", shape_bytes("purple", "square", SEED + 77))
    fs.rm(f"photos/{prefix}/orange_triangle.bmp")
    changed = importer(encoder, store).run(source)
    assert (changed.imported, changed.reused) == (1, 1), changed.summary()
    assert f"s3://photos/{prefix}/red_circle.png" not in all_paths(store)
    assert f"s3://photos/{prefix}/orange_triangle.bmp" in all_paths(store)  # no --prune yet

    pruned = importer(encoder, store).run(source, prune=True)
    assert pruned.pruned == 1
    assert all_paths(store) == sorted(
        [
            f"s3://photos/{prefix}/renamed_red.png",
            f"s3://photos/{prefix}/blue_square.jpg",
            f"s3://photos/{prefix}/sub/green_star.png",
            f"s3://photos/{prefix}/sub/deeper/yellow_cross.webp",
            other,
        ]
    )


def test_same_size_overwrite_within_a_second_is_seen_by_its_etag():
    # S3 lists LastModified in whole seconds: the ETag tells two same-size versions apart.
    a = version_stamp(1_700_000_000.0, '"0cc175b9c0f1b6a831c399e269772661"')
    b = version_stamp(1_700_000_000.0, '"92eb5ffee6ae2fec3ad71c777531578f"')
    assert int(a) == int(b) == 1_700_000_000 and abs(a - b) >= 1e-3


def test_unreadable_object_is_a_per_file_failure(s3_env, s3_server, milvus_backend, encoder, store):
    """An object that vanishes between listing and reading fails alone; the rest is imported."""
    fs = s3_server.filesystem()
    prefix = f"gone-{milvus_backend.collection}"
    upload(fs, prefix)

    class Vanishing(S3Source):
        def open(self, path: str):  # the importer opens each object (sniff first, then the rest)
            if path.endswith("blue_square.jpg"):
                fs.rm(path[len("s3://") :])
            return super().open(path)

    report = importer(encoder, store).run(Vanishing("photos", prefix))
    assert report.imported == 4
    assert [(f.path, f.reason) for f in report.failed] == [
        (f"s3://photos/{prefix}/blue_square.jpg", "unreadable")
    ]


def test_an_object_replaced_between_listing_and_reading_is_recorded_as_read(
    s3_env, s3_server, milvus_backend, encoder, store
):
    """The record holds the size and stamp of the version whose bytes were read (s3fs's HEAD at
    open, read with IfMatch), so the next run reads nothing (issue 21)."""
    fs = s3_server.filesystem()
    prefix = f"swap-{milvus_backend.collection}"
    upload(fs, prefix)
    victim = f"s3://photos/{prefix}/blue_square.jpg"
    new_bytes = shape_bytes("green", "cross", SEED + 77)

    class Replacing(S3Source):
        def open(self, path: str):
            if path == victim and fs.cat_file(path[len("s3://") :]) != new_bytes:
                fs.pipe(path[len("s3://") :], new_bytes)  # after the listing, before the read
            return super().open(path)

    first = importer(encoder, store).run(Replacing("photos", prefix))
    assert (first.imported, len(first.failed)) == (5, 0)
    record = store.get_by_path(victim)
    info = fs.info(victim[len("s3://") :])
    assert record is not None and record.size == len(new_bytes) == info["size"]
    assert record.mtime == version_stamp(info["LastModified"], info["ETag"])

    scanned = {f.rel_path: (f.size, f.mtime) for f in S3Source("photos", prefix).scan()}
    stored = {p: (r.size, r.mtime) for r in store.iter_records() for p in r.paths}
    assert {p: scanned[p] for p in stored} == stored
    again = importer(encoder, store).run(f"s3://photos/{prefix}")
    # read again: notes.txt only (no skip memory is written into a bucket)
    assert (again.files_read, again.unchanged, again.imported) == (1, 5, 0), again.summary()


@pytest.mark.slow  # three real processes (~15 s): in make test, not in make test-fast
def test_cli_and_original_script_import_s3_with_aws_variables(
    s3_env, s3_server, milvus_backend, tiny_model_dir
):
    fs = s3_server.filesystem()
    prefix = f"cli-{milvus_backend.collection}"
    uris = upload(fs, prefix)
    env = {
        **os.environ,
        **s3_env,
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": milvus_backend.uri,
        "CLIPVEC_COLLECTION": milvus_backend.collection,
        "CLIPVEC_IMAGES_DIR": f"s3://photos/{prefix}",
    }
    first = subprocess.run(
        [sys.executable, "milvus_import.py", "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith(f"s3://photos/{prefix}/: imported 5,"), first.stdout
    second = subprocess.run(
        [sys.executable, "-m", "clipvec", "import", f"s3://photos/{prefix}", "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0 and "imported 0, reused 0, unchanged 5" in second.stdout, second.stdout
    with ImageStore(
        milvus_backend.uri, collection=milvus_backend.collection, model_name=str(tiny_model_dir), dim=512
    ) as store:
        assert all_paths(store) == uris

    wrong = subprocess.run(
        [sys.executable, "-m", "clipvec", "import", f"s3://photos/{prefix}", "--no-progress"],
        cwd=REPO,
        env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"},
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and "cannot list s3://photos/" in wrong.stderr, wrong.stderr[-2000:]
    assert "Traceback" not in wrong.stderr


def test_watching_a_prefix_polls_its_listing_and_never_prunes_an_empty_one(
    s3_env, s3_server, milvus_backend, encoder, store
):
    """Issue 19.6: `clipvec watch s3://...` compares the listing every interval, with the import's rules."""
    import threading
    import time

    from clipvec.indexing.poller import PrefixPoller, watcher_for
    from clipvec.sources import open_source

    fs = s3_server.filesystem()
    prefix = f"watch-{milvus_backend.collection}"
    uris = upload(fs, prefix)
    source = open_source(f"s3://photos/{prefix}")
    engine = importer(encoder, store)
    reports = []
    poller = watcher_for(
        source,
        lambda prune, scanned: engine.run(source, prune=prune, scanned=scanned),
        settle=0.1,
        interval=0.3,
        on_pass=reports.append,
    )
    assert isinstance(poller, PrefixPoller)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()

    def until(check) -> None:
        deadline = time.monotonic() + 60
        while not check():
            assert time.monotonic() < deadline, (reports[-1:], poller.status.snapshot())
            time.sleep(0.05)

    try:
        until(lambda: all_paths(store) == uris)  # the first pass, at start
        fs.pipe(f"photos/{prefix}/more/new_star.png", shape_bytes("green", "star", SEED + 77))
        fs.rm(f"photos/{prefix}/{ITEMS[0][0]}")
        want = sorted(
            u for u in [*uris, f"s3://photos/{prefix}/more/new_star.png"] if not u.endswith(f"/{ITEMS[0][0]}")
        )
        until(lambda: all_paths(store) == want)  # added and pruned by a later pass
        passes = poller.status.passes
        until(lambda: poller.status.passes >= passes + 2)  # unchanged listing: passes that read nothing
        assert reports[-1].imported == 0 and reports[-1].unchanged == len(want)

        fs.rm(f"photos/{prefix}", recursive=True)  # a wrong prefix or an emptied bucket
        until(lambda: poller.status.state == "unavailable")
        time.sleep(1.0)  # several intervals
        assert all_paths(store) == want  # nothing pruned: no pass over an empty listing
    finally:
        poller.stop.set()
        thread.join(30)
    assert not thread.is_alive() and poller.status.state == "stopped"
