"""``prepare_to_serve``: what must hold before BentoML starts its workers (clipvec.serving.startup).

In-process, with the environment and the working folder patched: relative settings become
absolute against the folder the user started from, and a missing model is one message and
exit code 2 (the e2e tests see the same through ``bentoml serve``: tests/e2e/test_first_run.py).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
from pathlib import Path

import pytest

from clipvec.serving import startup
from clipvec.settings import get_settings

PATH_SETTINGS = ("CLIPVEC_MODEL", "CLIPVEC_MILVUS_URI", "CLIPVEC_IMAGES_DIR", "CLIPVEC_THUMB_DIR")


@pytest.fixture
def started_in(tmp_path, monkeypatch):
    """cwd = a fresh folder; the path settings restored afterwards, whatever prepare_to_serve set."""
    for name in PATH_SETTINGS:
        monkeypatch.setenv(name, "")  # recorded, so anything written into os.environ is undone
    monkeypatch.chdir(tmp_path)
    previous = signal.getsignal(startup.WORKER_FAILED_SIGNAL)
    get_settings.cache_clear()
    yield tmp_path
    signal.signal(startup.WORKER_FAILED_SIGNAL, previous)
    get_settings.cache_clear()


def test_relative_settings_become_absolute(started_in, tiny_model_dir, monkeypatch, capsys):
    shutil.copytree(tiny_model_dir, started_in / "my-model")
    monkeypatch.setenv("CLIPVEC_MODEL", "my-model")
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "./data/milvus.db")
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", "photos")
    monkeypatch.setenv("CLIPVEC_THUMB_DIR", "~/thumbs")
    startup.prepare_to_serve()
    assert os.environ["CLIPVEC_MODEL"] == str(started_in / "my-model")
    assert os.environ["CLIPVEC_MILVUS_URI"] == str(started_in / "data" / "milvus.db")
    assert os.environ["CLIPVEC_IMAGES_DIR"] == str(started_in / "photos")
    assert os.environ["CLIPVEC_THUMB_DIR"] == "~/thumbs"  # absolute once the user's home is put in
    settings = get_settings()  # the cache was cleared: workers read the absolute values
    assert settings.milvus_uri == str(started_in / "data" / "milvus.db")
    err = capsys.readouterr().err
    assert err == (
        f"clipvec: model {started_in / 'my-model'}; collection 'images' in {started_in / 'data' / 'milvus.db'}; "
        f"images in {started_in / 'photos'}\n"
    )
    assert signal.getsignal(startup.WORKER_FAILED_SIGNAL) == startup._a_worker_cannot_start
    assert not (started_in / "data").exists() and not (started_in / "photos").exists()  # nothing made


def test_absolute_settings_and_server_uris_stay_as_they_are(started_in, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("CLIPVEC_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "http://milvus.example:19530")
    monkeypatch.setenv("CLIPVEC_IMAGES_DIR", "s3://photos/2024")
    monkeypatch.setenv("CLIPVEC_THUMB_DIR", str(started_in / "thumbs"))
    startup.prepare_to_serve()
    assert [os.environ[n] for n in PATH_SETTINGS] == [
        str(tiny_model_dir),
        "http://milvus.example:19530",
        "s3://photos/2024",
        str(started_in / "thumbs"),
    ]
    assert (
        "collection 'images' in http://milvus.example:19530; images in s3://photos/2024"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "model", ["missing-model", "./missing-model", "/nowhere/clip", "nobody/no-such-clip"]
)
def test_a_missing_model_is_one_message_and_exit_2(started_in, monkeypatch, capsys, model):
    monkeypatch.setenv("CLIPVEC_MODEL", model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a hub id is looked up in the cache only
    with pytest.raises(SystemExit) as exit_:
        startup.prepare_to_serve()
    assert exit_.value.code == startup.EXIT_MODEL_UNAVAILABLE == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("clipvec: ") and captured.err.count("clipvec: ") == 1
    assert model.removeprefix("./") in captured.err and "Traceback" not in captured.err


def test_a_model_folder_without_its_files_is_refused(started_in, monkeypatch, capsys):
    (started_in / "empty-model").mkdir()
    monkeypatch.setenv("CLIPVEC_MODEL", "empty-model")
    with pytest.raises(SystemExit) as exit_:
        startup.prepare_to_serve()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("clipvec: ") == 1 and "not a usable CLIP checkpoint" in err
    assert os.environ["CLIPVEC_MODEL"] == str(started_in / "empty-model")


def test_outside_a_bentoml_worker_stopping_the_server_does_nothing():
    startup.stop_server_from_worker("the model cannot be loaded")  # pytest is not a worker: returns
    assert Path.cwd().exists()


# --------------------------------------------------------------------------- several workers, one Lite file
def test_several_workers_on_a_lite_file_are_refused_before_any_worker(started_in, monkeypatch, capsys):
    """Issue 21 item 8: the workers would lock each other out (503 store_locked, /readyz flapping)."""
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "./data/milvus.db")
    monkeypatch.setenv("CLIPVEC_WORKERS", "2")
    monkeypatch.setenv("CLIPVEC_MODEL", "no-model-needed")  # refused before the model is looked at
    with pytest.raises(SystemExit) as exit_:
        startup.prepare_to_serve()
    assert exit_.value.code == startup.EXIT_SETTINGS_REFUSED == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("clipvec: ") == 1
    err = captured.err
    assert f"CLIPVEC_WORKERS=2 cannot share the Milvus Lite file {started_in / 'data' / 'milvus.db'}" in err
    assert "Use CLIPVEC_WORKERS=1" in err and "Milvus server" in err
    assert not (started_in / "data").exists()  # nothing made


def test_several_workers_on_a_server_start(started_in, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("CLIPVEC_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", "http://milvus.example:19530")
    monkeypatch.setenv("CLIPVEC_WORKERS", "2")
    startup.prepare_to_serve()
    assert "collection 'images' in http://milvus.example:19530" in capsys.readouterr().err


def test_the_open_files_soft_limit_is_raised_to_the_hard_limit():
    """Issue 21: idle sockets took the last of 1,024 descriptors; the hard limit is often far higher."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, hard, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        assert startup.raise_open_files_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
