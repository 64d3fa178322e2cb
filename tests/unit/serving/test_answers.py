"""The JSON shapes of the service's answers: every key and its type (clients parse these).

The answers only read the encoder's ``name`` and ``dim`` and the store's ``metric`` and
``higher_is_better``; plain namespaces stand for them here, real ones in test_core.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from clipvec.images import PreparedImage
from clipvec.model.encoder import TextEncoding
from clipvec.model.family import CLIP
from clipvec.search import HIT_PATHS_SHOWN
from clipvec.serving import answers
from clipvec.store import Hit

ENCODER = SimpleNamespace(
    name="/srv/x/models/tiny", shown_name="tiny", dim=4, family=CLIP
)  # a folder: shown by name
STORE = SimpleNamespace(
    metric="L2", higher_is_better=False, count=lambda: 7, schema_version=2, migrate_hint=None
)
VECTORS = np.array([[0.5, 0.5, 0.5, 0.5], [1.0, 0.0, 0.0, 0.0]], dtype=np.float64)
ENCODED = TextEncoding(vectors=VECTORS, truncated=[False, True], token_counts=[3, 77])


def types_of(answer: dict) -> dict[str, type]:
    return {key: type(value) for key, value in answer.items()}


def round_trips(answer: dict) -> None:
    assert json.loads(json.dumps(answer)) == answer  # plain JSON types only (no numpy scalars)


def test_vectors_are_float32_lists():
    vector = answers.vector_json(np.array([0.1, 1 / 3], dtype=np.float64))
    assert vector == [float(np.float32(0.1)), float(np.float32(1 / 3))]
    assert all(type(x) is float for x in vector)


def test_text_answer():
    answer = answers.text_answer(ENCODER, ENCODED, 1)
    assert types_of(answer) == {"vector": list, "dim": int, "model": str, "truncated": bool, "tokens": int}
    assert answer == {
        "vector": [1.0, 0.0, 0.0, 0.0],
        "dim": 4,
        "model": "tiny",
        "truncated": True,
        "tokens": 77,
    }
    assert answers.text_answer(ENCODER, ENCODED)["vector"] == [0.5] * 4  # row 0 by default
    round_trips(answer)


def test_text_item_leaves_model_and_dim_to_the_batch():
    assert answers.text_item(ENCODED, 0) == {"vector": [0.5] * 4, "truncated": False, "tokens": 3}


def test_image_answer():
    prepared = PreparedImage(pixels=np.zeros((3, 2, 2), np.float32), format="PNG", width=64, height=48)
    answer = answers.image_answer(ENCODER, prepared, VECTORS[1])
    assert types_of(answer) == {
        "vector": list,
        "dim": int,
        "model": str,
        "format": str,
        "width": int,
        "height": int,
    }
    assert (answer["format"], answer["width"], answer["height"]) == ("PNG", 64, 48)
    round_trips(answer)


def test_batch_answer_names_model_and_dim_once():
    results = [answers.text_item(ENCODED, 0), {"error": "empty_body", "detail": "item 1 is an empty string"}]
    answer = answers.batch_answer(ENCODER, results)
    assert answer == {"results": results, "dim": 4, "model": "tiny"}
    round_trips(answer)


def test_hits_answer():
    many = [f"p{i}.png" for i in range(HIT_PATHS_SHOWN + 2)]
    hits = [
        Hit("a.png", ["a.png"], 0.25, "ab" * 32, 1234, 64, 48, "PNG"),
        Hit(many[0], many, 1.5, "cd" * 32, 99, 8, 8, "JPEG"),
    ]
    answer = answers.hits_answer(ENCODER, STORE, hits)
    assert types_of(answer) == {"hits": list, "metric": str, "higher_is_better": bool, "model": str}
    assert (answer["metric"], answer["higher_is_better"], answer["model"]) == ("L2", False, "tiny")
    first, second = answer["hits"]
    assert types_of(first) == {
        "path": str,
        "paths": list,
        "score": float,
        "content_hash": str,
        "size": int,
        "width": int,
        "height": int,
        "format": str,
        "path_count": int,
        "taken": type(None),  # unknown metadata (issue 17): null, or "" for the names
        "camera": str,
        "lens": str,
        "lat": type(None),
        "lon": type(None),
    }
    assert first["paths"] == ["a.png"] and first["path_count"] == 1
    assert second["paths"] == many[:HIT_PATHS_SHOWN] and second["path_count"] == len(many)
    assert answers.hits_answer(ENCODER, STORE, [])["hits"] == []
    round_trips(answer)


def test_collection_answer():
    answer = answers.collection_answer(ENCODER, STORE, "images")
    assert answer == {
        "collection": "images",
        "count": 7,
        "model": "tiny",
        "family": "clip",
        "dim": 4,
        "metric": "L2",
        "higher_is_better": False,
        "schema_version": 2,
        "hint": None,
    }
    assert types_of(answer) == {
        "collection": str,
        "count": int,
        "model": str,
        "family": str,
        "dim": int,
        "metric": str,
        "higher_is_better": bool,
        "schema_version": int,
        "hint": type(None),
    }
    old = SimpleNamespace(
        **{**vars(STORE), "schema_version": 1, "migrate_hint": "collection 'images' has..."}
    )
    assert answers.collection_answer(ENCODER, old, "images")["hint"] == "collection 'images' has..."


# --------------------------------------------------------------------------- the JSON text (issue 20.4)
def float32_edge_vector() -> np.ndarray:
    rng = np.random.default_rng(4)
    unit = rng.standard_normal(512).astype(np.float32)
    unit /= np.linalg.norm(unit)
    tiny = np.array([1e-45, -1e-45, 1.17e-38, 3.4e38, -0.0, 0.0, 1.0, 1 / 3, 0.1], dtype=np.float32)
    return np.concatenate([unit, tiny])


def test_vector_answer_bytes_keep_every_float32_exactly():
    vector = float32_edge_vector()
    answer = answers.image_answer(ENCODER, PreparedImage(np.zeros(1), "JPEG", 3, 2), vector)
    written = json.loads(answers.vector_answer_bytes(answer))
    before = json.loads(json.dumps(answer))  # what BentoML wrote (json.dumps of the same dict)
    assert np.array_equal(np.asarray(written["vector"], np.float32), vector)
    assert np.array_equal(np.asarray(written["vector"], np.float32), np.asarray(before["vector"], np.float32))
    assert {k: v for k, v in written.items() if k != "vector"} == {
        k: v for k, v in before.items() if k != "vector"
    }


def test_vector_answer_bytes_write_each_float32_shortest():
    """At most 9 significant digits (a float32's shortest round trip), not the double's 17."""
    vector = float32_edge_vector()
    answer = answers.text_answer(
        ENCODER, TextEncoding(vectors=vector[None], truncated=[False], token_counts=[3])
    )
    texts = json.loads(answers.vector_answer_bytes(answer), parse_float=str, parse_int=str)["vector"]
    digits = [len(t.lstrip("-").split("e")[0].replace(".", "").strip("0")) for t in texts]
    assert max(digits) <= 9
    assert len(answers.vector_answer_bytes(answer)) < len(json.dumps(answer)) * 0.7


def test_batch_answer_bytes_keep_items_and_errors():
    results = [answers.text_item(ENCODED, 1), {"error": "empty_input", "detail": "item 1 is an empty string"}]
    answer = answers.batch_answer(ENCODER, results)
    assert json.loads(answers.vector_answer_bytes(answer)) == json.loads(json.dumps(answer))
