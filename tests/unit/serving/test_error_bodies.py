"""The one producer of error answers, and every place that answers with it.

The page's 404/503 and the API methods' JSON errors are checked byte for byte here (the
e2e tests check their shape through a real server: test_web_paths.py's
test_refusals_all_look_the_same, test_hardening.py's test_store_failure_leaves_no_file_and_no_address).
"""

from __future__ import annotations

import json

import pytest

from clipvec.errors import (
    ClipvecError,
    InvalidText,
    ModelLoadError,
    ModelMismatch,
    StorageFull,
    StoreDamaged,
    StoreLocked,
    StoreUnavailable,
    error_json,
)
from clipvec.serving.error_bodies import (
    INTERNAL_DETAIL,
    PUBLIC_DETAIL,
    STATUS_CODES,
    error_bytes,
    error_response,
    internal_error,
    is_error_body,
    json_error_response,
    public_error,
    status_detail,
    status_error,
)


def test_the_shape():
    assert error_json("bad_request", "why") == {"error": "bad_request", "detail": "why"}
    assert InvalidText("no text").to_json() == {"error": "invalid_text", "detail": "no text"}


def test_client_errors_keep_their_detail():
    for err in (InvalidText("item 3 is bad"), ModelMismatch("made by another model")):
        assert public_error(err) == err.to_json()


def test_a_client_error_with_a_public_detail_tells_only_that():
    err = ModelMismatch(
        "collection at /srv/data/milvus.db built with /home/x/models/clip", public="built with 'clip'"
    )
    assert public_error(err) == {"error": "model_mismatch", "detail": "built with 'clip'"}
    assert "/home/x" in err.detail  # the log and the CLI keep the whole story


@pytest.mark.parametrize(
    "err",
    [
        StoreUnavailable("cannot reach http://10.0.0.7:19530"),
        StoreLocked("/home/me/milvus.db is locked by pid 42"),
        StoreDamaged("/home/me/milvus.db: bad page"),
        StorageFull("/srv/images: No space left on device"),
        ModelLoadError("/models/clip: missing config.json"),
    ],
)
def test_server_errors_get_a_fixed_public_text(err):
    body = public_error(err)
    assert body == {"error": err.code, "detail": PUBLIC_DETAIL[err.code]}
    assert err.detail not in body["detail"]


def test_an_unknown_server_error_gets_the_internal_text():
    assert public_error(ClipvecError("secret", code="weird", status=500)) == {
        "error": "weird",
        "detail": INTERNAL_DETAIL,
    }
    err = internal_error()
    assert (err.status, err.code, err.detail) == (500, "internal_error", INTERNAL_DETAIL)


def test_status_errors():
    assert status_error(404, "GET") == {
        "error": "not_found",
        "detail": "no such route (the API is described at /docs.json)",
    }
    assert status_error(405, "DELETE" * 10)["detail"] == "this route does not answer DELETEDELETEDELETEDE"
    assert status_error(422, "POST")["error"] == "bad_request"
    assert status_error(418, "GET")["error"] == "error"
    assert status_detail(400, "GET") == "Bad request syntax or unsupported method"
    assert status_detail(499, "GET") == "HTTP 499"
    assert status_detail(502, "GET") == INTERNAL_DETAIL
    assert set(STATUS_CODES) >= {400, 401, 403, 404, 405, 408, 413, 415, 429, 500, 503, 504}


def test_the_guard_encoding():
    assert error_bytes(error_json("a", "é")) == b'{"error": "a", "detail": "\\u00e9"}'


@pytest.mark.parametrize(
    ("content_type", "body", "ours"),
    [
        (b"application/json", b'{"error": "a", "detail": "b"}', True),
        (b"application/json; charset=utf-8", b'{"detail":"b","error":"a"}', True),
        (b"text/plain", b'{"error": "a", "detail": "b"}', False),
        (b"application/json", b'{"error": "a"}', False),
        (b"application/json", b'{"error": "a", "detail": null}', False),
        (b"application/json", b'{"error": "a", "detail": "b", "x": 1}', False),
        (b"application/json", b'["error", "detail"]', False),
        (b"application/json", b"not json", False),
    ],
)
def test_is_error_body(content_type, body, ours):
    assert is_error_body(content_type, body) is ours


def test_starlette_answers_are_compact_utf8():
    resp = error_response(ClipvecError("é ünï", code="bad_parameter"))
    assert (resp.status_code, resp.body) == (400, '{"error":"bad_parameter","detail":"é ünï"}'.encode())
    resp = error_response(StoreUnavailable("at 127.0.0.1"))
    assert resp.status_code == 503 and json.loads(resp.body)["detail"] == PUBLIC_DETAIL["store_unavailable"]
    resp = json_error_response(404, "not_found", "gone", {"X-Test": "1"})
    assert resp.body == b'{"error":"not_found","detail":"gone"}' and resp.headers["x-test"] == "1"


def test_the_page_refusals():
    from clipvec.serving.web.app import SECURITY_HEADERS, not_found, unavailable

    for resp, status, body in [
        (not_found(), 404, b'{"error":"not_found","detail":"no such image in the collection"}'),
        (unavailable(), 503, b'{"error":"store_unavailable","detail":"the image store is unavailable"}'),
    ]:
        assert (resp.status_code, resp.body) == (status, body)
        assert resp.headers["content-type"] == "application/json"
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers[name] == value


def test_api_methods_answer_their_errors_as_json():
    from clipvec.serving.service import json_errors

    @json_errors
    def refuse(err: ClipvecError):
        raise err

    resp = refuse(StorageFull("/srv/images: No space left"))
    assert resp.status_code == 507
    assert resp.body == json.dumps(public_error(StorageFull("x")), separators=(",", ":")).encode()
    assert refuse(InvalidText("bad")).body == b'{"error":"invalid_text","detail":"bad"}'
