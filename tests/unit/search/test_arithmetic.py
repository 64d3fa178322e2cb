"""Query arithmetic (issue 17.5): the parts' check, and the weighted, normalised sum."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from clipvec.errors import ClipvecError
from clipvec.search.arithmetic import MAX_PARTS, QueryPart, combine, parse_parts

AXES = {"x": np.array([1.0, 0, 0]), "y": np.array([0, 2.0, 0]), "z": np.array([0, 0, 0.5])}


def encoders(stored: dict[str, tuple[str, np.ndarray]] | None = None, calls: list | None = None):
    calls = calls if calls is not None else []

    def encode_texts(texts):
        calls.append(("texts", list(texts)))
        return np.stack([AXES[t] for t in texts])

    def encode_image(data):
        calls.append(("image", data))
        return AXES[data.decode()]

    return {"encode_texts": encode_texts, "encode_image": encode_image, "stored": (stored or {}).get}


def test_parts_are_checked_and_read():
    image = base64.b64encode(b"\x89PNG").decode()
    parts = parse_parts(
        {
            "parts": [
                {"text": "a beach"},
                {"image_path": "a/b.jpg", "weight": 0.5},
                {"image_b64": image, "weight": -2},
            ]
        },
        max_image_bytes=100,
    )
    assert parts == [
        QueryPart(1.0, text="a beach"),
        QueryPart(0.5, image_path="a/b.jpg"),
        QueryPart(-2.0, image=b"\x89PNG"),
    ]
    assert parse_parts([{"text": "x"}], max_image_bytes=1) == [QueryPart(1.0, text="x")]


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {"parts": []},
        {"parts": [{"text": "x"}] * (MAX_PARTS + 1)},
        {"parts": [{"text": "x"}], "extra": 1},
        {"parts": ["a beach"]},
        {"parts": [{}]},
        {"parts": [{"text": "x", "image_path": "y"}]},
        {"parts": [{"text": "x", "wieght": 2}]},
        {"parts": [{"text": ""}]},
        {"parts": [{"text": "a\x00b"}]},
        {"parts": [{"text": 5}]},
        {"parts": [{"text": "x", "weight": 0}]},
        {"parts": [{"text": "x", "weight": -101}]},
        {"parts": [{"text": "x", "weight": float("nan")}]},
        {"parts": [{"text": "x", "weight": "1"}]},
        {"parts": [{"text": "x", "weight": False}]},
        {"parts": [{"image_b64": "***"}]},
        {"parts": [{"image_b64": base64.b64encode(b"x" * 300).decode()}]},
    ],
)
def test_bad_parts_are_bad_parameters(value):
    with pytest.raises(ClipvecError) as caught:
        parse_parts(value, max_image_bytes=100)
    assert caught.value.code == "bad_parameter" and caught.value.status == 400


def test_the_sum_of_unit_vectors_times_weights_normalised():
    calls: list = []
    combined = combine(
        [QueryPart(1.0, text="x"), QueryPart(1.0, text="y"), QueryPart(-0.5, image=b"z")],
        **encoders(calls=calls),
    )
    want = np.array([1.0, 1.0, -0.5]) / np.linalg.norm([1.0, 1.0, -0.5])
    np.testing.assert_allclose(combined.vector, want, rtol=1e-6)
    assert combined.vector.dtype == np.float32 and combined.examples == frozenset()
    assert calls == [("texts", ["x", "y"]), ("image", b"z")]  # the texts in one batch


def test_a_stored_example_gives_its_stored_vector_and_is_remembered():
    stored = {"photos/a.jpg": ("h" * 64, np.array([0, 0, 3.0]))}
    combined = combine(
        [QueryPart(1.0, image_path="photos/a.jpg"), QueryPart(1.0, text="x")], **encoders(stored)
    )
    np.testing.assert_allclose(combined.vector, np.array([1.0, 0, 1.0]) / np.sqrt(2), rtol=1e-6)
    assert combined.examples == {"h" * 64}


def test_a_path_the_collection_lacks_is_a_bad_parameter():
    with pytest.raises(ClipvecError, match="no image in the collection has the path 'x.jpg'"):
        combine([QueryPart(1.0, image_path="x.jpg")], **encoders())


def test_parts_that_cancel_out_are_a_bad_parameter():
    with pytest.raises(ClipvecError, match="cancel each other out"):
        combine([QueryPart(1.5, text="x"), QueryPart(-1.5, image=b"x")], **encoders())
