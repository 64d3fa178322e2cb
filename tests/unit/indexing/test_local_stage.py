"""The local stage: sniff first, hash everything read, decode and encode only new contents, in order."""

from __future__ import annotations

import hashlib
import io
import threading

import numpy as np
import pytest

from clipvec.images.prepare import SNIFF_BYTES, prepare_image
from clipvec.images.preprocess import Preprocessor
from clipvec.indexing.local_stage import LocalStage
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.model.shapes import COLORS, HELD_OUT_SEED_START, SHAPES, draw_shape
from clipvec.sources import FolderSource, FoundFile

PRE = Preprocessor(resize_to=16, crop_height=16, crop_width=16)
MAX_PIXELS = 1_000_000


class Encoder:
    """Stands in for the model: a vector is the image's model pixels, so each can be traced back."""

    preprocessor = PRE

    def __init__(self) -> None:
        self.batches: list[int] = []

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        self.batches.append(len(pixels))
        return pixels.reshape(len(pixels), -1).copy()


class Loader:
    """A lazy encoder: counts how often the model is loaded (from any thread)."""

    def __init__(self) -> None:
        self.loads = 0
        self.lock = threading.Lock()
        self.encoder = Encoder()

    def __call__(self) -> Encoder:
        with self.lock:
            self.loads += 1
        return self.encoder


class CountingSource(FolderSource):
    """A folder whose reads are counted, in bytes per file."""

    def __init__(self, root) -> None:
        super().__init__(root)
        object.__setattr__(self, "bytes_read", {})

    def open(self, path: str):
        self.bytes_read[path] = 0
        return Counted(super().open(path), path, self.bytes_read)


class Counted:
    """A file that adds what is read from it to ``counts[path]``."""

    def __init__(self, f, path: str, counts: dict[str, int]) -> None:
        self.f, self.path, self.counts = f, path, counts

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.counts[self.path] += len(data)
        return data

    def __enter__(self) -> Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def png(i: int) -> bytes:
    color, shape = list(COLORS)[i % len(COLORS)], SHAPES[i % len(SHAPES)]
    buf = io.BytesIO()
    draw_shape(color, shape, size=24, seed=HELD_OUT_SEED_START + 900_000 + i).save(buf, "PNG")
    return buf.getvalue()


def run(stage: LocalStage, source, todo: list[FoundFile], known=frozenset()) -> tuple[list, ImportReport]:
    report = ImportReport()
    return list(stage.run(source, todo, known, report)), report


def test_new_images_come_back_encoded_in_order_in_full_batches(tmp_path):
    names = []
    for i in range(10):
        names.append(f"img{i:02d}.png")
        (tmp_path / names[-1]).write_bytes(png(i))
        if i % 3 == 0:  # not images, between them
            names.append(f"img{i:02d}.txt")
            (tmp_path / names[-1]).write_text("notes " * 100)
    source = FolderSource(tmp_path)
    todo = list(source.scan())
    encoder = Encoder()
    works, report = run(
        LocalStage(encoder, decode_workers=3, batch_size=4, max_pixels=MAX_PIXELS), source, todo
    )
    assert [w.found for w in works] == todo
    assert encoder.batches == [4, 4, 2]
    for work in works:
        if work.found.rel_path.endswith(".txt"):
            assert work.skip.reason == "not_image" and work.vector is None and work.content_hash == ""
            continue
        data = (tmp_path / work.found.rel_path).read_bytes()
        assert work.content_hash == hashlib.sha256(data).hexdigest()
        expected = prepare_image(data, PRE, max_pixels=MAX_PIXELS)
        np.testing.assert_array_equal(work.vector, expected.pixels.reshape(-1))  # its own, not a neighbour's
        assert (work.format, work.width, work.height) == ("PNG", 24, 24)
        assert work.skip is None and work.error is None
    assert set(report.seconds) == {"decode", "encode"}


def test_a_large_file_that_is_not_an_image_costs_its_first_bytes_only(tmp_path):
    (tmp_path / "movie.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom" + b"\x01" * 2_000_000)
    source = CountingSource(tmp_path)
    loader = Loader()
    [work], _ = run(LocalStage(loader), source, list(source.scan()))
    assert source.bytes_read == {"movie.mp4": SNIFF_BYTES}
    assert work.skip is not None and work.skip.reason == "not_image" and work.content_hash == ""
    assert loader.loads == 0


def test_an_image_grown_over_the_limit_is_skipped_without_reading_it_all(tmp_path):
    (tmp_path / "big.png").write_bytes(png(1) + b"\0" * 50_000)  # grew since the plan listed it
    source = CountingSource(tmp_path)
    [work], _ = run(LocalStage(Encoder(), max_file_bytes=10_000), source, list(source.scan()))
    assert work.skip == FileFailure(
        "big.png", "too_large", "over the limit of 10000 bytes (CLIPVEC_MAX_FILE_BYTES)"
    )
    assert source.bytes_read == {"big.png": 10_001}


def test_unreadable_and_undecodable_files_are_errors(tmp_path):
    data = png(2)
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    todo = [FoundFile("cut.png", len(data) // 2, 1.0), FoundFile("vanished.png", 10, 1.0)]
    cut, vanished = run(LocalStage(Encoder()), FolderSource(tmp_path), todo)[0]
    assert (cut.error.code, cut.error.detail) == (
        "truncated_image",
        "PNG file is truncated: the data ends before the image is complete",
    )
    assert cut.content_hash == hashlib.sha256(data[: len(data) // 2]).hexdigest()
    assert (vanished.error.code, vanished.error.detail) == (
        "unreadable",
        "cannot read: No such file or directory",
    )
    assert cut.vector is None and vanished.vector is None


def test_known_contents_are_hashed_not_decoded_and_load_no_model(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(png(i))
    (tmp_path / "notes.txt").write_text("hello")
    known = {hashlib.sha256(png(i)).hexdigest() for i in range(3)}
    loader = Loader()
    stage = LocalStage(loader, decode_workers=2)
    source = FolderSource(tmp_path)
    works, report = run(stage, source, list(source.scan()), known)
    assert [w.content_hash in known for w in works] == [True, True, True, False]
    assert all(w.vector is None and w.error is None for w in works)
    assert loader.loads == 0 and not stage.model_loaded and loader.encoder.batches == []
    assert "encode" not in report.seconds


def test_a_lazy_encoder_is_loaded_once_when_a_file_needs_it(tmp_path):
    for i in range(8):
        (tmp_path / f"{i}.png").write_bytes(png(i))
    loader = Loader()
    stage = LocalStage(loader, decode_workers=4, batch_size=3)
    source = FolderSource(tmp_path)
    works, _ = run(stage, source, list(source.scan()))
    assert all(w.vector is not None for w in works)
    assert loader.loads == 1 and stage.model_loaded


@pytest.mark.parametrize("workers", [0, -2])
def test_at_least_one_decoder_thread(workers):
    assert LocalStage(Encoder(), decode_workers=workers).decode_workers == 1
