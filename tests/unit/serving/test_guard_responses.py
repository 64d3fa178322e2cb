"""Every error answer leaves the guard as ``{"error", "detail"}`` JSON; the docs are fixed up.

In-process twins of tests/e2e/test_hardening.py's test_every_error_is_json (the 404/405
answers; the page's own 404 is in test_error_bodies.py) and test_error_bodies_hold_no_library_text
(for answers from below the guard), and of the /docs.json half of
tests/e2e/test_service.py's test_health_metrics_and_openapi.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgi_driver import answering, guarded_client, run

from clipvec.errors import ClipvecError, PayloadTooLarge
from clipvec.search.filter_params import FILTER_PARAMS
from clipvec.serving.guard import RequestTimeout, TooManyRequests, Unauthorized, send_error
from clipvec.serving.guard.responses import TRACKER

LIBRARY_TEXT = (
    b"<html><body>Traceback (most recent call last): starlette.exceptions.HTTPException</body></html>"
)


def assert_shaped(resp, status: int, code: str, detail: str | None = None) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["content-length"] == str(len(resp.content))
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    assert "Traceback" not in body["detail"] and "starlette" not in body["detail"]
    if detail is not None:
        assert body["detail"] == detail
    return body


@pytest.mark.parametrize(
    ("status", "code", "detail"),
    [
        (404, "not_found", "no such route (the API is described at /docs.json)"),
        (405, "method_not_allowed", "this route does not answer GET"),
        (422, "bad_request", None),
        (413, "payload_too_large", None),
        (429, "too_many_requests", "too many requests are being processed; try again shortly"),
        (500, "internal_error", "internal error; the service log has the details"),
        (503, "unavailable", "internal error; the service log has the details"),
        (504, "timeout", "the request took too long to process"),
        (418, "error", None),
        (499, "error", "HTTP 499"),
        (599, "error", "internal error; the service log has the details"),
    ],
)
def test_foreign_error_answers_are_rewritten(status, code, detail):
    client = guarded_client(answering(status, LIBRARY_TEXT, b"text/html"))
    resp = client.get("/no-such-route")
    assert_shaped(resp, status, code, detail)
    assert resp.headers["x-from-below"] == "1"  # the other headers are kept


@pytest.mark.parametrize(
    "body",
    [b'{"error": "x"}', b'{"error": "x", "detail": 3}', b'{"error": "x", "detail": "y", "more": 1}', b"[1]"],
)
def test_json_that_is_not_our_shape_is_rewritten_too(body):
    resp = guarded_client(answering(400, body, b"application/json")).get("/x")
    assert_shaped(resp, 400, "bad_request")


def test_our_own_error_answers_pass_byte_for_byte():
    ours = b'{"error":"store_unavailable","detail":"the image store is unavailable"}'
    resp = guarded_client(answering(503, ours, b"application/json", parts=3)).get("/ui/thumb")
    assert resp.status_code == 503 and resp.content == ours
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_good_answers_are_not_touched():
    resp = guarded_client(answering(200, b"plain ok", b"text/plain")).get("/livez")
    assert resp.content == b"plain ok" and resp.headers["content-type"] == "text/plain"
    assert "x-content-type-options" not in resp.headers


def test_an_exception_below_is_a_json_500_at_once():
    async def crash(scope, receive, send):
        raise RuntimeError("boom at 10.0.0.7")

    resp = guarded_client(crash).post(
        "/vectorize_text", content=b"dog", headers={"Content-Type": "text/plain"}
    )
    body = assert_shaped(resp, 500, "internal_error")
    assert "10.0.0.7" not in body["detail"]


def test_a_clipvec_error_below_is_answered_with_its_status():
    async def refuse(scope, receive, send):
        raise PayloadTooLarge("too big for the model")

    resp = guarded_client(refuse).get("/anything")
    assert_shaped(resp, 413, "payload_too_large", "too big for the model")
    assert resp.headers["connection"] == "close"


def test_an_exception_after_the_answer_started_is_not_answered_twice():
    async def half(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("broken mid-answer")

    from clipvec.serving.guard import RequestGuard

    answer = run(RequestGuard(half), "GET", "/anything")
    assert answer.started == 1 and answer.status == 200


# --------------------------------------------------------------------------- docs
def test_docs_json_is_patched():
    doc = {"openapi": "3.0.2", "info": {"title": "BentoML"}, "paths": {"/search_text": {"post": {}}}}
    resp = guarded_client(answering(200, json.dumps(doc).encode(), b"application/json")).get("/docs.json")
    patched = resp.json()
    assert patched["info"]["title"] == "clipvec"
    assert {p["name"] for p in patched["paths"]["/search_text"]["post"]["parameters"]} == {
        "top_k",
        "min_score",
        "path_prefix",
        "exclude",
        "sort",
        *FILTER_PARAMS,
    }
    assert resp.headers["content-length"] == str(len(resp.content))


def test_schema_json_is_patched():
    doc = {"routes": [{"name": "vectorize_images", "input": {"type": "string"}}]}
    resp = guarded_client(answering(200, json.dumps(doc).encode(), b"application/json")).get("/schema.json")
    assert resp.json()["routes"][0]["input"]["properties"]["files"]["type"] == "array"


def test_an_unreadable_docs_document_is_passed_on():
    resp = guarded_client(answering(200, b"not json", b"application/json")).get("/docs.json")
    assert resp.status_code == 200 and resp.content == b"not json"


def test_docs_are_patched_only_for_get():
    doc = json.dumps({"info": {"title": "BentoML"}}).encode()
    resp = guarded_client(answering(200, doc, b"application/json")).post("/docs.json")
    assert resp.content == doc


def test_the_swagger_page_loses_its_tracker():
    page = (
        b"<html><head><!-- Google Tag Manager --><script>gtm('x')</script>"
        b"<!-- End Google Tag Manager --></head><body><!-- Google Tag Manager (noscript) -->"
        b"<iframe src=gtm></iframe><!-- End Google Tag Manager (noscript) -->swagger</body></html>"
    )
    resp = guarded_client(answering(200, page, b"text/html; charset=utf-8")).get("/")
    assert resp.content == b"<html><head></head><body>swagger</body></html>"
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["content-length"] == str(len(resp.content))
    assert TRACKER.sub(b"", page) == resp.content


# --------------------------------------------------------------------------- send_error
@pytest.mark.parametrize(
    ("err", "extra"),
    [
        (RequestTimeout("slow"), {"connection": "close"}),
        (PayloadTooLarge("big"), {"connection": "close"}),
        (Unauthorized("key"), {"www-authenticate": 'Bearer realm="clipvec"'}),
        (TooManyRequests("busy"), {"retry-after": "1"}),
        (ClipvecError("bad"), {}),
    ],
)
def test_send_error_headers(err, extra):
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    asyncio.run(send_error(send, err))
    start, body = sent
    assert start["status"] == err.status
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    payload = json.dumps({"error": err.code, "detail": err.detail}).encode()
    assert body == {"type": "http.response.body", "body": payload}
    assert headers == {
        "content-type": "application/json",
        "content-length": str(len(payload)),
        "x-content-type-options": "nosniff",
        **extra,
    }
