"""The HTTP service, over real HTTP against a real `bentoml serve service:vectorization`."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from image_corpus import format_samples, hostile_samples
from PIL import Image
from service_process import ServiceProcess

BODY_LIMIT = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def service(tiny_model_dir, tmp_path_factory, test_output):
    base = tmp_path_factory.mktemp("svc")
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        # fp32 so that batch and single answers can be compared exactly (bf16 rounds by batch shape)
        "CLIPVEC_PRECISION": "fp32",
        "CLIPVEC_MAX_BODY_BYTES": str(BODY_LIMIT),
        "CLIPVEC_MAX_PIXELS": "20000000",
        "CLIPVEC_MILVUS_URI": str(base / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(base / "images"),  # /add_image saves here, never in the repo
    }
    with ServiceProcess(env, test_output / "service-test.log") as svc:
        yield svc


def jpeg_bytes(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    pixels = np.clip(gradient + rng.normal(0, 30, (height, width, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def assert_unit_vector(payload: dict, dim: int = 512) -> np.ndarray:
    vector = np.asarray(payload["vector"], dtype=np.float32)
    assert vector.shape == (dim,)
    assert payload["dim"] == dim
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
    return vector


def assert_error(resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] and body["detail"]
    return body


# --------------------------------------------------------------------------- original interface
def test_original_text_curl(service, tiny_model_dir):
    # curl -X POST -H "Content-Type: text/plain" -d "dog" http://127.0.0.1:3000/vectorize_text
    resp = requests.post(service.url + "/vectorize_text", data="dog", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_unit_vector(body)
    assert body["model"] == str(tiny_model_dir)
    assert body["truncated"] is False


def test_original_image_curl(service):
    # curl -X POST -H "Content-Type: image/jpeg" --data-binary @image.jpg .../vectorize_image
    resp = requests.post(
        service.url + "/vectorize_image", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_unit_vector(body)
    assert (body["format"], body["width"], body["height"]) == ("JPEG", 320, 240)


def test_health_metrics_and_openapi(service):
    assert requests.get(service.url + "/livez").status_code == 200
    assert requests.get(service.url + "/readyz").status_code == 200
    requests.post(service.url + "/vectorize_image", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"})
    requests.post(
        service.url + "/vectorize_image", data=b"not an image", headers={"Content-Type": "image/png"}
    )
    metrics = requests.get(service.url + "/metrics").text
    assert 'clipvec_images_decoded_total{format="JPEG"' in metrics
    assert "clipvec_decode_failures_total{" in metrics
    assert "clipvec_encode_seconds_bucket{" in metrics
    assert "clipvec_batch_size_bucket{" in metrics
    paths = requests.get(service.url + "/docs.json").json()["paths"]
    for route in ("/vectorize_text", "/vectorize_image", "/vectorize_texts", "/vectorize_images"):
        assert route in paths


def test_same_image_same_vector_whatever_the_header(service):
    data = jpeg_bytes(seed=3)
    answers = [
        requests.post(service.url + "/vectorize_image", data=data, headers={"Content-Type": ct}).json()
        for ct in ("image/jpeg", "image/png", "application/octet-stream")
    ]
    # curl --data-binary without -H sends application/x-www-form-urlencoded: decoded all the same.
    answers.append(requests.post(service.url + "/vectorize_image", data=data).json())
    vectors = [np.asarray(a["vector"]) for a in answers]
    for v in vectors[1:]:
        np.testing.assert_allclose(v, vectors[0], atol=1e-6)


def test_every_format_over_http(service):
    for name, data, fmt, (width, height) in format_samples():
        resp = requests.post(service.url + "/vectorize_image", data=data, headers={"Content-Type": "image/*"})
        assert resp.status_code == 200, (name, resp.text)
        body = resp.json()
        assert_unit_vector(body)
        assert (body["format"], body["width"], body["height"]) == (fmt, width, height), name


def test_long_text_is_truncated_and_reported(service):
    resp = requests.post(
        service.url + "/vectorize_text", data="dog " * 200, headers={"Content-Type": "text/plain"}
    )
    assert resp.status_code == 200
    assert resp.json()["truncated"] is True


def test_json_text_body_is_unwrapped(service):
    plain = requests.post(
        service.url + "/vectorize_text", data="a cat", headers={"Content-Type": "text/plain"}
    )
    wrapped = requests.post(service.url + "/vectorize_text", json={"text": "a cat"})
    np.testing.assert_allclose(plain.json()["vector"], wrapped.json()["vector"], atol=1e-6)


# --------------------------------------------------------------------------- bad input
def test_hostile_corpus_gets_only_4xx_json_and_service_stays_up(service):
    good = jpeg_bytes(seed=7)
    expected = requests.post(service.url + "/vectorize_image", data=good).json()["vector"]
    for name, data, status in hostile_samples():
        resp = requests.post(
            service.url + "/vectorize_image", data=data, headers={"Content-Type": "image/jpeg"}
        )
        assert_error(resp, status)
        assert service.alive(), name
        again = requests.post(
            service.url + "/vectorize_image", data=good, headers={"Content-Type": "image/jpeg"}
        )
        assert again.status_code == 200, name
        np.testing.assert_allclose(again.json()["vector"], expected, atol=1e-6)


def test_empty_bodies(service):
    assert_error(
        requests.post(service.url + "/vectorize_image", data=b"", headers={"Content-Type": "image/jpeg"}), 400
    )
    assert_error(
        requests.post(service.url + "/vectorize_text", data=b"", headers={"Content-Type": "text/plain"}), 400
    )
    assert_error(
        requests.post(service.url + "/vectorize_text", data=b"  \n", headers={"Content-Type": "text/plain"}),
        400,
    )


def test_text_not_utf8(service):
    body = assert_error(
        requests.post(
            service.url + "/vectorize_text", data=b"\xff\xfe\xfa", headers={"Content-Type": "text/plain"}
        ),
        400,
    )
    assert body["error"] == "invalid_text"


def test_wrong_media_types(service):
    assert_error(
        requests.post(service.url + "/vectorize_image", data=b"dog", headers={"Content-Type": "text/plain"}),
        415,
    )
    assert_error(requests.post(service.url + "/vectorize_image", json={"image": "x"}), 415)
    assert_error(
        requests.post(
            service.url + "/vectorize_text", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}
        ),
        415,
    )


def test_body_over_limit_is_refused_without_reading_it_all(service):
    big = b"\xff\xd8\xff" + b"\0" * (BODY_LIMIT + 10)
    body = assert_error(
        requests.post(service.url + "/vectorize_image", data=big, headers={"Content-Type": "image/jpeg"}), 413
    )
    assert body["error"] == "payload_too_large"

    def chunks():  # no Content-Length: the limit holds while streaming too
        for _ in range(BODY_LIMIT // 65536 + 2):
            yield b"\0" * 65536

    try:
        resp = requests.post(
            service.url + "/vectorize_image", data=chunks(), headers={"Content-Type": "image/jpeg"}
        )
    except requests.ConnectionError:
        pass  # the server may close the connection once it has answered 413
    else:
        assert_error(resp, 413)
    assert requests.post(service.url + "/vectorize_image", data=jpeg_bytes()).status_code == 200


# --------------------------------------------------------------------------- batches
def test_batch_texts_equal_singles_with_per_item_errors(service):
    texts = ["a dog", "a photo of a cat", "x" * 1000]
    resp = requests.post(service.url + "/vectorize_texts", json=[texts[0], 17, texts[1], "", texts[2]])
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [set(r) >= {"vector"} for r in results] == [True, False, True, False, True]
    assert results[1]["error"] == "invalid_text" and results[3]["error"] == "empty_body"
    for text, result in zip(texts, [results[0], results[2], results[4]], strict=True):
        single = requests.post(
            service.url + "/vectorize_text", data=text.encode(), headers={"Content-Type": "text/plain"}
        )
        np.testing.assert_allclose(result["vector"], single.json()["vector"], atol=1e-5)
    assert_error(
        requests.post(
            service.url + "/vectorize_texts", data=b"{not json", headers={"Content-Type": "application/json"}
        ),
        400,
    )
    assert_error(requests.post(service.url + "/vectorize_texts", json={"a": 1}), 400)


def test_batch_images_equal_singles_with_per_item_errors(service):
    images = [jpeg_bytes(seed=s, width=200 + 40 * s) for s in range(3)]
    files = [
        ("files", ("a.jpg", images[0], "image/jpeg")),
        ("files", ("broken.jpg", images[1][:300], "image/jpeg")),
        ("files", ("b.jpg", images[1], "image/jpeg")),
        ("files", ("notes.txt", b"hello", "text/plain")),
        ("files", ("c.jpg", images[2], "image/jpeg")),
    ]
    resp = requests.post(service.url + "/vectorize_images", files=files)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["name"] for r in results] == ["a.jpg", "broken.jpg", "b.jpg", "notes.txt", "c.jpg"]
    assert results[1]["error"] == "truncated_image"
    assert results[3]["error"] == "unsupported_image_format"
    for data, result in zip(images, [results[0], results[2], results[4]], strict=True):
        single = requests.post(service.url + "/vectorize_image", data=data).json()
        np.testing.assert_allclose(result["vector"], single["vector"], atol=1e-5)
    assert_error(
        requests.post(
            service.url + "/vectorize_images", data=images[0], headers={"Content-Type": "image/jpeg"}
        ),
        415,
    )


def test_concurrent_single_requests_are_batched_correctly(service):
    images = [jpeg_bytes(seed=s) for s in range(6)]
    singles = [requests.post(service.url + "/vectorize_image", data=d).json()["vector"] for d in images]
    jobs = [images[i % len(images)] for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda d: requests.post(service.url + "/vectorize_image", data=d), jobs))
    assert all(a.status_code == 200 for a in answers)
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer.json()["vector"], singles[i % len(images)], atol=1e-5)


# --------------------------------------------------------------------------- storage endpoints
def test_search_add_and_info_endpoints(service):
    info = requests.post(service.url + "/collection_info", json={})
    assert info.status_code == 200, info.text
    assert info.json()["count"] == 0
    images = [jpeg_bytes(seed=s, width=300 + 10 * s) for s in range(3)]
    for i, data in enumerate(images):
        added = requests.post(service.url + f"/add_image?name=photo{i}.jpg", data=data)
        assert added.status_code == 200, added.text
        assert added.json()["created"] is True
        assert added.json()["path"].startswith("uploads/") and added.json()["path"].endswith(f"-photo{i}.jpg")
    again = requests.post(service.url + "/add_image?name=photo0.jpg", data=images[0]).json()
    assert again["created"] is False
    assert requests.post(service.url + "/collection_info", json={}).json()["count"] == 3

    by_image = requests.post(service.url + "/search_image?top_k=2", data=images[1])
    assert by_image.status_code == 200, by_image.text
    hits = by_image.json()["hits"]
    assert len(hits) == 2 and hits[0]["path"].endswith("-photo1.jpg") and hits[0]["score"] > 0.999
    assert {"path", "score", "size", "width", "height"} <= set(hits[0])
    by_text = requests.post(
        service.url + "/search_text?top_k=3", data="a photo", headers={"Content-Type": "text/plain"}
    )
    assert by_text.status_code == 200 and len(by_text.json()["hits"]) == 3


def test_storage_endpoints_refuse_bad_input_with_4xx(service):
    assert_error(
        requests.post(service.url + "/search_image", data=b"hello", headers={"Content-Type": "image/png"}),
        415,
    )
    assert_error(requests.post(service.url + "/search_image", data=jpeg_bytes()[:500]), 400)
    assert_error(requests.post(service.url + "/add_image", data=b"GIF89a" + b"\0" * 20), 400)
    assert_error(
        requests.post(
            service.url + "/search_text?top_k=abc", data="dog", headers={"Content-Type": "text/plain"}
        ),
        400,
    )
    assert_error(
        requests.post(
            service.url + "/search_text?top_k=0", data="dog", headers={"Content-Type": "text/plain"}
        ),
        400,
    )
    assert_error(
        requests.post(service.url + "/search_text", data=b"", headers={"Content-Type": "text/plain"}), 400
    )
