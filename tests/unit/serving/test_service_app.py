"""The BentoML service as BentoML builds it (``Vectorization.to_asgi``), driven in-process.

The same ASGI app a ``bentoml serve`` worker hands to uvicorn: the request guard, BentoML's
routes and health checks, the API methods, the page mounted at /ui, and the worker's
``ServingCore`` made by the service's own ``__init__`` from ``CLIPVEC_*`` settings (the tiny
model, a Milvus Lite file under tmp). Starlette's TestClient runs its lifespan (start-up and
shutdown hooks); requests that need the wire form of a URL or several requests at once go
through ``asgi_driver.call`` in the client's event loop.

A second app (``keyed``) has an API key and a Milvus server nobody listens on, like the
e2e hardening file's second service. What differs from a worker: /metrics reads this
process's registry (a worker's come from BentoML's multiprocess folder), the
``on_deployment`` hook (``prepare_to_serve``, tested in test_startup.py) does not run, and
uvicorn's own parsing is stood in for by ``asgi_driver.uvicorn_target``.

In-process twins of tests/e2e/test_service.py, of tests/e2e/test_hardening.py but for what
needs a socket, a process, its memory or a browser, and of test_web_paths.py's raw request
targets through BentoML's mount.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from asgi_driver import Answer, call, uvicorn_target
from image_corpus import format_samples, hostile_samples
from payloads import NOT_FOUND, RAW_TARGETS, REPEATED_TARGETS, assert_unit_vector
from serving_fixtures import jpeg_bytes, png_bytes, unreachable_uri
from starlette.testclient import TestClient

from clipvec.search.filter_params import FILTER_PARAMS
from clipvec.settings import get_settings

OWN_ORIGIN = "http://testserver"  # what TestClient's requests are addressed to
TEXT = {"Content-Type": "text/plain"}
JPEG = {"Content-Type": "image/jpeg"}


@dataclass
class Service:
    app: object
    client: TestClient
    images: Path

    def post(self, route: str, data: bytes | str = b"", headers: dict | None = None, **kwargs):
        return self.client.post(route, content=data, headers=headers or {}, **kwargs)

    def asgi(self, method: str, path: str, **kwargs) -> Answer:
        """One request through ``asgi_driver.call``, in the event loop that runs the app."""
        return self.client.portal.call(functools.partial(call, self.app, method, path, **kwargs))


@contextlib.contextmanager
def running_service(
    env: dict[str, str], *, request_metrics: bool = True, **guard_options
) -> Iterator[Service]:
    """The service's ASGI app with ``env`` set while it starts (its __init__ reads the settings).

    ``guard_options`` stand for the ``CLIPVEC_*`` guard settings, which the service module
    reads once, at import: they replace the request guard's options while this app is built.
    BentoML's request metrics can be registered once per process (a worker builds one app):
    a second app in this process goes without them (``request_metrics=False``).
    """
    from bentoml._internal.container import BentoMLContainer
    from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware
    from bentoml._internal.server.metrics.prometheus import PrometheusClient

    from clipvec.serving.guard import RequestGuard
    from clipvec.serving.service import Vectorization
    from clipvec.serving.web import web_app

    attached = web_app.state.files  # one page app for every service app: given back afterwards
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**BASE_ENV, **env}.items():
            mp.setenv(name, value)
        options = next(o for cls, o in Vectorization.middlewares if cls is RequestGuard)
        for name, value in guard_options.items():
            mp.setitem(options, name, value)
        get_settings.cache_clear()
        try:
            # /metrics outside a `bentoml serve` worker: this process's registry, not the
            # multiprocess folder the worker gets from BentoML's server.
            with BentoMLContainer.metrics_client.patch(PrometheusClient(multiproc=False)):
                app = Vectorization.to_asgi(is_main=True)
                if not request_metrics:  # the middleware stack is built on the first request
                    app.user_middleware = [
                        m for m in app.user_middleware if m.cls is not RunnerTrafficMetricsMiddleware
                    ]
                with TestClient(app) as client:
                    yield Service(app, client, Path(env["CLIPVEC_IMAGES_DIR"]))
        finally:
            web_app.state.files = attached
            get_settings.cache_clear()


BASE_ENV = {
    # fp32 so that batch and single answers can be compared exactly (bf16 rounds by batch shape)
    "CLIPVEC_PRECISION": "fp32",
    "CLIPVEC_DEVICE": "cpu",
    "CLIPVEC_MAX_PIXELS": "20000000",
    "CLIPVEC_THUMB_DIR": "",
    "CLIPVEC_API_KEY": "",
    "BENTOML_DO_NOT_TRACK": "True",
}


@pytest.fixture(scope="module")
def service(tiny_model_dir, tmp_path_factory) -> Iterator[Service]:
    base = tmp_path_factory.mktemp("service-app")
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": str(base / "milvus.db"),
        "CLIPVEC_IMAGES_DIR": str(base / "images"),  # /add_image saves here, never in the repo
    }
    with running_service(env) as svc:
        yield svc


def guard_settings():
    """The settings the request guard was configured with (read when the service module was imported)."""
    from clipvec.serving import service

    return service._settings


def assert_error(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["error"] == code, body
    return body


def assert_good_request_works(service: Service) -> None:
    assert service.post("/vectorize_text", "a dog", TEXT).status_code == 200


# --------------------------------------------------------------------------- the original interface
def test_original_text_curl(service, tiny_model_dir):
    # curl -X POST -H "Content-Type: text/plain" -d "dog" http://127.0.0.1:3000/vectorize_text
    resp = service.post("/vectorize_text", "dog", TEXT)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_unit_vector(body)
    assert body["model"] == tiny_model_dir.name  # the name, never the path (issue 21)
    assert body["truncated"] is False


def test_original_image_curl(service):
    # curl -X POST -H "Content-Type: image/jpeg" --data-binary @image.jpg .../vectorize_image
    resp = service.post("/vectorize_image", jpeg_bytes(320, 240), JPEG)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_unit_vector(body)
    assert (body["format"], body["width"], body["height"]) == ("JPEG", 320, 240)


def test_health_metrics_and_openapi(service):
    assert service.client.get("/livez").status_code == 200
    assert service.client.get("/readyz").status_code == 200
    service.post("/vectorize_image", jpeg_bytes(), JPEG)
    service.post("/vectorize_image", b"not an image", {"Content-Type": "image/png"})
    metrics = service.client.get("/metrics").text
    assert 'clipvec_images_decoded_total{format="JPEG"' in metrics
    assert "clipvec_decode_failures_total{" in metrics
    assert "clipvec_encode_seconds_bucket{" in metrics
    assert "clipvec_batch_size_bucket{" in metrics
    paths = service.client.get("/docs.json").json()["paths"]
    for route in ("/vectorize_text", "/vectorize_image", "/vectorize_texts", "/vectorize_images"):
        assert route in paths


def test_same_image_same_vector_whatever_the_header(service):
    data = jpeg_bytes(320, 240, seed=3)
    answers = [
        service.post("/vectorize_image", data, {"Content-Type": ct}).json()
        for ct in ("image/jpeg", "image/png", "application/octet-stream")
    ]
    answers.append(service.post("/vectorize_image", data).json())  # no Content-Type at all
    vectors = [np.asarray(a["vector"]) for a in answers]
    for v in vectors[1:]:
        np.testing.assert_allclose(v, vectors[0], atol=1e-6)


def test_every_format_over_http(service):
    for name, data, fmt, (width, height) in format_samples():
        resp = service.post("/vectorize_image", data, {"Content-Type": "image/*"})
        assert resp.status_code == 200, (name, resp.text)
        body = resp.json()
        assert_unit_vector(body)
        assert (body["format"], body["width"], body["height"]) == (fmt, width, height), name


def test_long_text_is_truncated_and_reported(service):
    resp = service.post("/vectorize_text", "dog " * 200, TEXT)
    assert resp.status_code == 200
    assert resp.json()["truncated"] is True


def test_json_text_body_is_unwrapped(service):
    plain = service.post("/vectorize_text", "a cat", TEXT)
    wrapped = service.client.post("/vectorize_text", json={"text": "a cat"})
    np.testing.assert_allclose(plain.json()["vector"], wrapped.json()["vector"], atol=1e-6)


def significant_digits(text: str) -> int:
    return len(text.lstrip("-").split("e")[0].replace(".", "").strip("0"))


def test_vector_answers_write_float32_shortest(service):
    """Issue 20.4: the vector answers are written by orjson, each float32 as its shortest text
    (at most 9 digits; BentoML's json.dumps wrote the double, 17), and read back as the same float32."""
    answers = {
        "text": service.post("/vectorize_text", "a cat", TEXT),
        "image": service.post("/vectorize_image", jpeg_bytes(320, 240, seed=3), JPEG),
        "texts": service.client.post("/vectorize_texts", json=["a cat", ""]),
    }
    for route, resp in answers.items():
        assert resp.status_code == 200, (route, resp.text)
        assert resp.headers["content-type"] == "application/json", route
        body = json.loads(resp.content, parse_float=str)
        vector = body["vector"] if "vector" in body else body["results"][0]["vector"]
        assert max(significant_digits(t) for t in vector) <= 9, route
    assert answers["texts"].json()["results"][1]["error"] == "empty_body"
    text_again = service.post("/vectorize_text", "a cat", TEXT).json()["vector"]
    assert np.array_equal(np.float32(answers["text"].json()["vector"]), np.float32(text_again))


# --------------------------------------------------------------------------- bad input
def test_hostile_corpus_gets_only_4xx_json_and_service_stays_up(service):
    good = jpeg_bytes(320, 240, seed=7)
    expected = service.post("/vectorize_image", good).json()["vector"]
    for name, data, status in hostile_samples():
        resp = service.post("/vectorize_image", data, JPEG)
        assert_error(resp, status)
        again = service.post("/vectorize_image", good, JPEG)
        assert again.status_code == 200, name
        np.testing.assert_allclose(again.json()["vector"], expected, atol=1e-6)
    assert service.client.get("/livez").status_code == 200


def test_empty_bodies(service):
    assert_error(service.post("/vectorize_image", b"", JPEG), 400)
    assert_error(service.post("/vectorize_text", b"", TEXT), 400)
    assert_error(service.post("/vectorize_text", b"  \n", TEXT), 400)


def test_text_not_utf8(service):
    body = assert_error(service.post("/vectorize_text", b"\xff\xfe\xfa", TEXT), 400)
    assert body["error"] == "invalid_text"


def test_wrong_media_types(service):
    assert_error(service.post("/vectorize_image", b"dog", TEXT), 415)
    assert_error(service.client.post("/vectorize_image", json={"image": "x"}), 415)
    assert_error(service.post("/vectorize_text", jpeg_bytes(), JPEG), 415)


def test_body_over_limit_is_refused_without_reading_it_all(service):
    limit = guard_settings().max_body_bytes
    # a Content-Length over the limit: refused before a byte of the body is read (it never comes)
    declared = service.asgi(
        "POST",
        "/vectorize_image",
        headers={**JPEG, "Content-Length": str(limit + 10)},
        chunks=[b"\xff\xd8\xff"],
        then="hang",
    )
    assert declared.status == 413 and declared.json()["error"] == "payload_too_large"
    # no Content-Length: the limit holds while streaming too
    chunk = b"\0" * 65536
    streamed = service.asgi("POST", "/vectorize_image", headers=JPEG, chunks=[chunk] * (limit // 65536 + 2))
    assert streamed.status == 413 and streamed.json()["error"] == "payload_too_large"
    assert service.post("/vectorize_image", jpeg_bytes()).status_code == 200


# --------------------------------------------------------------------------- batches
def test_batch_texts_equal_singles_with_per_item_errors(service):
    texts = ["a dog", "a photo of a cat", "x" * 1000]
    resp = service.client.post("/vectorize_texts", json=[texts[0], 17, texts[1], "", texts[2]])
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [set(r) >= {"vector"} for r in results] == [True, False, True, False, True]
    assert results[1]["error"] == "invalid_text" and results[3]["error"] == "empty_body"
    for text, result in zip(texts, [results[0], results[2], results[4]], strict=True):
        single = service.post("/vectorize_text", text.encode(), TEXT)
        np.testing.assert_allclose(result["vector"], single.json()["vector"], atol=1e-5)
    assert_error(service.post("/vectorize_texts", b"{not json", {"Content-Type": "application/json"}), 400)
    assert_error(service.client.post("/vectorize_texts", json={"a": 1}), 400)


def test_batch_images_equal_singles_with_per_item_errors(service):
    images = [jpeg_bytes(200 + 40 * s, 240, seed=s) for s in range(3)]
    files = [
        ("files", ("a.jpg", images[0], "image/jpeg")),
        ("files", ("broken.jpg", images[1][:300], "image/jpeg")),
        ("files", ("b.jpg", images[1], "image/jpeg")),
        ("files", ("notes.txt", b"hello", "text/plain")),
        ("files", ("c.jpg", images[2], "image/jpeg")),
    ]
    resp = service.client.post("/vectorize_images", files=files)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["name"] for r in results] == ["a.jpg", "broken.jpg", "b.jpg", "notes.txt", "c.jpg"]
    assert results[1]["error"] == "truncated_image"
    assert results[3]["error"] == "unsupported_image_format"
    for data, result in zip(images, [results[0], results[2], results[4]], strict=True):
        single = service.post("/vectorize_image", data).json()
        np.testing.assert_allclose(result["vector"], single["vector"], atol=1e-5)
    assert_error(service.post("/vectorize_images", images[0], JPEG), 415)


def test_concurrent_single_requests_are_batched_correctly(service):
    images = [jpeg_bytes(320, 240, seed=s) for s in range(6)]
    singles = [service.post("/vectorize_image", d).json()["vector"] for d in images]
    jobs = [images[i % len(images)] for i in range(48)]

    async def all_at_once() -> list[Answer]:
        return await asyncio.gather(
            *(call(service.app, "POST", "/vectorize_image", headers=JPEG, chunks=[d]) for d in jobs)
        )

    answers = service.client.portal.call(all_at_once)
    assert [a.status for a in answers] == [200] * len(jobs)
    for i, answer in enumerate(answers):
        np.testing.assert_allclose(answer.json()["vector"], singles[i % len(images)], atol=1e-5)


# --------------------------------------------------------------------------- storage endpoints
def test_search_add_and_info_endpoints(service):
    info = service.client.post("/collection_info", json={})
    assert info.status_code == 200, info.text
    count = info.json()["count"]
    images = [jpeg_bytes(300 + 10 * s, 240, seed=s) for s in range(3)]
    for i, data in enumerate(images):
        added = service.post(f"/add_image?name=photo{i}.jpg", data)
        assert added.status_code == 200, added.text
        assert added.json()["created"] is True
        assert added.json()["path"].startswith("uploads/") and added.json()["path"].endswith(f"-photo{i}.jpg")
    again = service.post("/add_image?name=photo0.jpg", images[0]).json()
    assert again["created"] is False
    assert service.client.post("/collection_info", json={}).json()["count"] == count + 3

    by_image = service.post("/search_image?top_k=2", images[1])
    assert by_image.status_code == 200, by_image.text
    hits = by_image.json()["hits"]
    assert len(hits) == 2 and hits[0]["path"].endswith("-photo1.jpg") and hits[0]["score"] > 0.999
    assert {"path", "score", "size", "width", "height"} <= set(hits[0])
    by_text = service.post("/search_text?top_k=3", "a photo", TEXT)
    assert by_text.status_code == 200 and len(by_text.json()["hits"]) == 3


def test_storage_endpoints_refuse_bad_input_with_4xx(service):
    assert_error(service.post("/search_image", b"hello", {"Content-Type": "image/png"}), 415)
    assert_error(service.post("/search_image", jpeg_bytes()[:500]), 400)
    assert_error(service.post("/add_image", b"GIF89a" + b"\0" * 20), 400)
    assert_error(service.post("/search_text?top_k=abc", "dog", TEXT), 400)
    assert_error(service.post("/search_text?top_k=0", "dog", TEXT), 400)
    assert_error(service.post("/search_text", b"", TEXT), 400)


# --------------------------------------------------------------------------- hardening (issue 8)
DEEP = "[" * 1000 + "]" * 1000
HUGE_INT = "1" * 5000
SURROGATE = '"\\ud800"'
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("route", ["/vectorize_text", "/search_text", "/vectorize_texts", "/collection_info"])
@pytest.mark.parametrize("body", [DEEP, HUGE_INT, SURROGATE], ids=["deep", "5000-digits", "surrogate"])
def test_unparseable_json_is_400_at_once(service, route, body):
    if route == "/vectorize_texts" and body == SURROGATE:
        body = "[" + DEEP + "]"  # a surrogate inside a list is a per-item error (next test)
    resp = service.post(route, body, JSON)  # was a 300 s hang, then an empty 500
    assert_error(resp, 400, "invalid_json")
    assert_good_request_works(service)


def test_45_mb_text_is_answered_from_its_start(service):
    """The cut before tokenizing (47-80 s before it) is tested on the core: test_core.py."""
    text = ("lorem ipsum dolor sit amet " * 1_700_000)[:45_000_000].encode()
    resp = service.post("/vectorize_text", text, TEXT)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.json()["truncated"] is True
    short = service.post("/vectorize_text", text[:2000], TEXT)
    np.testing.assert_allclose(resp.json()["vector"], short.json()["vector"], atol=1e-5)


def test_too_many_multipart_parts_are_refused_while_streaming(service):
    """The body never ends: the 413 must come as soon as the part limit is passed."""
    part = b"--b\r\nContent-Disposition: form-data; name=files; filename=a.jpg\r\n\r\nx\r\n"
    answer = service.asgi(
        "POST",
        "/vectorize_images",
        headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": "40000000"},
        chunks=[part * (guard_settings().max_batch_items + 5)],
        then="hang",
    )
    assert answer.status == 413, answer.body
    assert answer.json()["error"] == "payload_too_large"


def test_lone_surrogate_in_a_batch_is_a_per_item_error(service):
    resp = service.post("/vectorize_texts", '["\\ud800", "a dog", ["nested"], "x\\u0000y"]', JSON)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert results[0]["error"] == "invalid_text" and "surrogate" in results[0]["detail"]
    assert len(results[1]["vector"]) == 512
    assert results[2]["error"] == "invalid_text" and results[3]["error"] == "invalid_text"


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "text/plain"],
)
def test_collection_info_refuses_forms(service, content_type):
    body = (
        b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--\r\n"
        if "multipart" in content_type
        else b"a=1"
    )
    assert_error(service.post("/collection_info", body, {"Content-Type": content_type}), 415)
    assert service.client.post("/collection_info").status_code == 200  # empty body is fine


def test_forms_and_wrong_types_are_415(service):
    image = jpeg_bytes()
    for route in ("/vectorize_image", "/search_image", "/add_image"):
        for ct in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            assert_error(service.post(route, image, {"Content-Type": ct}), 415)
        browser = {"Content-Type": "text/plain", "Origin": OWN_ORIGIN}
        assert_error(service.post(route, image, browser), 415)
    for route in ("/vectorize_text", "/search_text"):
        assert_error(service.post(route, "dog", {"Content-Type": "application/x-www-form-urlencoded"}), 415)
        assert_error(service.post(route, "dog", {"Content-Type": "multipart/form-data; boundary=x"}), 415)
    assert_error(service.post("/vectorize_texts", "[]", TEXT), 415)


def test_cross_site_writes_are_403(service):
    """The service's own origin only (CLIPVEC_ALLOWED_ORIGINS is read at import: see test_guard_access.py)."""
    image = jpeg_bytes()
    for origin in ("https://evil.example", "null", "http://127.0.0.1:1"):
        headers = {"Content-Type": "image/jpeg", "Origin": origin}
        assert_error(service.post("/add_image?name=x.jpg", image, headers), 403)
        assert_error(
            service.post("/search_text", "dog", {"Content-Type": "text/plain", "Origin": origin}), 403
        )
    own = {"Content-Type": "image/jpeg", "Origin": OWN_ORIGIN}
    assert service.post("/vectorize_image", image, own).status_code == 200


def test_error_bodies_hold_no_library_text(service):
    body = assert_error(service.post("/vectorize_image", b"\x89PNG\r\n\x1a\n" + b"\0" * 64), 400)
    assert "Error" not in body["detail"] and "Traceback" not in body["detail"]
    body = assert_error(service.post("/search_text?top_k=abc", "dog", TEXT), 400)
    assert "invalid literal" not in body["detail"]


def test_every_error_is_json(service):
    assert_error(service.client.get("/no-such-route"), 404)
    assert_error(service.client.get("/vectorize_text"), 405)
    assert_error(service.client.get("/ui/thumb", params={"path": "../etc/passwd"}), 404)
    assert_error(service.client.get("/ui/no-such-file"), 404)
    big = service.asgi(
        "POST", "/vectorize_image", headers={**JPEG, "Content-Length": str(10**9)}, chunks=[b""], then="hang"
    )
    assert big.status == 413 and set(big.json()) == {"error", "detail"}


@pytest.mark.parametrize(
    "query", ["min_score=nan", "min_score=inf", "min_score=-Infinity", "min_score=1e999"]
)
def test_min_score_must_be_finite(service, query):
    assert_error(service.post(f"/search_text?{query}", "dog", TEXT), 400, "bad_parameter")


@pytest.mark.parametrize("top_k", ["\uff15", "\u0665", " 5", "+5", "5_0", "5.0", "0x5"])
def test_top_k_takes_plain_ascii_digits_only(service, top_k):
    resp = service.client.post("/search_text", params={"top_k": top_k}, content="dog", headers=TEXT)
    assert_error(resp, 400, "bad_parameter")


def test_unknown_query_parameters_and_bad_prefixes_are_400(service):
    for query in (
        "topk=5",
        "top_k=5&x=1",
        "path_prefix=a%7Fb",
        "path_prefix=a%0Ab",
        "min_score=",
        "top_k=",
        "exclude=abc",  # not a whole content hash (issue 22.10)
    ):
        assert_error(service.post(f"/search_text?{query}", "dog", TEXT), 400, "bad_parameter")
    tilde = service.post("/search_text?path_prefix=a~", "dog", TEXT)  # was a 500
    assert tilde.status_code == 200, tilde.text
    files = [("files", ("a.jpg", jpeg_bytes(), "image/jpeg"))]
    resp = service.client.post("/vectorize_images", files=files, data={"note": "not a file"})
    assert_error(resp, 400, "invalid_multipart")


def test_openapi_document_declares_the_real_api(service):
    doc = service.client.get("/docs.json").json()
    assert doc["info"]["title"] == "clipvec" and doc["info"]["version"] not in ("", "None")
    paths = doc["paths"]
    for route in ("/vectorize_image", "/search_image", "/add_image"):
        content = paths[route]["post"]["requestBody"]["content"]
        assert set(content) == {"image/*", "application/octet-stream"}, content
    assert set(paths["/vectorize_images"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    names = {p["name"] for p in paths["/search_text"]["post"]["parameters"]}
    assert names == {"top_k", "min_score", "path_prefix", "exclude", "sort", *FILTER_PARAMS}
    assert "/facets" in paths and paths["/facets"]["get"]["operationId"] == "facets"
    assert {p["name"] for p in paths["/add_image"]["post"]["parameters"]} == {"name"}
    for code in ("400", "413", "415", "503"):
        assert code in paths["/search_image"]["post"]["responses"], code


def test_bentoml_client_calls_every_endpoint(service, tmp_path):
    """BentoML's own HTTP client (the class behind bentoml.SyncHTTPClient), over the app instead of a socket."""
    from _bentoml_impl.client.http import SyncHTTPClient

    image = jpeg_bytes(seed=5)
    path = tmp_path / "photo.jpg"
    path.write_bytes(image)
    with SyncHTTPClient(OWN_ORIGIN, app=service.app) as client:
        by_bytes = client.vectorize_image(image)  # sent as text/plain without Origin: accepted
        assert len(by_bytes["vector"]) == 512
        assert client.vectorize_text("a dog")["dim"] == 512
        assert len(client.vectorize_texts(["a dog", "a cat"])["results"]) == 2
        assert client.search_image(image)["hits"] is not None
        assert client.search_text("a dog")["hits"] is not None
        added = client.add_image(image)
        assert added["content_hash"]
        assert client.collection_info()["count"] >= 1
        # A path: the batch route takes files (BentoML's client sends them as multipart).
        batch = client.vectorize_images([path, path])
        assert [r["name"] for r in batch["results"]] == ["photo.jpg", "photo.jpg"]
        np.testing.assert_allclose(batch["results"][0]["vector"], by_bytes["vector"], atol=1e-5)


# --------------------------------------------------------------------------- the page, through BentoML's mount
def test_page_and_assets(service):
    for path, media in (
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ):
        resp = service.client.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith(media), path
    page = service.client.get("/ui", follow_redirects=True)
    assert page.status_code == 200 and str(page.url).endswith("/ui/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_raw_request_targets_are_404(service):
    """As uvicorn hands them over: the path decoded once, the query string as sent."""
    from urllib.parse import quote

    added = service.post("/add_image?name=legit.png", png_bytes((200, 30, 30)), {"Content-Type": "image/png"})
    legit = quote(added.json()["path"], safe="/")
    assert service.client.get("/ui/thumb", params={"path": added.json()["path"]}).status_code == 200
    for route in ("/ui/thumb", "/ui/file"):
        for pattern in RAW_TARGETS:
            target = pattern.format(route=route, legit=legit)
            answer = service.asgi("GET", **uvicorn_target(target))
            assert answer.status == 404, (target, answer.status, answer.body[:200])
            assert b"root:" not in answer.body and b"top secret" not in answer.body, target
            if target.startswith(route):  # ours; elsewhere BentoML answers its own 404 for unknown routes
                assert answer.body == NOT_FOUND or json.loads(answer.body)["error"] == "not_found", target
                assert not (answer.header("content-type") or "").startswith("image/"), target
        for pattern in REPEATED_TARGETS:
            answer = service.asgi("GET", **uvicorn_target(pattern.format(route=route, legit=legit)))
            assert answer.status == 400 and json.loads(answer.body)["error"] == "bad_parameter", answer.body


# --------------------------------------------------------------------------- a keyed service without its store
API_KEY = "s3cret-key-for-tests"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ALLOWED_ORIGIN = "https://photos.example.org"


@pytest.fixture
def keyed(tiny_model_dir, tmp_path) -> Iterator[Service]:
    """An API key, another allowed web origin and a Milvus server nobody listens on."""
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": unreachable_uri(),
        "CLIPVEC_STORE_TIMEOUT": "1",
        "CLIPVEC_IMAGES_DIR": str(tmp_path / "images"),
    }
    with running_service(env, request_metrics=False, api_key=API_KEY, allowed_origins=ALLOWED_ORIGIN) as svc:
        yield svc


def test_api_key_guards_every_data_route(keyed):
    for route in ("/vectorize_text", "/vectorize_image", "/vectorize_texts", "/search_text", "/add_image"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
            assert_error(keyed.post(route, b"x", headers), 401, "unauthorized")
    assert_error(keyed.client.post("/collection_info"), 401)
    assert_error(keyed.client.get("/ui/thumb", params={"path": "a.png"}), 401)
    assert_error(keyed.client.get("/schema.json"), 401)
    for route in ("/livez", "/readyz", "/metrics"):
        assert keyed.client.get(route).status_code in (200, 503), route
    assert keyed.client.get("/ui/").status_code == 200  # the page itself, to ask for the key
    ok = keyed.post("/vectorize_text", "a dog", {"Content-Type": "text/plain", **AUTH})
    assert ok.status_code == 200, ok.text
    # The page's <img> loads carry the key as a same-site cookie (image routes only, GET only).
    cookie = {"Cookie": f"clipvec_key={API_KEY}"}
    assert keyed.client.get("/ui/thumb", params={"path": "a.png"}, headers=cookie).status_code == 503
    assert_error(keyed.post("/vectorize_text", "a dog", cookie), 401)


def test_store_failure_leaves_no_file_and_no_address(keyed):
    assert keyed.client.get("/livez").status_code == 200
    assert keyed.client.get("/readyz").status_code == 503  # vectorizing works, the store does not
    resp = keyed.post("/add_image?name=a.jpg", jpeg_bytes(seed=9), AUTH)
    body = assert_error(resp, 503, "store_unavailable")
    assert "127.0.0.1" not in body["detail"] and "http" not in body["detail"]
    assert [p.name for p in (keyed.images / "uploads").iterdir()] == []
    body = assert_error(keyed.client.post("/collection_info", headers=AUTH), 503)
    assert "127.0.0.1" not in body["detail"]
    for route in ("/search_text", "/search_image"):
        data, headers = ("dog", TEXT) if route == "/search_text" else (jpeg_bytes(), JPEG)
        assert_error(keyed.post(route, data, {**headers, **AUTH}), 503, "store_unavailable")
    assert keyed.client.get("/livez").status_code == 200


def test_an_allowed_origin_may_write_others_may_not(keyed):
    """The rest of test_cross_site_writes_are_403: CLIPVEC_ALLOWED_ORIGINS (here with the key)."""
    image = jpeg_bytes()
    allowed = {"Content-Type": "image/jpeg", "Origin": ALLOWED_ORIGIN, **AUTH}
    assert keyed.post("/vectorize_image", image, allowed).status_code == 200
    for origin in ("https://evil.example", "null", "https://photos.example.org.evil.example"):
        assert_error(keyed.post("/vectorize_image", image, {**allowed, "Origin": origin}), 403)


def test_import_route_imports_the_images_folder(service):
    """``POST /import``: 202 and a background run of CLIPVEC_IMAGES_DIR; ``/import_status`` follows it."""
    folder = service.images / "imported-by-route"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "one.jpg").write_bytes(jpeg_bytes(333, 222, seed=41))
    count = service.client.post("/collection_info").json()["count"]
    started = service.client.post("/import")
    assert started.status_code == 202, started.text
    assert started.json()["started"] is True and started.json()["import"]["state"] == "running"
    deadline = time.monotonic() + 60
    while (status := service.client.post("/import_status").json())["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["state"] == "done", status
    assert status["result"]["imported"] >= 1 and status["result"]["failed"] == 0, status
    assert service.client.post("/collection_info").json()["count"] >= count + 1
    hits = service.post("/search_image?top_k=1", jpeg_bytes(333, 222, seed=41), JPEG).json()["hits"]
    assert hits[0]["path"] == "imported-by-route/one.jpg"
    assert_error(service.post("/import", b"[1]", {"Content-Type": "application/json"}), 400)


# --------------------------------------------------------------------------- a collection of another model
def test_a_collection_of_another_model_leaves_a_ready_service_that_says_why(tiny_model_dir, tmp_path, caplog):
    """Issue 22.3: not a service that starts and is never ready; vectorizing works, the store routes say 409."""
    from clipvec.model.facts import facts_at_hand
    from clipvec.store import ImageStore

    db = tmp_path / "milvus.db"
    dim = facts_at_hand(str(tiny_model_dir)).dim  # the same size: only the model differs
    ImageStore(str(db), model_name="someone/another-clip", dim=dim, model_id="sha256:other").close()
    env = {
        "CLIPVEC_MODEL": str(tiny_model_dir),
        "CLIPVEC_MILVUS_URI": str(db),
        "CLIPVEC_IMAGES_DIR": str(tmp_path / "images"),
        "CLIPVEC_STORE_TIMEOUT": "2",
    }
    with (
        caplog.at_level("WARNING", logger="clipvec.service"),
        running_service(env, request_metrics=False) as svc,
    ):
        assert svc.client.get("/readyz").status_code == 200
        assert svc.post("/vectorize_text", "a dog", TEXT).status_code == 200
        for route, data, headers in (
            ("/search_text", "a dog", TEXT),
            ("/search_image", jpeg_bytes(), JPEG),
            ("/add_image?name=a.jpg", jpeg_bytes(), JPEG),
            ("/collection_info", b"", {}),
            ("/import", b"", {}),
        ):
            body = assert_error(svc.post(route, data, headers), 409, "model_mismatch")
            assert "someone/another-clip" in body["detail"], body
            assert str(tiny_model_dir) not in body["detail"] and str(db) not in body["detail"], (
                body
            )  # issue 21
        assert [p for p in (tmp_path / "images").rglob("*") if p.is_file()] == []  # no orphan upload
        deadline = time.monotonic() + 10
        while "made by another model" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "made by another model" in caplog.text and "vectorizing works" in caplog.text

        # One of the ways out, taken while the service runs: drop the collection. The service
        # holds no lock on the Lite file meanwhile, and notices within seconds.
        from clipvec.serving.store_handle import StoreHandle
        from clipvec.store.drop import drop_collection

        assert drop_collection(str(db), "images") is True
        deadline = time.monotonic() + StoreHandle.MISMATCH_RECHECK_SECONDS + 10
        while (answer := svc.post("/search_text", "a dog", TEXT)).status_code == 409:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.25)
        assert answer.status_code == 200 and answer.json()["hits"] == [], answer.text


def test_the_same_weights_from_another_folder_serve_the_collection(tiny_model_dir, tmp_path):
    """Issue 22.3: a collection built from one folder is served by a copy of the checkpoint elsewhere."""
    import shutil

    first = tmp_path / "models" / "clip"
    shutil.copytree(tiny_model_dir, first)
    db = tmp_path / "milvus.db"
    env = {
        "CLIPVEC_MODEL": str(first),
        "CLIPVEC_MILVUS_URI": str(db),
        "CLIPVEC_IMAGES_DIR": str(tmp_path / "images"),
    }
    with running_service(env, request_metrics=False) as svc:
        assert svc.post("/add_image?name=a.jpg", jpeg_bytes(seed=5), JPEG).status_code == 200
    moved = tmp_path / "moved" / "clip-copy"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    with running_service({**env, "CLIPVEC_MODEL": str(moved)}, request_metrics=False) as svc:
        hits = svc.post("/search_image?top_k=1", jpeg_bytes(seed=5), JPEG)
        assert hits.status_code == 200, hits.text
        assert hits.json()["hits"][0]["score"] > 0.999
