"""The Ray stage's parts that run without Ray: the read/decode task, rows back to Work, stored-hash lookup."""

from __future__ import annotations

import hashlib
import io
import sys
import types

import numpy as np
import pytest
from photo_corpus import photos

from clipvec.images.preprocess import Preprocessor
from clipvec.indexing.ray_stage import RayStage, _known, _record, _work, read_decode_batch
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.settings import Settings
from clipvec.sources import FolderSource, FoundFile

PRE = Preprocessor(resize_to=16, crop_height=16, crop_width=16)


def png(seed: int, size: int = 24) -> bytes:
    buf = io.BytesIO()
    draw_shape("red", "circle", size=size, seed=HELD_OUT_SEED_START + 910_000 + seed).save(buf, "PNG")
    return buf.getvalue()


def stored_hashes(*data: bytes) -> np.ndarray:
    """The stored contents as RayStage.run hands them to the tasks: sorted sha256 digests."""
    return np.array(sorted(hashlib.sha256(d).digest() for d in data), dtype="S32")


def test_read_decode_batch_fills_one_row_per_file(tmp_path):
    new, known, cut = png(1, size=30), png(2), png(3)
    (tmp_path / "new.png").write_bytes(new)
    (tmp_path / "known.png").write_bytes(known)
    (tmp_path / "notes.txt").write_text("hello " * 1000)
    (tmp_path / "cut.png").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "big.png").write_bytes(png(4) + b"\0" * 20_000)
    paths = ["new.png", "known.png", "notes.txt", "cut.png", "vanished.png", "big.png"]
    batch = {
        "path": np.array(paths, dtype=object),
        "size": np.arange(len(paths)),
        "mtime": np.full(len(paths), 1.5),
    }
    out = read_decode_batch(
        batch,
        source=FolderSource(tmp_path),
        preprocessor=PRE,
        max_pixels=1_000_000,
        max_file_bytes=10_000,
        known=stored_hashes(known, b"something else"),
    )
    rows = {p: {k: out[k][i] for k in out} for i, p in enumerate(paths)}
    assert list(out["path"]) == paths
    # size and mtime of the file whose bytes were read (fstat), not the scan's (issue 21)
    for i, path in enumerate(paths):
        if path != "vanished.png":
            st = (tmp_path / path).stat()
            assert (out["size"][i], out["mtime"][i]) == (st.st_size, st.st_mtime), path
    assert (out["size"][4], out["mtime"][4]) == (4, 1.5)  # not read: the scan's facts stay

    row = rows["new.png"]
    assert row["hash"] == hashlib.sha256(new).hexdigest()
    assert (row["format"], row["width"], row["height"], row["skip"], row["error"]) == ("PNG", 30, 30, "", "")
    pixels = np.frombuffer(row["pixels"], dtype=np.float32)
    assert pixels.shape == (3 * 16 * 16,)

    row = rows["known.png"]  # stored already: hashed, not decoded
    assert row["hash"] == hashlib.sha256(known).hexdigest() and row["pixels"] == b"" and row["format"] == ""

    for path, skip, error, detail in [
        ("notes.txt", "not_image", "", "content is TEXT"),
        (
            "cut.png",
            "",
            "truncated_image",
            "PNG file is truncated: the data ends before the image is complete",
        ),
        ("vanished.png", "", "unreadable", "cannot read: No such file or directory"),
        ("big.png", "too_large", "", "over the limit of 10000 bytes (CLIPVEC_MAX_FILE_BYTES)"),
    ]:
        row = rows[path]
        assert (row["skip"], row["error"], row["detail"], row["pixels"]) == (skip, error, detail, b""), path
    assert (
        rows["notes.txt"]["hash"] == ""
        and rows["cut.png"]["hash"] == hashlib.sha256(cut[: len(cut) // 2]).hexdigest()
    )
    assert all(s >= 0 for s in out["seconds"])
    for column in ("hash", "skip", "error", "detail", "format", "pixels"):
        assert out[column].dtype == object, column  # Arrow keeps text and bytes as they are


def test_read_decode_batch_with_no_stored_contents_decodes_everything(tmp_path):
    (tmp_path / "a.png").write_bytes(png(5))
    out = read_decode_batch(
        {"path": np.array(["a.png"], dtype=object), "size": np.array([1]), "mtime": np.array([1.5])},
        source=FolderSource(tmp_path),
        preprocessor=PRE,
        max_pixels=1_000_000,
        max_file_bytes=1_000_000,
        known=np.array([], dtype="S32"),
    )
    assert out["format"][0] == "PNG" and len(out["pixels"][0]) == 3 * 16 * 16 * 4


def test_read_decode_batch_carries_the_photo_metadata_to_the_record(tmp_path):
    """Issue 17.1 on the Ray path: the task reads it with the decode; the row becomes the record's."""
    photo = next(p for p in photos() if p.name == "canon_paris.webp")
    (tmp_path / "a.webp").write_bytes(photo.data)
    out = read_decode_batch(
        {"path": np.array(["a.webp"], dtype=object), "size": np.array([1]), "mtime": np.array([1.5])},
        source=FolderSource(tmp_path),
        preprocessor=PRE,
        max_pixels=1_000_000,
        max_file_bytes=1_000_000,
        known=np.array([], dtype="S32"),
    )
    assert _record(out, 0, np.zeros(4, np.float32)).meta == photo.expect
    out["vector"] = np.asarray([np.zeros(4, np.float32).tobytes()], dtype=object)
    out["stored"], out["encode_seconds"] = np.array([False]), np.array([0.0])
    assert _work(out, 0, FoundFile("a.webp", 1, 1.5), ImportReport()).meta == photo.expect


def batch_of(**rows: dict) -> dict[str, np.ndarray]:
    """Encoder-actor output columns for the given rows (missing values: what a task leaves empty)."""
    empty = {
        "path": "",
        "size": 1,
        "mtime": 2.0,
        "hash": "",
        "skip": "",
        "error": "",
        "detail": "",
        "format": "",
        "width": 0,
        "height": 0,
        "vector": b"",
        "stored": False,
        "seconds": 0.0,
        "encode_seconds": 0.0,
    }
    filled = [{**empty, "path": path, **row} for path, row in rows.items()]
    return {
        k: np.asarray([r[k] for r in filled], dtype=object if isinstance(empty[k], str | bytes) else None)
        for k in empty
    }


def test_rows_become_work_items():
    vector = np.arange(512, dtype=np.float32)
    batch = batch_of(
        new={
            "hash": "n" * 64,
            "vector": vector.tobytes(),
            "format": "JPEG",
            "width": 640,
            "height": 480,
            "stored": True,
            "seconds": 0.5,
            "encode_seconds": 0.25,
        },
        known={"hash": "k" * 64, "seconds": 0.25, "size": 7, "mtime": 8.5},  # as read (fstat)
        broken={"hash": "b" * 64, "error": "truncated_image", "detail": "cut short"},
        text={"skip": "not_image", "detail": "content is TEXT"},
    )
    report = ImportReport()
    found = {p: FoundFile(p, 1, 2.0) for p in ("new", "known", "broken", "text")}
    new, known, broken, text = (_work(batch, i, found[p], report) for i, p in enumerate(found))

    assert new.found == found["new"] and new.content_hash == "n" * 64
    np.testing.assert_array_equal(new.vector, vector)
    new.vector[0] = 7.0  # a copy of its own: Arrow buffers are read-only
    assert (new.format, new.width, new.height, new.stored) == ("JPEG", 640, 480, True)
    assert (new.error, new.skip) == (None, None)

    assert known.found == FoundFile("known", 7, 8.5)  # what was read, not what was scanned
    assert (
        known.content_hash == "k" * 64 and known.vector is None and (known.error, known.skip) == (None, None)
    )
    assert (broken.error.code, broken.error.detail, broken.vector) == ("truncated_image", "cut short", None)
    assert text.skip == FileFailure("text", "not_image", "content is TEXT") and text.error is None
    assert report.seconds == {"decode": 0.75, "encode": 0.25}


def test_known_finds_a_digest_in_the_sorted_stored_ones():
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(50)]
    stored = stored_hashes(*(bytes([i]) for i in range(0, 50, 2)))
    assert [_known(stored, d) for d in digests] == [i % 2 == 0 for i in range(50)]
    assert not _known(np.array([], dtype="S32"), digests[0])
    assert not _known(stored, b"\xff" * 32)  # past the last one


def test_known_finds_a_digest_that_ends_in_zero_bytes():
    """numpy drops trailing zero bytes of an ``S32`` item: 1 in 256 sha256 digests end in one."""
    digest = hashlib.sha256(b"x").digest()[:30] + b"\0\0"
    other = b"\x01" * 31 + b"\0"
    stored = np.array(sorted([digest, other, b"\x02" * 32]), dtype="S32")
    assert _known(stored, digest) and _known(stored, other)
    assert not _known(stored, digest[:30] + b"\0\1")


def test_nothing_to_read_needs_no_ray(lite_store):
    stage = RayStage(Settings(), lite_store, PRE)
    assert list(stage.run(FolderSource("."), [], set(), ImportReport())) == []
    assert stage.model_loaded is False


def test_workers_write_to_a_server_only(lite_store):
    """A Lite file has one writer (the driver); against a server each encoder actor writes its rows."""
    assert RayStage(Settings(), lite_store, PRE)._store_spec() is None
    server = types.SimpleNamespace(
        is_lite=False,
        uri="http://milvus:19530",
        collection="images",
        model_name="/here/m",  # this driver's folder of the model
        recorded_model_name="m",  # what the collection records (the same weights, checked by content)
        model_id="sha256:abc",
        family="clip",
        dim=512,
        metric="L2",
    )
    spec = RayStage(Settings(milvus_token="root:Milvus"), server, PRE)._store_spec()
    assert spec == {
        "uri": "http://milvus:19530",
        "collection": "images",
        "model_name": "m",
        "model_id": "sha256:abc",
        "family": "clip",
        "dim": 512,
        "metric": "L2",
        "token": "root:Milvus",
    }


@pytest.mark.parametrize(
    ("device", "resources", "encoders", "expected"),
    [
        ("auto", {"CPU": 8.0}, 0, (8, 0.75, 0)),
        ("auto", {"CPU": 8.0, "GPU": 2.0}, 0, (2, 0.75, 1)),
        ("cpu", {"CPU": 8.0, "GPU": 2.0}, 0, (8, 0.75, 0)),
        ("cuda", {"CPU": 8.0}, 0, (1, 0.75, 1)),
        ("auto", {"CPU": 8.0}, 3, (3, 0.75, 0)),
    ],
)
def test_encoder_actors_per_cpu_slot_or_gpu(monkeypatch, lite_store, device, resources, encoders, expected):
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(cluster_resources=lambda: resources))
    stage = RayStage(Settings(device=device), lite_store, PRE, encoders=encoders, decode_cpus=0.25)
    assert stage._pool() == expected


def test_encoder_actors_run_the_configured_runtime(tiny_model_dir, tmp_path):
    """CLIPVEC_RUNTIME reaches a Ray import's encoder actors (with the export cache they share)."""
    from clipvec.indexing.ray_stage import EncodeActor

    actor = EncodeActor(
        model=str(tiny_model_dir),
        device="cpu",
        precision="auto",
        threads=1,
        batch_size=2,
        store=None,
        runtime="onnxruntime",
        export_cache=str(tmp_path),
    )
    assert (actor.encoder.runtime, actor.encoder.precision) == ("onnxruntime", "fp32")
    assert any(p.name.startswith("onnxruntime-fp32-") for p in tmp_path.iterdir())
