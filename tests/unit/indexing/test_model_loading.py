"""The import's model loads in a thread while the first new files decode (issue 20.1)."""

from __future__ import annotations

import threading

import pytest
from test_local_stage import PRE, CountingSource, Encoder, png, run

from clipvec.errors import ClipvecError, ModelLoadError
from clipvec.indexing.local_stage import LocalStage
from clipvec.indexing.model_loading import BackgroundLoad

WAIT_S = 30  # how long a loader waits for the decoding it expects to see (never reached when it works)


def test_the_load_runs_once_and_its_error_is_raised_unchanged_then_forgotten():
    calls: list[int] = []
    error = ModelLoadError("the folder x is not a usable CLIP checkpoint: no weights")

    def load() -> Encoder:
        calls.append(1)
        raise error

    loading = BackgroundLoad(load)
    assert not loading.started
    loading.start()
    loading.start()
    with pytest.raises(ModelLoadError) as raised:
        loading.result()
    assert raised.value is error and calls == [1]
    with pytest.raises(ModelLoadError):  # asked again (a watcher's next pass): loaded again
        loading.result()
    assert calls == [1, 1]


def test_a_loaded_value_is_kept():
    calls: list[int] = []
    loading = BackgroundLoad(lambda: calls.append(1) or "model")
    assert loading.result() == "model" and loading.result() == "model" and calls == [1]


class WaitsForDecoding:
    """A slow model: its load finishes only once every new file has been opened by the decoders."""

    def __init__(self, source: CountingSource, files: int) -> None:
        self.source, self.files = source, files
        self.all_opened_first = False

    def __call__(self) -> Encoder:
        for _ in range(WAIT_S * 20):
            if len(self.source.bytes_read) >= self.files:
                self.all_opened_first = True
                break
            threading.Event().wait(0.05)
        return Encoder()


def _folder(tmp_path, n: int) -> CountingSource:
    for i in range(n):
        (tmp_path / f"{i}.png").write_bytes(png(i))
    return CountingSource(tmp_path)


def test_new_files_decode_while_the_model_loads(tmp_path):
    source = _folder(tmp_path, 6)
    loader = WaitsForDecoding(source, 6)
    stage = LocalStage(loader, decode_workers=2, batch_size=8, max_pixels=1_000_000, preprocessor=PRE)
    works, report = run(stage, source, list(source.scan()))
    assert loader.all_opened_first
    assert all(w.vector is not None for w in works) and stage.model_loaded
    assert set(report.seconds) == {"model", "decode", "encode"}  # the wait for the model apart


def test_a_model_that_fails_to_load_fails_the_run_with_its_own_error(tmp_path):
    source = _folder(tmp_path, 3)
    error = ModelLoadError("the folder x is not a usable CLIP checkpoint: no weights")

    def load() -> Encoder:
        raise error

    stage = LocalStage(load, decode_workers=2, preprocessor=PRE)
    with pytest.raises(ModelLoadError) as raised:
        run(stage, source, list(source.scan()))
    assert raised.value is error and not stage.model_loaded


def test_a_load_begun_for_files_that_then_fail_still_reports_its_error(tmp_path):
    """Only undecodable new files: the model was asked for, as before, and its failure is the run's."""
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    source = CountingSource(tmp_path)
    error = ModelLoadError("no weights")

    def load() -> Encoder:
        raise error

    stage = LocalStage(load, decode_workers=1, preprocessor=PRE)
    with pytest.raises(ModelLoadError):
        run(stage, source, list(source.scan()))


def test_a_model_whose_preprocessing_differs_encodes_nothing(tmp_path):
    source = _folder(tmp_path, 2)
    other = type(PRE)(resize_to=32, crop_height=32, crop_width=32)
    stage = LocalStage(lambda: Encoder(), decode_workers=1, preprocessor=other)
    with pytest.raises(ClipvecError, match="preprocessing"):
        run(stage, source, list(source.scan()))
