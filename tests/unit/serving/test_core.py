"""``ServingCore``: vectors, batches, search and readiness, without HTTP (clipvec.serving.core).

In-process twins of the service's own half of tests/e2e/test_service.py (the vectors, the
batch answers with per-item errors, the hostile corpus, concurrent single images, search,
add and info) and of tests/e2e/test_hardening.py's test_45_mb_text_is_cut_before_tokenizing.
What HTTP adds (the guard, BentoML's routing) is checked in test_service_app.py; search by
meaning on Lite and the 2.3.5 server in tests/integration/serving/test_core_search.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from image_corpus import format_samples, hostile_cases
from payloads import assert_unit_vector
from serving_fixtures import jpeg_bytes, open_core, png_bytes

from clipvec.errors import ClipvecError, PayloadTooLarge, StoreUnavailable
from clipvec.model.text import MAX_TOKEN_CHARS
from clipvec.search import SearchOptions
from clipvec.serving.routes import ITEM_ERROR
from clipvec.serving.service import json_errors
from clipvec.store import ImageStore


def image_batches() -> float:
    """How many image batches the encoder has run (the core's own metric)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("clipvec_batch_size_count", {"kind": "image"}) or 0.0


# --------------------------------------------------------------------------- single items
def test_text_vector(serving_core, tiny_model_dir):
    answer = serving_core.vectorize_text("dog")
    assert_unit_vector(answer)
    assert answer["model"] == tiny_model_dir.name  # the name, never the path (issue 21)
    assert answer["truncated"] is False and type(answer["tokens"]) is int and answer["tokens"] > 0
    assert json.loads(json.dumps(answer)) == answer


def test_long_text_is_truncated_and_reported(serving_core):
    assert serving_core.vectorize_text("dog " * 200)["truncated"] is True


def test_45_mb_text_is_cut_before_tokenizing(serving_core, monkeypatch):
    """The tokenizer sees at most the context's worth of characters (it was handed all 45 MB: 47-80 s)."""
    towers = serving_core.encoder._towers
    tokenize, handed = towers.tokenizer, []

    def recording_tokenizer(texts, *args, **kwargs):
        handed.extend(len(t) for t in texts)
        return tokenize(texts, *args, **kwargs)

    monkeypatch.setattr(towers, "tokenizer", recording_tokenizer)
    text = ("lorem ipsum dolor sit amet " * 1_700_000)[:45_000_000]
    answer = serving_core.vectorize_text(text)
    assert answer["truncated"] is True
    assert handed and max(handed) <= towers.context_length * MAX_TOKEN_CHARS, handed
    short = serving_core.vectorize_text(text[:2000])
    np.testing.assert_allclose(answer["vector"], short["vector"], atol=1e-5)


def test_image_vector(serving_core):
    answer = serving_core.vectorize_image(jpeg_bytes(320, 240))
    assert_unit_vector(answer)
    assert (answer["format"], answer["width"], answer["height"]) == ("JPEG", 320, 240)


def test_every_format(serving_core):
    for name, data, fmt, (width, height) in format_samples():
        answer = serving_core.vectorize_image(data)
        assert_unit_vector(answer)
        assert (answer["format"], answer["width"], answer["height"]) == (fmt, width, height), name


def test_hostile_corpus_raises_its_error_and_the_core_keeps_working(serving_core):
    good = jpeg_bytes(seed=7)
    expected = serving_core.vectorize_image(good)["vector"]
    for case in hostile_cases():
        with pytest.raises(ClipvecError) as err:
            serving_core.vectorize_image(case.data)
        assert (err.value.code, err.value.status) == (case.code, case.status), case.name
        assert err.value.detail, case.name
        np.testing.assert_allclose(serving_core.vectorize_image(good)["vector"], expected, atol=1e-6)


def test_hostile_corpus_in_search_and_add(serving_core):
    """Every route that takes an image refuses the same way, before the store is asked."""
    for case in hostile_cases()[:3] + [c for c in hostile_cases() if c.code == "image_too_large"][:1]:
        for call in (
            lambda data: serving_core.search_image(data, SearchOptions(top_k=3)),
            lambda data: serving_core.add_image(data, "x.jpg"),
        ):
            with pytest.raises(ClipvecError) as err:
                call(case.data)
            assert err.value.code == case.code, case.name


# --------------------------------------------------------------------------- batches
def test_batch_texts_equal_singles_with_per_item_errors(serving_core):
    texts = ["a dog", "a photo of a cat", "x" * 1000]
    answer = serving_core.vectorize_texts([texts[0], 17, texts[1], "", texts[2]])
    assert answer["dim"] == 512 and answer["model"] == serving_core.encoder.shown_name
    results = answer["results"]
    assert [set(r) >= {"vector"} for r in results] == [True, False, True, False, True]
    assert results[1]["error"] == "invalid_text" and results[3]["error"] == "empty_body"
    assert results[1]["detail"] == "item 1 is int, not a string"
    for text, result in zip(texts, [results[0], results[2], results[4]], strict=True):
        single = serving_core.vectorize_text(text)
        np.testing.assert_allclose(result["vector"], single["vector"], atol=1e-5)
        assert (result["truncated"], result["tokens"]) == (single["truncated"], single["tokens"])


def test_items_the_guard_marked_are_per_item_errors(serving_core):
    """The service's half of test_lone_surrogate_in_a_batch_is_a_per_item_error: the guard's marks."""
    marked = {ITEM_ERROR: "item 0 holds a lone surrogate (\\ud800); send valid UTF-8 text"}
    results = serving_core.vectorize_texts([marked, "a dog", ["nested"], {ITEM_ERROR: 5}])["results"]
    assert results[0] == {"error": "invalid_text", "detail": marked[ITEM_ERROR]}
    assert len(results[1]["vector"]) == 512
    assert results[2] == {"error": "invalid_text", "detail": "item 2 is list, not a string"}
    assert results[3] == {"error": "invalid_text", "detail": "item 3 is dict, not a string"}  # not a mark


def test_batch_images_equal_singles_with_per_item_errors(serving_core):
    images = [jpeg_bytes(200 + 40 * s, seed=s) for s in range(3)]
    files = [
        ("a.jpg", images[0]),
        ("broken.jpg", images[1][:300]),
        ("b.jpg", images[1]),
        ("notes.txt", b"hello"),
        ("c.jpg", images[2]),
    ]
    answer = serving_core.vectorize_images(files)
    results = answer["results"]
    assert [r["name"] for r in results] == ["a.jpg", "broken.jpg", "b.jpg", "notes.txt", "c.jpg"]
    assert results[1]["error"] == "truncated_image"
    assert results[3]["error"] == "unsupported_image_format"
    assert set(results[1]) == {"name", "error", "detail"}
    for data, result in zip(images, [results[0], results[2], results[4]], strict=True):
        single = serving_core.vectorize_image(data)
        np.testing.assert_allclose(result["vector"], single["vector"], atol=1e-5)
        assert {k: result[k] for k in ("format", "width", "height", "dim", "model")} == {
            k: single[k] for k in ("format", "width", "height", "dim", "model")
        }


def test_a_batch_of_only_bad_items_encodes_nothing(serving_core):
    before = image_batches()
    results = serving_core.vectorize_images([("a", b""), ("b", b"x")])["results"]
    assert [(r["name"], r["error"]) for r in results] == [
        ("a", "empty_body"),
        ("b", "unsupported_image_format"),
    ]
    assert image_batches() == before


def test_batches_over_the_item_limit_are_413(serving_core):
    limit = serving_core.settings.max_batch_items
    with pytest.raises(PayloadTooLarge) as err:
        serving_core.vectorize_texts(["a"] * (limit + 1))
    assert err.value.status == 413 and err.value.detail == f"{limit + 1} items; the limit is {limit}"
    with pytest.raises(PayloadTooLarge):
        serving_core.vectorize_images([("a.jpg", b"x")] * (limit + 1))
    assert len(serving_core.vectorize_texts(["a"] * limit)["results"]) == limit


def test_concurrent_single_images_are_batched_correctly(serving_core):
    images = [jpeg_bytes(seed=s) for s in range(6)]
    singles = [serving_core.vectorize_image(d)["vector"] for d in images]
    jobs = [images[i % len(images)] for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(serving_core.vectorize_image, jobs))
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer["vector"], singles[i % len(images)], atol=1e-5)


# --------------------------------------------------------------------------- the store
def test_add_search_and_info(serving_encoder, tiny_model_dir, tmp_path):
    """Twin of test_search_add_and_info_endpoints, on a collection of its own."""
    with open_core(serving_encoder, tiny_model_dir, tmp_path) as core:
        info = core.collection_info()
        assert info == {
            "collection": "images",
            "count": 0,
            "model": tiny_model_dir.name,
            "family": "clip",
            "dim": 512,
            "metric": "COSINE",
            "higher_is_better": True,
            "schema_version": 2,
            "hint": None,
        }
        images = [jpeg_bytes(300 + 10 * s, seed=s) for s in range(3)]
        for i, data in enumerate(images):
            added = core.add_image(data, f"photo{i}.jpg")
            assert added["created"] is True
            assert added["path"].startswith("uploads/") and added["path"].endswith(f"-photo{i}.jpg")
        assert core.add_image(images[0], "photo0.jpg")["created"] is False
        assert core.collection_info()["count"] == 3

        by_image = core.search_image(images[1], SearchOptions(top_k=2))
        hits = by_image["hits"]
        assert len(hits) == 2 and hits[0]["path"].endswith("-photo1.jpg") and hits[0]["score"] > 0.999
        assert {"path", "score", "size", "width", "height"} <= set(hits[0])
        assert json.loads(json.dumps(by_image)) == by_image  # plain JSON types only
        assert (by_image["metric"], by_image["higher_is_better"]) == ("COSINE", True)
        assert len(core.search_text("a photo", SearchOptions(top_k=3))["hits"]) == 3
        # "more like this": the example's own record is left out, and top_k hits still come
        itself = hits[0]["content_hash"]
        others = core.search_image(images[1], SearchOptions(top_k=2, exclude=itself))["hits"]
        assert len(others) == 2 and itself not in {h["content_hash"] for h in others}

        # the options: top_k, min_score (COSINE: at least), path_prefix
        assert len(core.search_text("a photo", SearchOptions(top_k=1))["hits"]) == 1
        near = core.search_image(images[2], SearchOptions(top_k=3, min_score=0.999))["hits"]
        assert len(near) == 1 and near[0]["path"].endswith("-photo2.jpg")
        first = core.search_image(images[0], SearchOptions(top_k=3, path_prefix="uploads/"))["hits"]
        assert len(first) == 3
        assert core.search_image(images[0], SearchOptions(top_k=3, path_prefix="elsewhere/"))["hits"] == []
        prefix = near[0]["path"][: len("uploads/") + 4]
        assert {
            h["path"] for h in core.search_text("x", SearchOptions(top_k=3, path_prefix=prefix))["hits"]
        } == {near[0]["path"]}
        # a prefix with characters Milvus' filter syntax treats specially (was a 500)
        assert core.search_text("dog", SearchOptions(top_k=3, path_prefix="a~"))["hits"] == []


def test_ready_while_the_store_opens(serving_core):
    assert serving_core.is_ready() is True


def test_not_ready_when_the_store_cannot_be_reached_but_vectors_still_work(unreachable_core):
    assert unreachable_core.is_ready() is False  # within the 1 s store timeout: test_store_handle.py
    assert len(unreachable_core.vectorize_text("a dog")["vector"]) == 512
    assert len(unreachable_core.vectorize_image(png_bytes((1, 2, 3)))["vector"]) == 512
    for call in (
        unreachable_core.collection_info,
        lambda: unreachable_core.search_text("a dog", SearchOptions(top_k=3)),
        lambda: unreachable_core.search_image(jpeg_bytes(), SearchOptions(top_k=3)),
    ):
        with pytest.raises(StoreUnavailable) as err:
            call()
        assert err.value.status == 503


def test_a_model_mismatch_answer_names_the_models_not_their_folders(
    serving_encoder, tiny_model_dir, tmp_path
):
    """The 409 a client gets names the models, never a folder or the Lite file (issue 21)."""
    ImageStore(str(tmp_path / "m.db"), model_name="/home/x/models/other-clip", dim=512).close()
    with open_core(serving_encoder, tiny_model_dir, tmp_path) as core:
        answer = json_errors(core.collection_info)()
    body = json.loads(answer.body)
    assert (answer.status_code, body["error"]) == (409, "model_mismatch")
    assert "'other-clip'" in body["detail"] and f"'{tiny_model_dir.name}'" in body["detail"]
    for where in ("/home/x", str(tiny_model_dir), str(tmp_path)):
        assert where not in body["detail"], where
