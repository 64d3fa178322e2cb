"""Pytest plugin: an ImageStore factory on each test's Milvus backend (Lite and the 2.3.5 server).

The Milvus fixtures (``milvus_server``, ``milvus_backend``, ``milvus_uri``,
``milvus_private_server``) come from the ``milvus_fixtures`` plugin registered in
``tests/conftest.py``; this file only adds a store factory that closes what it opens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from full_disk import small_disk  # noqa: F401 - a fixture for the full-disk tests

from clipvec.store import ImageStore

MODEL = "test/random-clip"
DIM = 512


@pytest.fixture
def make_store(milvus_backend) -> Iterator[Callable[..., ImageStore]]:
    """``make_store(**overrides)``: an ImageStore on this test's backend, closed afterwards."""
    opened: list[ImageStore] = []

    def make(**overrides) -> ImageStore:
        options = {
            "collection": milvus_backend.collection,
            "model_name": MODEL,
            "dim": DIM,
            "timeout": 60.0,
            "connect_timeout": 10.0,
        }
        options.update(overrides)
        uri = options.pop("uri", milvus_backend.uri)
        store = ImageStore(uri, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
