"""Issue 17 through the serving core (tiny CLIP), on Milvus Lite and the 2.3.5 server:
``/add_image`` stores the photo's metadata and answers it; ``/collection_info`` gives the
schema version, and for a version-1 collection (as earlier clipvec made it) the one-line hint,
while adding and searching keep working on it."""

from __future__ import annotations

import warnings

from photo_corpus import photos
from serving_fixtures import open_core
from v1_collection import create_v1_collection

from clipvec.images.photo_meta import PhotoMeta
from clipvec.model.facts import require_facts
from clipvec.search import SearchOptions

CORPUS = {p.name: p for p in photos()}


def test_add_image_stores_and_answers_the_metadata(serving_encoder, tiny_model_dir, milvus_backend, tmp_path):
    photo = CORPUS["canon_paris.jpg"]
    with open_core(
        serving_encoder,
        tiny_model_dir,
        tmp_path,
        milvus_uri=milvus_backend.uri,
        collection=milvus_backend.collection,
    ) as core:
        info = core.collection_info()
        assert info["schema_version"] == 2 and info["hint"] is None
        answer = core.add_image(photo.data, "paris.jpg")
        assert answer["taken"] == "2024-05-01T12:00:00+02:00" and answer["camera"] == "Canon EOS R5"
        assert (answer["lat"], answer["lon"]) == (48.8584, 2.2945)
        hits = core.search_text("a photo", SearchOptions(top_k=1))["hits"]
        assert hits[0]["lens"] == "RF24-105mm F4 L IS USM"
        stored = core.store.run(lambda store: store.get_by_path(answer["path"]))
        assert stored.meta == photo.expect


def test_a_version_1_collection_is_served_with_the_hint(
    serving_encoder, tiny_model_dir, milvus_backend, tmp_path
):
    facts = require_facts(str(tiny_model_dir))
    create_v1_collection(milvus_backend.uri, milvus_backend.collection, model=facts.name, dim=facts.dim)
    with open_core(
        serving_encoder,
        tiny_model_dir,
        tmp_path,
        milvus_uri=milvus_backend.uri,
        collection=milvus_backend.collection,
    ) as core:
        info = core.collection_info()
        assert info["schema_version"] == 1
        assert "schema version 1" in info["hint"] and "clipvec migrate" in info["hint"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            answer = core.add_image(CORPUS["nikon_sydney.jpg"].data, "sydney.jpg")
        assert answer["created"] is True and answer["taken"] is None  # stored without metadata
        assert core.collection_info()["count"] == 1
        hits = core.search_text("a photo", SearchOptions(top_k=1))["hits"]
        assert hits[0]["path"] == answer["path"] and hits[0]["camera"] == ""
        stored = core.store.run(lambda store: store.get_by_path(answer["path"]))
        assert stored.meta == PhotoMeta()
