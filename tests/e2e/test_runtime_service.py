"""Issue 20.3 over real HTTP: ``bentoml serve`` with CLIPVEC_RUNTIME=onnxruntime answers the torch
path's vectors (texts in several scripts, an image), and a search finds what was added.

One shared service of the tiny random CLIP, its export in a cache folder of the session's.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests
from payloads import jpeg_bytes, text_answers

from clipvec.images.prepare import prepare_image
from clipvec.model.encoder import ClipEncoder

QUERIES = ["a red circle", "猫坐在红色的沙发上 🐱", "dog " * 100]


@pytest.fixture(scope="module")
def onnx_service(services, tiny_model_dir):
    data = services.folder("onnxruntime")
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_RUNTIME": "onnxruntime",
        "CLIPVEC_EXPORT_CACHE": str(data / "exports"),
        "CLIPVEC_MILVUS_URI": str(data / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(data / "images"),
    }
    svc = services.get("onnxruntime", env)
    torch_fp32 = ClipEncoder.load(str(tiny_model_dir), device="cpu", precision="fp32", threads=1)
    return svc, torch_fp32, data / "exports"


def test_the_service_runs_the_export_and_answers_torchs_vectors(onnx_service):
    svc, encoder, exports = onnx_service
    made = [p.name.split("-")[:2] for p in exports.iterdir() if p.is_dir() and p.name != "hashes"]
    assert made == [["onnxruntime", "fp32"]]  # hashes/: the weights' remembered hashes
    local = encoder.encode_texts(QUERIES)
    bodies = text_answers(svc.url, QUERIES, local, encoder.dim)
    assert [body["truncated"] for body in bodies] == local.truncated
    photo = jpeg_bytes()
    resp = requests.post(
        f"{svc.url}/vectorize_image", data=photo, headers={"Content-Type": "image/jpeg"}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    want = encoder.encode_pixels(prepare_image(photo, encoder.preprocessor, max_pixels=10**8).pixels[None])[0]
    assert float(np.asarray(resp.json()["vector"], dtype=np.float32) @ want) >= 0.9999


def test_a_search_on_the_runtime_finds_what_was_added(onnx_service):
    svc, _, _ = onnx_service
    added = requests.post(f"{svc.url}/add_image", data=jpeg_bytes(seed=3), timeout=60)
    assert added.status_code == 200, added.text
    resp = requests.post(f"{svc.url}/search_image", params={"top_k": 1}, data=jpeg_bytes(seed=3), timeout=60)
    assert resp.status_code == 200, resp.text
    hits = resp.json()["hits"]
    assert hits and hits[0]["path"] == added.json()["path"] and hits[0]["score"] > 0.999
