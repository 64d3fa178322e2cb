"""Search by meaning through the serving core (shapes CLIP), on Milvus Lite and the 2.3.5 server.

In-process twin of tests/e2e/test_service_search.py (the same images, queries and
assertions, without ``bentoml serve``); the core's other searches are in
tests/unit/serving/test_core.py.
"""

from __future__ import annotations

import io

import pytest
from serving_fixtures import open_core

from clipvec.search import SearchOptions

SHAPES = [(c, s) for c in ("red", "blue", "green") for s in ("circle", "square", "triangle")]


def shape_png(color: str, shape: str, seed: int) -> bytes:
    from clipvec.model.shapes import draw_shape

    buf = io.BytesIO()
    draw_shape(color, shape, size=128, seed=seed).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def shapes_encoder():
    from clipvec.model.encoder import ClipEncoder
    from clipvec.model.shapes import SHAPES_MODEL

    return ClipEncoder.load(str(SHAPES_MODEL), device="cpu", precision="fp32")


def test_add_then_search_by_text_and_image(shapes_encoder, milvus_backend, tmp_path):
    """Twin of tests/e2e/test_service_search.py: search by meaning (shapes CLIP), Lite and server."""
    from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL

    seed = HELD_OUT_SEED_START + 900_000
    with open_core(
        shapes_encoder,
        SHAPES_MODEL,
        tmp_path,
        milvus_uri=milvus_backend.uri,
        collection=milvus_backend.collection,
    ) as core:
        for i, (color, shape) in enumerate(SHAPES * 2):
            core.add_image(shape_png(color, shape, seed + i), f"{color}_{shape}_{i}.png")
        info = core.collection_info()
        assert info["count"] == 18 and info["metric"] == "COSINE" and info["dim"] == 64

        def classes(hits: list[dict]) -> list[str]:
            return [h["path"].split("-", 1)[1].rsplit("_", 1)[0] for h in hits]

        hits = core.search_text("a red circle", SearchOptions(top_k=2))["hits"]
        assert classes(hits) == ["red_circle", "red_circle"]
        assert hits[0]["score"] >= hits[1]["score"]
        assert all(h["size"] > 0 and h["width"] == 128 for h in hits)

        hits = core.search_image(shape_png("blue", "triangle", seed + 555), SearchOptions(top_k=2))["hits"]
        assert classes(hits) == ["blue_triangle", "blue_triangle"]

        filtered = core.search_text("a red circle", SearchOptions(top_k=5, min_score=0.5))["hits"]
        assert filtered and all(h["score"] >= 0.5 for h in filtered)


def test_query_arithmetic_moves_the_query_and_leaves_out_its_examples(
    shapes_encoder, milvus_backend, tmp_path
):
    """Issue 17.5: "a red circle" - "a red square" + "a blue square" finds blue circles; a stored
    example is searched by its stored vector and is not its own first hit; an upload part is
    the same query as /search_image."""
    import base64
    import json

    from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL

    seed = HELD_OUT_SEED_START + 910_000
    with open_core(
        shapes_encoder,
        SHAPES_MODEL,
        tmp_path,
        milvus_uri=milvus_backend.uri,
        collection=milvus_backend.collection,
    ) as core:
        paths = {}
        for i, (color, shape) in enumerate(SHAPES * 2):
            paths[(color, shape, i)] = core.add_image(
                shape_png(color, shape, seed + i), f"{color}_{shape}_{i}.png"
            )["path"]

        def search(*parts: dict, top_k: int = 2) -> list[dict]:
            body = json.dumps({"parts": list(parts)}).encode()
            return core.search_combined(body, SearchOptions(top_k=top_k))["hits"]

        def classes(hits: list[dict]) -> list[str]:
            return [h["path"].split("-", 1)[1].rsplit("_", 1)[0] for h in hits]

        moved = search(
            {"text": "a red circle"}, {"text": "a red square", "weight": -1}, {"text": "a blue square"}
        )
        assert classes(moved) == ["blue_circle", "blue_circle"]

        example = paths[("green", "triangle", 8)]
        like = search({"image_path": example}, top_k=3)
        assert example not in [h["path"] for h in like]
        assert classes(like)[0] == "green_triangle"  # its twin, not itself

        upload = shape_png("blue", "triangle", seed + 555)
        as_part = search({"image_b64": base64.b64encode(upload).decode()}, top_k=4)
        as_image = core.search_image(upload, SearchOptions(top_k=4))["hits"]
        assert [h["path"] for h in as_part] == [h["path"] for h in as_image]
