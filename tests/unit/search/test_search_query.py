"""Searching by text and by an example image: the query is encoded and the store asked, with the options."""

from __future__ import annotations

import io

import numpy as np
import pytest

from clipvec.errors import ClipvecError
from clipvec.images.prepare import prepare_image
from clipvec.model.encoder import ClipEncoder
from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.search import SearchOptions, search_image_bytes, search_text
from clipvec.store import ImageRecord

SEED = HELD_OUT_SEED_START + 920_000
SHAPES = [("red", "circle"), ("blue", "square"), ("green", "star"), ("yellow", "cross")]
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="module")
def encoder(tiny_model_dir) -> ClipEncoder:
    return ClipEncoder.load(str(tiny_model_dir), precision="fp32", batch_size=8)


def png(i: int) -> bytes:
    buf = io.BytesIO()
    draw_shape(*SHAPES[i], size=64, seed=SEED + i).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def store(lite_store, encoder):
    """One record per shape image, plus one whose vector is the text "a red circle"."""
    pixels = np.stack(
        [prepare_image(png(i), encoder.preprocessor, max_pixels=MAX_PIXELS).pixels for i in range(4)]
    )
    vectors = list(encoder.encode_pixels(pixels)) + [encoder.encode_text("a red circle")[0]]
    paths = ["shapes/red.png", "shapes/blue.png", "other/green.png", "other/yellow.png", "captions/red.txt"]
    lite_store.upsert(
        [
            ImageRecord(f"{i:064x}", [path], 10, 1.0, 64, 64, "PNG", vector)
            for i, (path, vector) in enumerate(zip(paths, vectors, strict=True))
        ]
    )
    return lite_store


def test_an_image_finds_itself_first(store, encoder):
    for i, path in enumerate(["shapes/red.png", "shapes/blue.png", "other/green.png"]):
        hits = search_image_bytes(encoder, store, png(i), SearchOptions.checked(3), max_pixels=MAX_PIXELS)
        assert len(hits) == 3 and hits[0].path == path
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].score >= hits[1].score >= hits[2].score


def test_a_text_finds_the_record_of_its_vector(store, encoder):
    hits = search_text(encoder, store, "a red circle", SearchOptions.checked(1))
    assert [h.path for h in hits] == ["captions/red.txt"] and hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_the_options_reach_the_store(store, encoder):
    options = SearchOptions.checked(10, path_prefix="other/")
    hits = search_image_bytes(encoder, store, png(0), options, max_pixels=MAX_PIXELS)
    assert sorted(h.path for h in hits) == ["other/green.png", "other/yellow.png"]
    only_itself = SearchOptions.checked(10, min_score=0.9999)
    assert [h.path for h in search_text(encoder, store, "a red circle", only_itself)] == ["captions/red.txt"]


def test_an_example_that_is_not_an_image_or_too_large_is_refused(store, encoder):
    with pytest.raises(ClipvecError) as caught:
        search_image_bytes(encoder, store, b"hello", SearchOptions.checked(1), max_pixels=MAX_PIXELS)
    assert caught.value.code == "unsupported_image_format"
    with pytest.raises(ClipvecError) as caught:
        search_image_bytes(encoder, store, png(0), SearchOptions.checked(1), max_pixels=64 * 64 - 1)
    assert caught.value.code == "image_too_large"


def test_sort_taken_orders_the_same_hits_oldest_first_unknown_last():
    from clipvec.images.photo_meta import PhotoMeta
    from clipvec.search.query import in_order
    from clipvec.store import Hit

    def hit(name: str, score: float, taken: int | None) -> Hit:
        return Hit(name, [name], score, name * 64, 1, 1, 1, "JPEG", meta=PhotoMeta(taken=taken))

    hits = [
        hit("a", 0.9, None),
        hit("b", 0.8, 300),
        hit("c", 0.7, 100),
        hit("d", 0.6, None),
        hit("e", 0.5, 300),
    ]
    assert [h.path for h in in_order(hits, "taken")] == ["c", "b", "e", "a", "d"]
    assert in_order(hits, "score") == hits
