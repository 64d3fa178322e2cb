"""Whether a start opens its store (Milvus Lite starts) while its model loads (issue 20.1)."""

from __future__ import annotations

import threading

import pytest

from clipvec.model.encoder import ClipEncoder
from clipvec.store import ImageStore


def watch_store_while_model_loads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Patch both loaders; the list gets, per model load, whether the store was opened meanwhile.

    The model load waits (up to 30 s) for the store to open: a start that opens the store only
    after the model has loaded records False, one that overlaps them records True.
    """
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
    return seen
