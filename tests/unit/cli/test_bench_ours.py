"""clipvec's path in the benchmark: files -> vectors through the import's stage, timing, the import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipvec.cli.bench.inputs import build_photos
from clipvec.cli.bench.ours import encode_files, run_import, text_latencies, timed
from clipvec.images import prepare_image
from clipvec.model.encoder import ClipEncoder


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", threads=1, batch_size=2)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    return build_photos(tmp_path_factory.mktemp("photos"), 3, megapixels=(0.02, 0.06), quiet=True)


def test_encode_files_equals_the_encoder_on_prepared_images(encoder, photos):
    vectors = encode_files(encoder, photos, decode_workers=2)
    assert vectors.shape == (3, encoder.dim) and vectors.dtype == np.float32
    pixels = np.stack(
        [prepare_image(p.read_bytes(), encoder.preprocessor, max_pixels=100_000_000).pixels for p in photos]
    )
    assert np.allclose(vectors, encoder.encode_pixels(pixels), atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_encode_files_keeps_the_order_of_the_paths(encoder, photos):
    forward = encode_files(encoder, photos, decode_workers=2)
    backward = encode_files(encoder, photos[::-1], decode_workers=1)
    assert np.allclose(forward[::-1], backward, atol=1e-5)


def test_encode_files_of_nothing_is_empty(encoder):
    assert encode_files(encoder, [], decode_workers=1).shape == (0, encoder.dim)


def test_encode_files_needs_one_folder(encoder, photos, tmp_path):
    elsewhere = tmp_path / photos[0].name
    elsewhere.write_bytes(photos[0].read_bytes())
    with pytest.raises(ValueError, match="share one folder"):
        encode_files(encoder, [photos[1], elsewhere], decode_workers=1)


def test_a_file_that_is_not_an_image_stops_the_run_naming_it(encoder, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("no photo here")
    with pytest.raises(RuntimeError, match=r"^bad\.jpg: "):
        encode_files(encoder, [bad], decode_workers=1)


def test_timed_keeps_the_best_run_and_the_last_result(monkeypatch):
    import clipvec.cli.bench.ours as ours

    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 23.0])  # runs of 5, 1 and 3 seconds
    monkeypatch.setattr(ours.time, "perf_counter", lambda: next(clock))
    calls: list[int] = []
    assert timed(lambda: calls.append(len(calls)) or len(calls), repeat=3) == (3, 1.0)
    assert calls == [0, 1, 2]
    clock = iter([0.0, 2.0])
    assert timed(lambda: "once", repeat=0) == ("once", 2.0)  # at least one run


def test_text_latencies_are_milliseconds_per_query(encoder):
    latencies = text_latencies(encoder, 4)
    assert len(latencies) == 4 and all(0 < ms < 60_000 for ms in latencies)


def test_run_import_into_a_fresh_lite_db_leaves_nothing(encoder, photos, tmp_path):
    result = run_import(encoder, photos, decode_workers=2, workdir=tmp_path / "work")
    assert (result.files, result.failed) == (3, 0)
    assert result.seconds > 0 and result.open_seconds > 0
    assert set(result.stages) >= {"decode", "encode", "write"}
    assert list((tmp_path / "work").iterdir()) == []  # its folder and database were temporary
    assert all(p.exists() for p in photos)  # linked, not moved
