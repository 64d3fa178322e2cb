"""The ``ImageStore`` facade on Milvus Lite: what callers read off it, settings, closing, the public names.

Behaviour against both backends is in tests/integration/store/test_image_store.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import clipvec.store
from clipvec.errors import StoreUnavailable
from clipvec.settings import Settings
from clipvec.store import ImageRecord, ImageStore

DIM = 4


def test_attributes_callers_read(tmp_path):
    db = str(tmp_path / "milvus.db")
    with ImageStore(
        db, collection="photos", model_name="m", dim=DIM, metric="l2", timeout=7, reload_timeout=9
    ) as store:
        assert (store.uri, store.collection, store.model_name, store.dim) == (db, "photos", "m", DIM)
        assert (store.metric, store.higher_is_better) == ("L2", False)
        assert store.is_lite and store.index_type == "FLAT"
        assert (store.timeout, store.reload_timeout, store.lock_wait) == (7, 9, 0.0)
        assert store.verify_writes and not store.write_failed
        assert store._client is not None  # benchmarks look inside
        assert repr(store) == f"ImageStore(uri={db!r}, collection='photos', model='m', dim={DIM}, metric=L2)"
        store.upsert([ImageRecord("h", ["a.png"], 1, 1.0, 1, 1, "PNG", np.ones(DIM))], defer_check=True)
        store.confirm_writes()
        store.expect_foreign_writes()
        assert store.count() == 1 and store.get_by_path("a.png").content_hash == "h"
        assert [r.content_hash for r in store.iter_records()] == ["h"]
        assert store.search(np.ones(DIM), top_k=1)[0].content_hash == "h"
        assert store.delete(["h"]) == 1 and store.get(["h"]) == {}
    assert store._client is None
    store.close()  # closing twice is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["milvus.db"]  # no lock file left


def test_from_settings_takes_the_configured_store_and_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIPVEC_MILVUS_URI", str(tmp_path / "milvus.db"))
    monkeypatch.setenv("CLIPVEC_COLLECTION", "configured")
    monkeypatch.setenv("CLIPVEC_METRIC", "IP")
    monkeypatch.setenv("CLIPVEC_VERIFY_WRITES", "false")
    with ImageStore.from_settings(Settings(), model_name="m", dim=DIM, timeout=3) as store:
        assert (store.collection, store.metric, store.timeout) == ("configured", "IP", 3)
        assert not store.verify_writes


def test_bad_arguments_open_nothing(tmp_path):
    with pytest.raises(ValueError, match="metric must be one of"):
        ImageStore(str(tmp_path / "milvus.db"), model_name="m", dim=DIM, metric="dot")
    with pytest.raises(ValueError, match="Milvus Lite supports only"):
        ImageStore(str(tmp_path / "milvus.db"), model_name="m", dim=DIM, index_type="HNSW")
    assert [p.name for p in tmp_path.iterdir()] == ["milvus.db"]  # made, then let go: no lock file
    with pytest.raises(StoreUnavailable, match="must end in .db"):
        ImageStore(str(tmp_path / "milvus.sqlite"), model_name="m", dim=DIM)


@pytest.mark.parametrize("name", ["bad-name", "1starts_with_digit", "", "x" * 256, "spa ce"])
def test_invalid_collection_name_is_refused_before_connecting(name):
    with pytest.raises(ValueError, match="collection name"):
        ImageStore("http://127.0.0.1:1", collection=name, model_name="m", dim=DIM)


def test_the_package_exports_its_public_names_explicitly():
    assert set(clipvec.store.__all__) >= {
        "ImageStore",
        "ImageRecord",
        "Hit",
        "drop_collection",
        "clamp_score",
        "literal",
        "prefix_filter",
        "PATHS_KEPT",
        "MAX_TOP_K",
        "SCORE_RANGES",
        "SCHEMA_VERSION",
    }
    assert all(hasattr(clipvec.store, name) for name in clipvec.store.__all__)
    assert "Portability rules" in clipvec.store.__doc__
