"""The original interface over real HTTP against a real ``bentoml serve service:vectorization``.

Everything the service answers is tested in process (tests/unit/serving/test_service_app.py
drives BentoML's own app); these smoke tests keep what only a real server shows: the
original curl requests through uvicorn, health, and the worker's multiprocess metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import requests
from payloads import assert_unit_vector, jpeg_bytes


@pytest.fixture(scope="module")
def service(services):
    return services.tiny()


def test_original_text_curl(service, tiny_model_dir):
    # curl -X POST -H "Content-Type: text/plain" -d "dog" http://127.0.0.1:3000/vectorize_text
    resp = requests.post(service.url + "/vectorize_text", data="dog", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_unit_vector(body)
    assert body["model"] == tiny_model_dir.name  # the name, never the path (issue 21)
    assert body["truncated"] is False


def test_original_image_curl(service):
    # curl -X POST -H "Content-Type: image/jpeg" --data-binary @image.jpg .../vectorize_image
    resp = requests.post(
        service.url + "/vectorize_image", data=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_unit_vector(body)
    assert (body["format"], body["width"], body["height"]) == ("JPEG", 160, 120)
    # curl --data-binary without -H sends application/x-www-form-urlencoded: decoded all the same
    plain = requests.post(service.url + "/vectorize_image", data=jpeg_bytes())
    np.testing.assert_allclose(plain.json()["vector"], body["vector"], atol=1e-6)


def test_each_service_has_a_bentoml_home_of_its_own(service):
    """BentoML empties its home's Prometheus folder at each start: a shared home would empty the
    /metrics of the services started before (seen once in a full run, on a shared service)."""
    home = Path(service.env["BENTOML_HOME"])
    assert home != Path(os.environ["BENTOML_HOME"])
    assert service.cwd is not None and home.parent == service.cwd


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
