"""Search through the HTTP service with meaning (shapes CLIP), on Milvus Lite and the real server."""

from __future__ import annotations

import io

import pytest
import requests
from service_process import ServiceProcess

from clipvec.model.shapes import HELD_OUT_SEED_START, SHAPES_MODEL, draw_shape

SEED = HELD_OUT_SEED_START + 900_000


def png(color: str, shape: str, seed: int) -> bytes:
    buf = io.BytesIO()
    draw_shape(color, shape, size=128, seed=seed).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def service(milvus_backend, tmp_path, test_output):
    env = {
        "CLIPVEC_MODEL": str(SHAPES_MODEL),
        "CLIPVEC_MILVUS_URI": milvus_backend.uri,
        "CLIPVEC_COLLECTION": milvus_backend.collection,
        "CLIPVEC_IMAGES_DIR": str(tmp_path / "images"),
    }
    with ServiceProcess(env, test_output / f"service-search-{milvus_backend.kind}.log") as svc:
        yield svc


def test_add_then_search_by_text_and_image(service):
    classes = [(c, s) for c in ("red", "blue", "green") for s in ("circle", "square", "triangle")]
    for i, (color, shape) in enumerate(classes * 2):
        resp = requests.post(
            service.url + f"/add_image?name={color}_{shape}_{i}.png", data=png(color, shape, SEED + i)
        )
        assert resp.status_code == 200, resp.text
    info = requests.post(service.url + "/collection_info", json={}).json()
    assert info["count"] == 18 and info["metric"] == "COSINE" and info["dim"] == 64

    hits = requests.post(
        service.url + "/search_text?top_k=2", data="a red circle", headers={"Content-Type": "text/plain"}
    ).json()["hits"]
    assert [h["path"].split("-", 1)[1].rsplit("_", 1)[0] for h in hits] == ["red_circle", "red_circle"]
    assert hits[0]["score"] >= hits[1]["score"]
    assert all(h["size"] > 0 and h["width"] == 128 for h in hits)

    hits = requests.post(
        service.url + "/search_image?top_k=2", data=png("blue", "triangle", SEED + 555)
    ).json()["hits"]
    assert [h["path"].split("-", 1)[1].rsplit("_", 1)[0] for h in hits] == ["blue_triangle", "blue_triangle"]

    filtered = requests.post(
        service.url + "/search_text?top_k=5&min_score=0.5",
        data="a red circle",
        headers={"Content-Type": "text/plain"},
    ).json()["hits"]
    assert filtered and all(h["score"] >= 0.5 for h in filtered)
