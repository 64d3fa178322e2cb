"""Pytest plugin: an ImageStore factory on each test's Milvus backend (Lite and the 2.3.5 server).

The Milvus fixtures (``milvus_server``, ``milvus_backend``, ``milvus_uri``,
``milvus_private_server``) come from the ``milvus_fixtures`` plugin registered in
``tests/conftest.py``; this file adds a store factory that closes what it opens, and
``lite_store``: the one Milvus Lite store the unit tests share (opening one takes ~2 s),
emptied for each test.
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


@pytest.fixture(scope="session")
def shared_lite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageStore]:
    """One Milvus Lite store (512-d) for the whole session; tests take it through ``lite_store``."""
    path = tmp_path_factory.mktemp("lite-store") / "m.db"
    with ImageStore(str(path), collection="t", model_name=MODEL, dim=DIM) as store:
        yield store


@pytest.fixture
def lite_store(shared_lite_store: ImageStore) -> ImageStore:
    """A real Milvus Lite store (512-d, model ``test/random-clip``), empty when the test starts."""
    stored = [record.content_hash for record in shared_lite_store.iter_records()]
    if stored:
        shared_lite_store.delete(stored)
    return shared_lite_store
