"""A worker's start: the store opens (Milvus Lite starts) while the model loads (issue 20.1)."""

from __future__ import annotations

import threading

import pytest
from serving_fixtures import serving_settings

from clipvec.errors import ModelLoadError
from clipvec.model.encoder import ClipEncoder
from clipvec.serving.core import ServingCore
from clipvec.store import ImageStore, lite_registry


def test_the_store_opens_while_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    settings = serving_settings(tmp_path, tiny_model_dir)
    opened = threading.Event()
    real_open, real_load = ImageStore.from_settings.__func__, ClipEncoder.from_settings.__func__
    seen: list[bool] = []

    def open_store(cls, *args, **kwargs):
        opened.set()
        return real_open(cls, *args, **kwargs)

    def load(cls, settings):
        seen.append(opened.wait(30))  # never waited out when the store opens meanwhile
        return real_load(cls, settings)

    monkeypatch.setattr(ImageStore, "from_settings", classmethod(open_store))
    monkeypatch.setattr(ClipEncoder, "from_settings", classmethod(load))
    core = ServingCore.from_settings(settings)
    try:
        assert seen == [True]
        assert core.store.get().count() == 0  # the store it opened is this model's
        assert lite_registry.users(settings.milvus_uri) == 1
    finally:
        core.close()


def test_a_model_that_fails_to_load_leaves_no_milvus_lite_running(tiny_model_dir, tmp_path, monkeypatch):
    settings = serving_settings(tmp_path, tiny_model_dir)

    def load(cls, settings):
        raise ModelLoadError("cannot load the CLIP model: no weights")

    monkeypatch.setattr(ClipEncoder, "from_settings", classmethod(load))
    with pytest.raises(ModelLoadError):
        ServingCore.from_settings(settings)
    assert lite_registry.users(settings.milvus_uri) == 0
