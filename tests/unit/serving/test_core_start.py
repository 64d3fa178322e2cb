"""A worker's start: the store opens (Milvus Lite starts) while the model loads (issue 20.1)."""

from __future__ import annotations

import pytest
from load_overlap import watch_store_while_model_loads
from serving_fixtures import serving_settings

from clipvec.errors import ModelLoadError
from clipvec.model.encoder import ClipEncoder
from clipvec.serving.core import ServingCore
from clipvec.store import lite_registry


def test_the_store_opens_while_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    settings = serving_settings(tmp_path, tiny_model_dir)
    seen = watch_store_while_model_loads(monkeypatch)
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
