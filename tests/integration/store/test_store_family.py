"""Issue 18.4 on Milvus Lite 2.5.1 and the real 2.3.5 server: a collection records its model's
family; one made before families were recorded opens as CLIP's; another family is a model_mismatch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from milvus_fixtures import raw_client

from clipvec.errors import ModelMismatch
from clipvec.store import ImageRecord
from clipvec.store.schema import CollectionSpec

DIM = 512  # as in conftest.make_store


def records(n: int) -> list[ImageRecord]:
    vectors = np.random.default_rng(0).standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ImageRecord(
            content_hash=f"{i:064x}",
            paths=[f"img/{i}.jpg"],
            size=1000,
            mtime=1_700_000_000.0,
            width=64,
            height=64,
            format="JPEG",
            vector=vectors[i],
        )
        for i in range(n)
    ]


def description_before_families(spec: CollectionSpec, version: int = 1) -> str:
    """The description clipvec wrote before it recorded families (no family; the schema version as made)."""
    meta = {"schema_version": version, "model": spec.model_name, "dim": spec.dim, "metric": spec.metric}
    if spec.model_id:
        meta["model_id"] = spec.model_id
    return json.dumps({"clipvec": meta}, sort_keys=True)


def recorded(milvus_backend) -> dict:
    """What the collection's description says, read by a client of its own."""
    client = raw_client(milvus_backend.uri)
    try:
        return json.loads(client.describe_collection(milvus_backend.collection)["description"])["clipvec"]
    finally:
        client.close()


def test_a_new_collection_records_its_family_and_another_family_is_a_mismatch(make_store, milvus_backend):
    store = make_store(model_id="sha256:aaa")
    store.upsert(records(2))
    store.close()
    assert recorded(milvus_backend)["family"] == "clip"
    with pytest.raises(ModelMismatch) as err:  # even with the same content id: families never compare
        make_store(model_id="sha256:aaa", family="siglip")
    assert "(clip, dim 512, COSINE)" in err.value.detail and "(siglip, dim 512, COSINE)" in err.value.detail
    assert "(clip, dim 512, COSINE)" in err.value.public_detail
    assert err.value.status == 409 and err.value.code == "model_mismatch"
    assert make_store(model_id="sha256:aaa").count() == 2  # untouched


def test_a_collection_made_before_families_opens_as_clips(make_store, milvus_backend, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(CollectionSpec, "description", description_before_families)
        store = make_store()
        store.upsert(records(3))
        store.close()
    assert "family" not in recorded(milvus_backend)
    again = make_store()
    assert again.count() == 3
    assert len(again.search(records(1)[0].vector, top_k=3)) == 3
    again.close()
    assert "family" not in recorded(milvus_backend)  # read as clip, not rewritten
    with pytest.raises(ModelMismatch, match=r"\(clip, dim 512, COSINE\).*\(siglip, dim 512, COSINE\)"):
        make_store(family="siglip")
